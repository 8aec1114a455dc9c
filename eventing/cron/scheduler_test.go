package cron

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFiresAtExactScheduledTimes(t *testing.T) {
	h := newHarness(t, t0.Add(90*time.Second), nil)
	h.set("five", "*/5 * * * *", "", "", "")
	h.run()
	h.expect(t0.Add(4*time.Minute + 59*time.Second))
	h.expect(t0.Add(5*time.Minute), fired{"five", t0.Add(5 * time.Minute)})
	// The loop wakes 700ms late: the event still carries the scheduled time.
	h.expect(t0.Add(10*time.Minute+700*time.Millisecond), fired{"five", t0.Add(10 * time.Minute)})
	h.expect(t0.Add(14 * time.Minute))
	if !h.clk.HasWaiters() {
		t.Error("the loop should be waiting on a timer for 12:15")
	}
}

func TestSecondsField(t *testing.T) {
	h := newHarness(t, t0, nil)
	h.set("s", "*/20 * * * * *", "", "", "")
	h.run()
	for i := 1; i <= 4; i++ {
		at := t0.Add(time.Duration(i*20) * time.Second)
		h.expect(at, fired{"s", at})
	}
}

func TestEvery(t *testing.T) {
	// @every counts from when the trigger starts, in whole seconds.
	h := newHarness(t, t0.Add(300*time.Millisecond), nil)
	h.set("e", "@every 90s", "", "", "")
	h.run()
	h.expect(t0.Add(89 * time.Second))
	h.expect(t0.Add(90*time.Second), fired{"e", t0.Add(90 * time.Second)})
	h.expect(t0.Add(180*time.Second), fired{"e", t0.Add(180 * time.Second)})
}

func TestTimezone(t *testing.T) {
	h := newHarness(t, t0, nil) // 08:00 in New York
	h.set("ny", "0 9 * * *", "America/New_York", "", "")
	h.set("paris", "CRON_TZ=Europe/Paris 0 15 * * *", "", "", "")
	h.run()
	h.expect(t0.Add(time.Hour), fired{"ny", t0.Add(time.Hour)}, fired{"paris", t0.Add(time.Hour)})
}

func TestUpdateAndRemoveWhileRunning(t *testing.T) {
	h := newHarness(t, t0, nil)
	h.set("a", "*/10 * * * *", "", "", "")
	h.set("b", "*/15 * * * *", "", "", "")
	h.run()
	h.expect(t0.Add(10*time.Minute), fired{"a", t0.Add(10 * time.Minute)})

	h.set("a", "*/3 * * * *", "", "", "") // now 12:10: next is 12:12
	h.set("c", "@every 1m", "", "", "")   // added at 12:10: first at 12:11
	h.s.Remove("b")                       // would fire at 12:15
	h.sync()
	h.expect(t0.Add(11*time.Minute), fired{"c", t0.Add(11 * time.Minute)})
	h.expect(t0.Add(12*time.Minute), fired{"a", t0.Add(12 * time.Minute)}, fired{"c", t0.Add(12 * time.Minute)})
	h.s.Remove("c")
	h.expect(t0.Add(15*time.Minute), fired{"a", t0.Add(15 * time.Minute)})
	if _, ok := h.s.Stats("b"); ok {
		t.Error("b still has stats after Remove")
	}

	// Same schedule, new policy: the next time is kept. (Forbid would skip
	// 12:18 if 12:15's callback were still being accounted.)
	h.waitDone(5)
	h.set("a", "*/3 * * * *", "", MisfireFireOnce, ConcurrencyForbid)
	h.expect(t0.Add(18*time.Minute), fired{"a", t0.Add(18 * time.Minute)})
}

func TestUpdateNeverRepeatsATime(t *testing.T) {
	h := newHarness(t, t0, nil)
	h.set("a", "* * * * *", "", "", "")
	h.run()
	h.expect(t0.Add(time.Minute), fired{"a", t0.Add(time.Minute)})
	// Going back in time and changing the schedule must not fire 12:01 again.
	h.clk.SetTime(t0.Add(30 * time.Second))
	h.set("a", "*/1 * * * *", "", "", "")
	h.expect(t0.Add(time.Minute))
	h.expect(t0.Add(2*time.Minute), fired{"a", t0.Add(2 * time.Minute)})
}

