package autoscaler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTraceFollowsTheDecisions(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.a.Upsert(revA, UpsertOptions{Initial: false}) // at min-scale: 0
	h.flush()
	h.advance(10 * time.Minute) // idle: every decision leaves what the first did

	st, _ := h.a.Status(keyA, true)
	if len(st.Trace) != 1 || st.Trace[0].Desired != 0 || st.Trace[0].Ready != 0 {
		t.Fatalf("trace of an idle revision = %+v, want its one point at 0", st.Trace)
	}

	// A request arrives: the wake's point goes up at once, before any tick.
	woke := h.clock.Now()
	h.act.set(keyA, Sample{InFlight: 1})
	h.a.Wake(keyA)
	h.flush()
	st, _ = h.a.Status(keyA, true)
	if n := len(st.Trace); n != 2 || !st.Trace[1].At.Equal(woke) || st.Trace[1].Desired != 1 {
		t.Fatalf("trace after a wake = %+v, want a second point at %v wanting 1", st.Trace, woke)
	}

	// The instance comes up: the next sample shows it, a decision or not.
	h.act.set(keyA, Sample{InFlight: 1, Ready: 1})
	h.clock.Step(DefaultSampleInterval)
	h.flush()
	st, _ = h.a.Status(keyA, true)
	if last := st.Trace[len(st.Trace)-1]; last.Ready != 1 || last.Desired != 1 || !last.At.After(woke) {
		t.Fatalf("trace after the instance came up = %+v, want a point with it ready", st.Trace)
	}

	// A burst: panic mode, and more instances wanted than are ready.
	h.act.set(keyA, Sample{Concurrency: 700, InFlight: 700, Ready: 1})
	h.advance(4 * time.Second)
	st, _ = h.a.Status(keyA, true)
	last := st.Trace[len(st.Trace)-1]
	if !last.Panicking || last.Desired < 2 || last.Panic <= last.Stable || last.Ready != 1 {
		t.Errorf("last point under a burst = %+v, want panic mode, more instances wanted than the 1 ready, the panic window over the stable", last)
	}
	for i := 1; i < len(st.Trace); i++ {
		if !st.Trace[i].At.After(st.Trace[i-1].At) {
			t.Errorf("trace not in time order at %d: %v then %v", i, st.Trace[i-1].At, st.Trace[i].At)
		}
	}
}

func TestTraceKeepsTheSpanAndWhatHeldAtItsStart(t *testing.T) {
	var tr trace
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	for i := range 400 { // a change every second for 400 s
		tr.add(mark{at: at(time.Duration(i) * time.Second), desired: int32(i%7 + 1)})
	}
	pts := tr.points()
	end := t0.Add(399 * time.Second)
	if first := pts[0].At; first.After(end.Add(-TraceSpan)) || !pts[1].At.After(end.Add(-TraceSpan)) {
		t.Errorf("trace starts at %v then %v; want the point holding at %v first, then later ones", first, pts[1].At, end.Add(-TraceSpan))
	}
	if want := int(TraceSpan/time.Second) + 1; len(pts) != want {
		t.Errorf("%d points over the span, want %d", len(pts), want)
	}
	busy := len(tr.ring)

	// Quiet: the same state for twice the span adds nothing, and once the
	// busy minutes are out of the span only the point that began the quiet
	// is left, in a smaller ring.
	for i := 400; i < 1000; i++ {
		tr.add(mark{at: at(time.Duration(i) * time.Second), desired: 9})
	}
	pts = tr.points()
	if len(pts) != 1 || pts[0].Desired != 9 || !pts[0].At.Equal(t0.Add(400*time.Second)) {
		t.Errorf("quiet trace = %+v, want the one point that began the quiet", pts)
	}
	if len(tr.ring) >= busy || len(tr.ring) > 16 {
		t.Errorf("ring of %d after going quiet (%d busy), want it shrunk", len(tr.ring), busy)
	}
}

func TestTraceSameInstantReplaces(t *testing.T) {
	var tr trace
	tr.add(mark{at: 1, desired: 1})
	tr.add(mark{at: 1, desired: 3, panicking: true})
	tr.add(mark{at: 2, desired: 3, panicking: true}) // the same state: nothing new
	got := tr.points()
	want := []TracePoint{{At: time.Unix(0, 1), Desired: 3, Panicking: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
}
