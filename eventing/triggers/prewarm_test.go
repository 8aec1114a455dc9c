package triggers

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	testingclock "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
)

// fakePrewarmer records when it was asked to wake what, on the fake clock.
type fakePrewarmer struct {
	clk        *testingclock.FakeClock
	lead, idle time.Duration

	mu    sync.Mutex
	calls []string // "12:00:25 default/hello"
}

func (f *fakePrewarmer) Prewarm(sink api.FunctionKey, tag string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := f.clk.Now().Format("15:04:05") + " " + sink.String()
	if tag != "" {
		call += " tag " + tag
	}
	f.calls = append(f.calls, call)
}

func (f *fakePrewarmer) PrewarmTiming(api.FunctionKey, string) (time.Duration, time.Duration) {
	return f.lead, f.idle
}

func (f *fakePrewarmer) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func TestNextPrewarm(t *testing.T) {
	fire := time.Date(2026, 11, 23, 12, 0, 30, 0, time.UTC)
	s := time.Second
	tests := []struct {
		name string
		lead time.Duration
		idle time.Duration
		want []time.Duration // before the fire
	}{
		{"the sink never sleeps: once", 10 * s, 0, []time.Duration{10 * s}},
		{"a lead well within the idle time: once", 10 * s, 60 * s, []time.Duration{10 * s}},
		{"a lead longer than the idle time: every idle/2", 20 * s, 6 * s, []time.Duration{20 * s, 17 * s, 14 * s, 11 * s, 8 * s, 5 * s, 2 * s}},
		{"idle under 2s: every second", 3 * s, time.Second, []time.Duration{3 * s, 2 * s, s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []time.Duration
			for at, ok := fire.Add(-tt.lead), true; ok; at, ok = nextPrewarm(at, fire, tt.idle) {
				got = append(got, fire.Sub(at))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("wakes before the fire (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPrewarmBeforeFires runs cron triggers on a fake clock and checks
// when their sinks are pre-warmed: at fire - lead before every fire, by
// the annotation or the Prewarmer's default, again and again for a lead
// longer than the sink's idle time, and never with "off".
func TestPrewarmBeforeFires(t *testing.T) {
	tests := []struct {
		name       string
		annotation string // "" for none
		sink       api.Sink
		lead, idle time.Duration // the Prewarmer's
		want       []string
	}{{
		name: "the annotation's lead", annotation: "5s", sink: api.Sink{Function: "hello"}, lead: 8 * time.Second,
		want: []string{"12:00:25 default/hello", "12:00:55 default/hello", "12:01:25 default/hello"},
	}, {
		name: "the Prewarmer's default lead", sink: api.Sink{Function: "hello", Tag: "canary"}, lead: 8 * time.Second,
		want: []string{"12:00:22 default/hello tag canary", "12:00:52 default/hello tag canary", "12:01:22 default/hello tag canary"},
	}, {
		name: "no lead known: 10s", sink: api.Sink{Function: "hello"},
		want: []string{"12:00:20 default/hello", "12:00:50 default/hello", "12:01:20 default/hello"},
	}, {
		name: "a lead longer than the idle time: woken again until the fire", annotation: "12s", sink: api.Sink{Function: "hello"},
		idle: 8 * time.Second,
		want: []string{"12:00:18 default/hello", "12:00:22 default/hello", "12:00:26 default/hello",
			"12:00:48 default/hello", "12:00:52 default/hello", "12:00:56 default/hello",
			"12:01:18 default/hello", "12:01:22 default/hello", "12:01:26 default/hello"},
	}, {
		name: "off", annotation: "off", sink: api.Sink{Function: "hello"}, lead: 8 * time.Second,
	}, {
		name: "a uri sink is not pre-warmed", sink: api.Sink{URI: "http://example.com/hook"}, lead: 8 * time.Second,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			router, _ := sink(t, http.StatusOK)
			clk := testingclock.NewFakeClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
			pw := &fakePrewarmer{clk: clk, lead: tt.lead, idle: tt.idle}
			reg := prometheus.NewRegistry()
			r, err := New(Options{RouterAddr: strings.TrimPrefix(router.URL, "http://"), Domain: "example.test",
				Clock: clk, Prewarmer: pw, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			r.Start(ctx)
			t.Cleanup(func() { cancel(); r.Close() })

			trig := cronTrigger("tick", "*/30 * * * * *", tt.sink)
			if tt.annotation != "" {
				trig.Annotations = map[string]string{api.AnnotationPrewarm: tt.annotation}
			}
			uri := "http://hello.default.example.test"
			if tt.sink.URI != "" {
				uri = tt.sink.URI
			}
			if err := r.Run(trig, uri, ""); err != nil {
				t.Fatal(err)
			}
			waiters := 2 // the scheduler and the pre-warm loop
			if len(tt.want) == 0 {
				waiters = 1
			}
			// Up to 12:01:29, one second at a time, each step once every
			// timer is set again.
			for range 89 {
				deadline := time.Now().Add(guard)
				for clk.Waiters() < waiters {
					if time.Now().After(deadline) {
						t.Fatalf("at %v: %d timers waiting, want %d", clk.Now(), clk.Waiters(), waiters)
					}
					time.Sleep(time.Millisecond)
				}
				clk.Step(time.Second)
			}
			r.Stop(trig.Key()) // waits for the loop: every call is in
			if diff := cmp.Diff(tt.want, pw.got()); diff != "" {
				t.Errorf("Prewarm calls (-want +got):\n%s", diff)
			}
			if n := testutil.CollectAndCount(reg, "wake_trigger_prewarms_total"); n != 0 {
				t.Errorf("wake_trigger_prewarms_total keeps %d series after Stop", n)
			}
		})
	}
}

// A change of the wake.dev/prewarm annotation alone (the generation does
// not move) reaches the running trigger.
func TestPrewarmAnnotationChange(t *testing.T) {
	router, _ := sink(t, http.StatusOK)
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	pw := &fakePrewarmer{clk: clk}
	r, err := New(Options{RouterAddr: strings.TrimPrefix(router.URL, "http://"), Domain: "example.test", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	r.SetPrewarmer(pw)
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	t.Cleanup(func() { cancel(); r.Close() })
	trig := cronTrigger("tick", "*/30 * * * * *", api.Sink{Function: "hello"})
	if err := r.Run(trig, "http://hello.default.example.test", ""); err != nil {
		t.Fatal(err)
	}
	running := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.trigs["default/tick"].prewarmDone != nil
	}
	if !running() {
		t.Fatal("no pre-warm loop for a function sink")
	}
	off := trig.DeepCopy()
	off.Annotations = map[string]string{api.AnnotationPrewarm: "off"}
	if err := r.Run(off, "http://hello.default.example.test", ""); err != nil {
		t.Fatal(err)
	}
	if running() {
		t.Error("pre-warm loop still running after wake.dev/prewarm: off")
	}
}