func TestLateWakeFiresLatestOnly(t *testing.T) {
	for _, m := range []MisfirePolicy{MisfireSkip, MisfireFireOnce} {
		t.Run(string(m), func(t *testing.T) {
			h := newHarness(t, t0, nil)
			h.set("h", "0 * * * *", "", m, "")
			h.run()
			// Suspended for 3.5 hours: 13:00 and 14:00 are missed, 15:00 fires.
			h.expect(t0.Add(3*time.Hour+30*time.Minute), fired{"h", t0.Add(3 * time.Hour)})
			if got := h.stats("h"); got.Missed != 2 || got.Fired != 1 {
				t.Errorf("stats = %+v, want 2 missed, 1 fired", got)
			}
			h.expect(t0.Add(4*time.Hour), fired{"h", t0.Add(4 * time.Hour)})
		})
	}
}

func TestRestartMisfirePolicies(t *testing.T) {
	last := t0 // the last fire recorded before wake went down
	restart := t0.Add(3*time.Hour + 30*time.Minute)
	tests := []struct {
		name      string
		policy    MisfirePolicy
		wantStart []fired
		wantStats Stats
	}{
		{"skip fires none of the missed", MisfireSkip, nil, Stats{Missed: 3}},
		{"fireOnce fires the latest missed", MisfireFireOnce, []fired{{"h", t0.Add(3 * time.Hour)}}, Stats{Missed: 2, Fired: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &MemoryStore{}
			store.Save("h", Record{Done: last, Started: last})
			h := newHarness(t, restart, store)
			h.set("h", "0 * * * *", "", tt.policy, "")
			h.run()
			if diff := cmp.Diff(tt.wantStart, h.collect(len(tt.wantStart)), cmp.Comparer(time.Time.Equal)); diff != "" {
				t.Errorf("fires at start (-want +got):\n%s", diff)
			}
			h.waitDone(len(tt.wantStart))
			if diff := cmp.Diff(tt.wantStats, h.stats("h")); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			// Either way the missed times are settled and 16:00 is next.
			want := Record{Done: t0.Add(3 * time.Hour), Started: t0.Add(3 * time.Hour)}
			if got, _, _ := store.Load("h"); !got.Done.Equal(want.Done) || !got.Started.Equal(want.Started) {
				t.Errorf("record = %+v, want %+v", got, want)
			}
			h.expect(t0.Add(4*time.Hour), fired{"h", t0.Add(4 * time.Hour)})
		})
	}
}

func TestRestartWithNothingMissedFiresNothing(t *testing.T) {
	store := &MemoryStore{}
	h := newHarness(t, t0, store)
	h.set("h", "0 * * * *", "", MisfireFireOnce, "")
	h.run()
	h.expect(t0.Add(time.Hour), fired{"h", t0.Add(time.Hour)})
	h.waitDone(1)
	h.stop()

	// Back up before 14:00: 13:00 is done, so nothing fires twice.
	h2 := newHarness(t, t0.Add(time.Hour+30*time.Minute), store)
	h2.set("h", "0 * * * *", "", MisfireFireOnce, "")
	h2.run()
	h2.expect(t0.Add(time.Hour + 59*time.Minute))
	h2.expect(t0.Add(2*time.Hour), fired{"h", t0.Add(2 * time.Hour)})
}

// A crash while a callback runs repeats that fire after the restart, with
// its scheduled time, whatever the misfire policy: at least once.
func TestRestartRepeatsFireCutOffByCrash(t *testing.T) {
	tests := []struct {
		name        string
		concurrency ConcurrencyPolicy
		rec         Record
		want        []fired
	}{
		{"forbid: the one that ran", ConcurrencyForbid, Record{Done: t0, Started: t0.Add(2 * time.Hour)},
			[]fired{{"h", t0.Add(2 * time.Hour)}}},
		{"allow: every one that may have run", ConcurrencyAllow, Record{Done: t0, Started: t0.Add(2 * time.Hour)},
			[]fired{{"h", t0.Add(time.Hour)}, {"h", t0.Add(2 * time.Hour)}}},
		{"allow: the first fire ever", ConcurrencyAllow, Record{Started: t0.Add(time.Hour)},
			[]fired{{"h", t0.Add(time.Hour)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &MemoryStore{}
			store.Save("h", tt.rec)
			h := newHarness(t, t0.Add(2*time.Hour+10*time.Minute), store)
			h.set("h", "0 * * * *", "", MisfireSkip, tt.concurrency)
			h.run()
			if diff := cmp.Diff(tt.want, h.collect(len(tt.want)), cmp.Comparer(time.Time.Equal)); diff != "" {
				t.Errorf("fires at start (-want +got):\n%s", diff)
			}
			h.waitDone(len(tt.want))
			if got, _, _ := store.Load("h"); !got.Done.Equal(t0.Add(2 * time.Hour)) {
				t.Errorf("Done = %v, want 14:00", got.Done)
			}
			h.expect(t0.Add(3*time.Hour), fired{"h", t0.Add(3 * time.Hour)})
		})
	}
}

// The whole cycle: a callback still running at shutdown is not recorded, and
// the next process fires it again.
func TestShutdownDuringCallbackRepeatsIt(t *testing.T) {
	store := &MemoryStore{}
	h := newHarness(t, t0, store)
	h.set("h", "0 * * * *", "", MisfireSkip, "")
	h.setBlock(true)
	h.run()
	h.expect(t0.Add(time.Hour), fired{"h", t0.Add(time.Hour)})
	h.stop() // the callback returns on ctx cancel, after Run stopped firing
	if got, _, _ := store.Load("h"); !got.Started.Equal(t0.Add(time.Hour)) || !got.Done.IsZero() {
		t.Fatalf("record after shutdown = %+v, want started 13:00, not done", got)
	}

	h2 := newHarness(t, t0.Add(time.Hour+5*time.Minute), store)
	h2.set("h", "0 * * * *", "", MisfireSkip, "")
	h2.run()
	if diff := cmp.Diff([]fired{{"h", t0.Add(time.Hour)}}, h2.collect(1), cmp.Comparer(time.Time.Equal)); diff != "" {
		t.Errorf("refire (-want +got):\n%s", diff)
	}
	h2.waitDone(1)
	if got, _, _ := store.Load("h"); !got.Done.Equal(t0.Add(time.Hour)) {
		t.Errorf("Done = %v, want 13:00", got.Done)
	}
}

func TestConcurrencyPolicies(t *testing.T) {
	tests := []struct {
		policy      ConcurrencyPolicy
		wantAt2     []fired // a fire at 12:02 while 12:01's callback still runs
		wantSkipped uint64
	}{
		{ConcurrencyAllow, []fired{{"m", t0.Add(2 * time.Minute)}}, 0},
		{ConcurrencyForbid, nil, 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			h := newHarness(t, t0, nil)
			h.set("m", "* * * * *", "", "", tt.policy)
			h.setBlock(true)
			h.run()
			h.expect(t0.Add(time.Minute), fired{"m", t0.Add(time.Minute)})
			h.expect(t0.Add(2*time.Minute), tt.wantAt2...)
			st := h.stats("m")
			if st.Skipped != tt.wantSkipped || st.Running != 1+len(tt.wantAt2) {
				t.Errorf("stats = %+v, want skipped %d, running %d", st, tt.wantSkipped, 1+len(tt.wantAt2))
			}
			h.setBlock(false)
			h.releaseAll()
			h.waitDone(1 + len(tt.wantAt2))
			h.expect(t0.Add(3*time.Minute), fired{"m", t0.Add(3 * time.Minute)})
			h.waitDone(1)
			if got, _, _ := h.store.Load("m"); !got.Done.Equal(t0.Add(3 * time.Minute)) {
				t.Errorf("Done = %v, want 12:03", got.Done)
			}
		})
	}
}

// Under allow, callbacks can return out of order; Done must not pass one
// still running, or a crash would lose it.
func TestDoneWaitsForEarlierCallbacks(t *testing.T) {
	h := newHarness(t, t0, nil)
	slow := make(chan struct{})
	h.s.fire = func(ctx context.Context, name string, at time.Time) {
		h.fires <- fired{name, at}
		if at.Equal(t0.Add(time.Minute)) {
			<-slow
		}
	}
	h.set("m", "* * * * *", "", "", ConcurrencyAllow)
	h.run()
	h.expect(t0.Add(time.Minute), fired{"m", t0.Add(time.Minute)})
	h.expect(t0.Add(2*time.Minute), fired{"m", t0.Add(2 * time.Minute)})
	h.waitDone(1) // 12:02 returned
	if got, _, _ := h.store.Load("m"); !got.Done.IsZero() || !got.Started.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("record = %+v, want not done, started 12:02", got)
	}
	close(slow)
	h.waitDone(1)
	if got, _, _ := h.store.Load("m"); !got.Done.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("Done = %v, want 12:02", got.Done)
	}
}

func TestDSTOnTheScheduler(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, expr string
		from, to   time.Time
		want       []time.Time // in New York wall clock, with offset
	}{
		{"spring forward, 02:30 daily", "30 2 * * *",
			time.Date(2026, 3, 7, 0, 0, 0, 0, ny), time.Date(2026, 3, 10, 0, 0, 0, 0, ny),
			[]time.Time{time.Date(2026, 3, 7, 2, 30, 0, 0, ny), time.Date(2026, 3, 9, 2, 30, 0, 0, ny)}},
		{"fall back, 01:30 daily", "30 1 * * *",
			time.Date(2026, 10, 31, 0, 0, 0, 0, ny), time.Date(2026, 11, 2, 0, 0, 0, 0, ny),
			[]time.Time{
				time.Date(2026, 10, 31, 1, 30, 0, 0, ny),
				time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), // 01:30 EDT
				time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), // 01:30 EST
			}},
		{"fall back, every 30 minutes", "*/30 * * * *",
			time.Date(2026, 11, 1, 0, 15, 0, 0, ny), time.Date(2026, 11, 1, 2, 15, 0, 0, ny),
			[]time.Time{
				time.Date(2026, 11, 1, 4, 30, 0, 0, time.UTC), // 00:30 EDT
				time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC),  // 01:00 EDT
				time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), // 01:30 EDT
				time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC),  // 01:00 EST
				time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), // 01:30 EST
				time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC),  // 02:00 EST
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.from, nil)
			h.set("d", tt.expr, "America/New_York", "", "")
			h.run()
			var got []time.Time
			// Walk the clock minute by minute: the loop must fire each
			// scheduled instant once, on its own timer, and never spin.
			for now := tt.from; !now.After(tt.to); now = now.Add(time.Minute) {
				for _, f := range h.advance(now) {
					got = append(got, f.At)
				}
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(time.Time.Equal)); diff != "" {
				t.Errorf("fires (-want +got):\n%s", diff)
			}
			for i := 1; i < len(got); i++ {
				if !got[i].After(got[i-1]) {
					t.Errorf("fire %d at %v is not after %v", i, got[i], got[i-1])
				}
			}
		})
	}
}

func TestCancelWaitsForCallbacks(t *testing.T) {
	h := newHarness(t, t0, nil)
	returned := make(chan struct{})
	h.s.fire = func(ctx context.Context, name string, at time.Time) {
		h.fires <- fired{name, at}
		<-ctx.Done()
		close(returned)
	}
	h.set("m", "* * * * *", "", "", "")
	h.run()
	h.expect(t0.Add(time.Minute), fired{"m", t0.Add(time.Minute)})
	h.stop()
	select {
	case <-returned:
	default:
		t.Fatal("Run returned before the callback")
	}
	h.clk.SetTime(t0.Add(time.Hour))
	select {
	case f := <-h.fires:
		t.Errorf("fire %v after Run returned", f)
	default:
	}
}

func TestInvalidTriggers(t *testing.T) {
	s, err := New(Options{Fire: func(context.Context, string, time.Time) {}})
	if err != nil {
		t.Fatal(err)
	}
	sched := mustParse(t, "@hourly", "")
	tests := []struct {
		name string
		trig Trigger
		want string
	}{
		{"no name", Trigger{Schedule: sched}, "name is empty"},
		{"no schedule", Trigger{Name: "x"}, "schedule is not set"},
		{"bad misfire", Trigger{Name: "x", Schedule: sched, Misfire: "catchUp"}, `misfire policy "catchUp"`},
		{"bad concurrency", Trigger{Name: "x", Schedule: sched, Concurrency: "Replace"}, `concurrency policy "Replace"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Set(tt.trig)
			if !errors.Is(err, ErrInvalidTrigger) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Set = %v, want ErrInvalidTrigger with %q", err, tt.want)
			}
		})
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without Fire: nil error")
	}
}

func TestRunTwiceAtOnce(t *testing.T) {
	h := newHarness(t, t0, nil)
	h.run()
	if err := h.s.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}
