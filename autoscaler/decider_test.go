package autoscaler

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
)

// t0 is an arbitrary start; nothing depends on it being round.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 300_000_000, time.UTC)

// spec resolves annotations over the default config, changed by the
// given config keys (key, value, key, value...), as Upsert does.
func spec(t testing.TB, ann map[string]string, containerConcurrency int64, config ...string) Spec {
	t.Helper()
	s, errs := api.ParseScaling(ann, containerConcurrency, field.NewPath("metadata", "annotations"))
	if len(errs) > 0 {
		t.Fatalf("ParseScaling(%v): %v", ann, errs)
	}
	c := DefaultConfig()
	for i := 0; i+1 < len(config); i += 2 {
		if err := c.Set(config[i], config[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return c.Spec(s)
}

// change is a new desired count and when it was decided, as an offset from
// the start.
type change struct {
	At time.Duration
	To int
}

// simulation drives a Decider in simulated time with the real loop's
// rhythm: a sample every second, a decision every 2 seconds, and
// activations at the instants given.
type simulation struct {
	spec    Spec
	initial bool
	until   time.Duration
	// load is the sample for the period ending at at; nil means idle. Its
	// Ready is filled in from ready.
	load func(at time.Duration) Sample
	// ready is how many instances are ready at at, given the count last
	// decided; nil means every instance asked for is ready at once.
	ready func(at time.Duration, desired int) int
	// wakes activates the decider with that many requests waiting; a wake
	// at a whole second comes before that second's sample.
	wakes map[time.Duration]int
	// unreachable: no route sends the revision traffic.
	unreachable bool
}

// run returns the starting count (At 0) and every change after, and the
// decisions made.
func (s simulation) run() ([]change, []Decision) {
	d := NewDecider(s.spec, t0, s.initial)
	d.SetReachable(!s.unreachable)
	got := []change{{0, d.Desired()}}
	var decisions []Decision
	note := func(at time.Duration, dec Decision) {
		decisions = append(decisions, dec)
		if last := got[len(got)-1]; dec.Desired != last.To {
			got = append(got, change{at, dec.Desired})
		}
	}
	var wakes []time.Duration
	for at := range s.wakes {
		wakes = append(wakes, at)
	}
	sort.Slice(wakes, func(i, j int) bool { return wakes[i] < wakes[j] })
	for at := time.Second; at <= s.until; at += time.Second {
		for len(wakes) > 0 && wakes[0] <= at {
			note(wakes[0], d.Activate(t0.Add(wakes[0]), s.wakes[wakes[0]]))
			wakes = wakes[1:]
		}
		var sample Sample
		if s.load != nil {
			sample = s.load(at)
		}
		sample.Ready = d.Desired()
		if s.ready != nil {
			sample.Ready = s.ready(at, d.Desired())
		}
		d.Record(t0.Add(at), sample)
		if at%(2*time.Second) == 0 {
			note(at, d.Decide(t0.Add(at)))
		}
	}
	return got, decisions
}

// steady is a constant load of c requests, each in flight for a while.
func steady(c float64) func(time.Duration) Sample {
	return func(time.Duration) Sample { return Sample{Concurrency: c, InFlight: int(c), Requests: int64(c)} }
}

// during is load between from (exclusive) and to (inclusive), idle
// otherwise.
func during(from, to time.Duration, c float64) func(time.Duration) Sample {
	return func(at time.Duration) Sample {
		if at > from && at <= to {
			return Sample{Concurrency: c, InFlight: int(c), Requests: 1}
		}
		return Sample{}
	}
}

// oneRequest is a single short request answered within the period ending
// at at: some concurrency, nothing in flight at the sample.
func oneRequest(at time.Duration) func(time.Duration) Sample {
	return func(t time.Duration) Sample {
		if t == at {
			return Sample{Concurrency: 0.2, Requests: 1}
		}
		return Sample{}
	}
}

// phases is c[i] from the ith boundary on: phases([]time.Duration{10s}, 210, 70)
// is 210 up to 10s and 70 after.
func phases(bounds []time.Duration, c ...float64) func(time.Duration) Sample {
	return func(at time.Duration) Sample {
		i := sort.Search(len(bounds), func(i int) bool { return at <= bounds[i] })
		return Sample{Concurrency: c[i], InFlight: int(c[i]), Requests: 1}
	}
}

func TestDecider(t *testing.T) {
	s := time.Second
	defaults := spec(t, nil, 0) // target 100 → 70 after utilization, window 60s, panic window 6s
	short := spec(t, map[string]string{api.AnnotationWindow: "6s"}, 0)
	tests := []struct {
		name string
		sim  simulation
		want []change
	}{{
		name: "steady load",
		sim:  simulation{spec: defaults, initial: true, until: 120 * s, load: steady(140)},
		want: []change{{0, 1}, {2 * s, 2}},
	}, {
		name: "steady load just over a multiple of the target",
		sim:  simulation{spec: defaults, initial: true, until: 120 * s, load: steady(141)},
		want: []change{{0, 1}, {2 * s, 3}},
	}, {
		name: "target-utilization-percentage",
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationTargetUtilization: "50"}, 0), initial: true,
			until: 10 * s, load: steady(140)},
		want: []change{{0, 1}, {2 * s, 3}}, // 140 / 50
	}, {
		name: "containerConcurrency caps the target",
		// target 100 capped to 10 → 7 after utilization; 21 / 7 = 3.
		sim:  simulation{spec: spec(t, map[string]string{api.AnnotationTarget: "100"}, 10), initial: true, until: 10 * s, load: steady(21)},
		want: []change{{0, 1}, {2 * s, 3}},
	}, {
		name: "rps metric",
		// 420 requests a second / (200 × 0.7) = 3.
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationMetric: "rps"}, 0), initial: true, until: 10 * s,
			load: func(time.Duration) Sample { return Sample{Concurrency: 0.5, Requests: 420} }},
		want: []change{{0, 1}, {2 * s, 3}},
	}, {
		name: "a window shorter than the data forgets what is older",
		// Panic at 2s (3 wanted from 0 ready) holds 3 until 10s. Then the
		// 6s window: 12s (4×210 + 2×70)/6 = 163 → 3; 14s 117 → 2; 16s 70 → 1.
		sim:  simulation{spec: short, until: 40 * s, load: phases([]time.Duration{10 * s}, 210, 70)},
		want: []change{{0, 0}, {2 * s, 3}, {14 * s, 2}, {16 * s, 1}},
	}, {
		name: "panic: entered on the panic window, no scale-down inside, left a stable window after the last crossing",
		// 35 (1 instance), a burst of 350 from 20s to 30s, then 35.
		// 22s: panic window (16s,22s] averages 140 → 2 wanted / 1 ready: panic → 2.
		// 24s: 245 → 4 / 2 ready crosses again (panic now lasts to 84s) → 4.
		// 26s: 350 → 5 (5/4 does not cross; still panicking) → 5, held after.
		// 86s: panic over; stable 56 → 1 but max-scale-down-rate 2 allows 2.
		// 88s: 1.
		sim:  simulation{spec: defaults, initial: true, until: 100 * s, load: phases([]time.Duration{20 * s, 30 * s}, 35, 350, 35)},
		want: []change{{0, 1}, {22 * s, 2}, {24 * s, 4}, {26 * s, 5}, {86 * s, 2}, {88 * s, 1}},
	}, {
		name: "max-scale-up-rate",
		sim: simulation{spec: spec(t, nil, 0, "max-scale-up-rate", "2"), initial: true, until: 10 * s,
			load: steady(700)},
		want: []change{{0, 1}, {2 * s, 2}, {4 * s, 4}, {6 * s, 8}, {8 * s, 10}},
	}, {
		name: "scale-down-delay holds the highest count of the trailing delay",
		// As the short window above, but started at 3 (no panic), and the
		// 3 wanted last at 12s held for 20s.
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationWindow: "6s", api.AnnotationScaleDownDelay: "20s",
			api.AnnotationInitialScale: "3"}, 0), initial: true, until: 60 * s, load: phases([]time.Duration{10 * s}, 210, 70)},
		want: []change{{0, 3}, {32 * s, 2}, {34 * s, 1}},
	}, {
		name: "scale-down stops at what the requests in flight now need",
		// As above, but after 10s 140 requests are in flight at each sample
		// while the window averages 70: 3 → 2, and no further.
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationWindow: "6s", api.AnnotationInitialScale: "3"}, 0),
			initial: true, until: 60 * s, load: func(at time.Duration) Sample {
				if at <= 10*s {
					return Sample{Concurrency: 210, InFlight: 210}
				}
				return Sample{Concurrency: 70, InFlight: 140}
			}},
		want: []change{{0, 3}, {14 * s, 2}},
	}, {
		name: "clamped to max-scale",
		sim:  simulation{spec: spec(t, map[string]string{api.AnnotationMaxScale: "3"}, 0), initial: true, until: 10 * s, load: steady(700)},
		want: []change{{0, 1}, {2 * s, 3}},
	}, {
		name: "clamped to min-scale, never zero",
		sim:  simulation{spec: spec(t, map[string]string{api.AnnotationMinScale: "2"}, 0), initial: true, until: 600 * s, load: oneRequest(5 * s)},
		want: []change{{0, 2}},
	}, {
		name: "a revision no route reaches keeps no min-scale",
		// Down without the down rate's limit, then the usual idle rule.
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationMinScale: "4"}, 0), initial: true, until: 300 * s,
			unreachable: true},
		want: []change{{0, 4}, {2 * s, 1}, {60 * s, 0}},
	}, {
		name: "initial scale below min-scale starts at min-scale",
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationInitialScale: "1", api.AnnotationMinScale: "2"}, 0),
			initial: true, until: 300 * s},
		want: []change{{0, 2}},
	}, {
		name: "initial scale 0 starts at zero and stays there untouched",
		sim:  simulation{spec: spec(t, map[string]string{api.AnnotationInitialScale: "0"}, 0), initial: true, until: 300 * s},
		want: []change{{0, 0}},
	}, {
		name: "initial scale holds until reached, then the usual rules",
		// Instances ready at 20s; then the down rate (3 → 1); inactive
		// once active for a stable window (60s), and so to zero.
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationInitialScale: "3"}, 0), initial: true, until: 300 * s,
			ready: func(at time.Duration, desired int) int {
				if at < 20*s {
					return 0
				}
				return desired
			}},
		want: []change{{0, 3}, {20 * s, 1}, {60 * s, 0}},
	}, {
		name: "initial scale never reached is given up after the progress deadline",
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationInitialScale: "3"}, 0), initial: true, until: 700 * s,
			ready: func(time.Duration, int) int { return 0 }},
		want: []change{{0, 3}, {610 * s, 0}},
	}, {
		name: "adopted revision starts at min-scale and stays at zero untouched",
		sim:  simulation{spec: defaults, until: 300 * s},
		want: []change{{0, 0}},
	}, {
		name: "zero at the decision after the stable average reaches 0, as Knative with the activator in the path",
		// Last activity in the 5s sample: the average is 0 from 65s, so
		// the 66s decision marks it inactive and goes to zero.
		sim:  simulation{spec: defaults, initial: true, until: 300 * s, load: oneRequest(5 * s)},
		want: []change{{0, 1}, {66 * s, 0}},
	}, {
		name: "scale-to-zero-pod-retention-period longer than the grace",
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationScaleToZeroPodRetention: "2m"}, 0), initial: true,
			until: 300 * s, load: oneRequest(5 * s)},
		want: []change{{0, 1}, {186 * s, 0}}, // inactive at 66s, + 120s
	}, {
		name: "a request while inactive makes it active again; the retention starts over",
		// Inactive at 66s; the request at 100s wants 1 again; its window
		// empties at 160s: inactive then, zero 120s later.
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationScaleToZeroPodRetention: "2m"}, 0), initial: true,
			until: 400 * s, load: func(at time.Duration) Sample {
				return max2(oneRequest(5*s)(at), oneRequest(100*s)(at))
			}},
		want: []change{{0, 1}, {280 * s, 0}},
	}, {
		name: "scale-to-zero-grace-period does not delay zero: the activator is always in the path",
		// Active for a stable window at 60s: inactive, and zero.
		sim:  simulation{spec: spec(t, nil, 0, "scale-to-zero-grace-period", "5m"), initial: true, until: 300 * s},
		want: []change{{0, 1}, {60 * s, 0}},
	}, {
		name: "enable-scale-to-zero false keeps one",
		sim:  simulation{spec: spec(t, nil, 0, "enable-scale-to-zero", "false"), initial: true, until: 300 * s},
		want: []change{{0, 1}},
	}, {
		name: "activity within the stable window keeps the average above 0",
		// Requests at 5s and 40s: the average is 0 from 100s.
		sim: simulation{spec: defaults, initial: true, until: 300 * s, load: func(at time.Duration) Sample {
			return max2(oneRequest(5*s)(at), oneRequest(40*s)(at))
		}},
		want: []change{{0, 1}, {100 * s, 0}},
	}, {
		name: "a request in flight blocks zero; the clock starts when it ends",
		sim:  simulation{spec: defaults, initial: true, until: 600 * s, load: during(0, 300*s, 1)},
		want: []change{{0, 1}, {360 * s, 0}},
	}, {
		name: "in flight without measured concurrency still blocks zero",
		sim: simulation{spec: defaults, initial: true, until: 200 * s, load: func(at time.Duration) Sample {
			return Sample{InFlight: 1}
		}},
		want: []change{{0, 1}},
	}, {
		name: "activation from zero",
		sim: simulation{spec: defaults, until: 300 * s, wakes: map[time.Duration]int{10*s + s/2: 1},
			load: oneRequest(11 * s)},
		want: []change{{0, 0}, {10*s + s/2, 1}, {72 * s, 0}},
	}, {
		name: "burst activation starts every instance it needs at once and panics",
		// 200 waiting, target 70: 3 at once; panic holds them to 70.5s,
		// then the stable 27 → 1, and zero 60s after the burst ended.
		sim: simulation{spec: defaults, until: 200 * s, wakes: map[time.Duration]int{10*s + s/2: 200},
			load: during(10*s, 20*s, 200)},
		want: []change{{0, 0}, {10*s + s/2, 3}, {72 * s, 1}, {80 * s, 0}},
	}, {
		name: "rps activation reads the waiting requests as a rate",
		// 1 waiting (10/s over the 100ms floor) → 1; 60 waiting 0.2s later
		// arrive at 300/s: / (200 × 0.7) → 3.
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationMetric: "rps"}, 0), until: 11 * s,
			ready: func(time.Duration, int) int { return 0 },
			wakes: map[time.Duration]int{10 * s: 1, 10*s + 200*time.Millisecond: 60}},
		want: []change{{0, 0}, {10 * s, 1}, {10*s + 200*time.Millisecond, 3}},
	}, {
		name: "rps: a wake with instances ready reads the rate, not the requests in flight",
		// 100 requests/s of 10 s requests: 1,000 in flight on 10 ready
		// instances, all full. The rate wants 100 / 140 → 1; no jump.
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationMetric: "rps", api.AnnotationInitialScale: "10",
			api.AnnotationMinScale: "10"}, 0), initial: true, until: 20 * s,
			load:  func(time.Duration) Sample { return Sample{Concurrency: 1000, InFlight: 1000, Requests: 100} },
			wakes: map[time.Duration]int{10*s + s/2: 1001}},
		want: []change{{0, 10}},
	}, {
		name: "activation-scale",
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationActivationScale: "3"}, 0), until: 30 * s,
			wakes: map[time.Duration]int{10*s + s/2: 1}, load: during(10*s, 30*s, 35)},
		want: []change{{0, 0}, {10*s + s/2, 3}},
	}, {
		name: "burst activation clamped to max-scale",
		sim: simulation{spec: spec(t, map[string]string{api.AnnotationMaxScale: "2"}, 0), until: 11 * s,
			wakes: map[time.Duration]int{10 * s: 200}, load: during(9*s, 11*s, 200)},
		want: []change{{0, 0}, {10 * s, 2}},
	}, {
		name: "activation never lowers the count",
		sim: simulation{spec: defaults, until: 3 * s, load: steady(350),
			wakes: map[time.Duration]int{2*s + s/2: 1}},
		want: []change{{0, 0}, {2 * s, 5}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, decisions := tt.sim.run()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				for _, d := range decisions {
					if d.Changed() {
						t.Log(d.At.Sub(t0), d.Reason())
					}
				}
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func max2(a, b Sample) Sample {
	return Sample{Concurrency: max(a.Concurrency, b.Concurrency), InFlight: max(a.InFlight, b.InFlight), Requests: max(a.Requests, b.Requests)}
}

// Time after the last sample counts as zero load, and a revision watched
// for less than a window averages over what it has.
func TestDeciderAverages(t *testing.T) {
	d := NewDecider(spec(t, map[string]string{api.AnnotationWindow: "10s"}, 0), t0, true)
	for i := 1; i <= 3; i++ {
		d.Record(t0.Add(time.Duration(i)*time.Second), Sample{Concurrency: 140, Ready: 1})
	}
	dec := d.Decide(t0.Add(3 * time.Second))
	if dec.Stable != 140 || dec.StableSpan != 3*time.Second {
		t.Errorf("after 3s of data: stable %v over %v, want 140 over 3s", dec.Stable, dec.StableSpan)
	}
	for i := 4; i <= 10; i++ {
		d.Record(t0.Add(time.Duration(i)*time.Second), Sample{Concurrency: 140, Ready: 1})
	}
	// No sample from 10s to 14s: four missing seconds count as zero.
	dec = d.Decide(t0.Add(14 * time.Second))
	if want := 140.0 * 6 / 10; dec.Stable != want || dec.StableSpan != 10*time.Second {
		t.Errorf("4s after the last sample: stable %v over %v, want %v over 10s", dec.Stable, dec.StableSpan, want)
	}
	if dec.Panic != 0 {
		t.Errorf("panic window (1s) after the last sample: %v, want 0", dec.Panic)
	}
}

func TestDeciderNoData(t *testing.T) {
	d := NewDecider(spec(t, map[string]string{api.AnnotationInitialScale: "2"}, 0), t0, true)
	dec := d.Decide(t0.Add(10 * time.Second))
	if dec.Desired != 2 || dec.Steps&StepNoData == 0 {
		t.Errorf("Decide before any sample = %d (%s), want 2 kept for lack of data", dec.Desired, dec.Reason())
	}
}

func TestDeciderReason(t *testing.T) {
	d := NewDecider(spec(t, nil, 0), t0, true)
	for i := 1; i <= 60; i++ {
		d.Record(t0.Add(time.Duration(i)*time.Second), Sample{Concurrency: 12.4, Ready: 1})
	}
	if got, want := d.Decide(t0.Add(60*time.Second)).Reason(), "stable: 1m0s avg 12.4 / target 70 = 1 wanted, 1 ready → 1"; got != want {
		t.Errorf("stable reason\n got %q\nwant %q", got, want)
	}

	d = NewDecider(spec(t, map[string]string{api.AnnotationInitialScale: "3"}, 0), t0, true)
	for i := 1; i <= 60; i++ {
		c := 0.0
		if i > 54 {
			c = 480
		}
		d.Record(t0.Add(time.Duration(i)*time.Second), Sample{Concurrency: c, Ready: 3})
	}
	if got, want := d.Decide(t0.Add(60*time.Second)).Reason(),
		"panic: 6s avg 480 / target 70 = 7 wanted, 3 ready; entered panic (6s avg 480 wants 7) → 7"; got != want {
		t.Errorf("panic reason\n got %q\nwant %q", got, want)
	}

	act := NewDecider(spec(t, nil, 0), t0, false).Activate(t0, 200)
	if got, want := act.Reason(), "activation: 200 waiting / target 70 = 3 wanted, 0 ready; entered panic → 3"; got != want {
		t.Errorf("activation reason\n got %q\nwant %q", got, want)
	}

	idle := NewDecider(spec(t, nil, 0), t0, true)
	idle.Record(t0.Add(time.Second), Sample{Ready: 1})
	if r := idle.Decide(t0.Add(200 * time.Second)).Reason(); !strings.Contains(r, "inactive: to zero") {
		t.Errorf("idle reason %q, want it to say it goes to zero", r)
	}
}

// A hand-built Spec with holes must not divide by zero.
func TestDeciderZeroSpec(t *testing.T) {
	d := NewDecider(Spec{}, t0, true)
	d.Record(t0.Add(time.Second), Sample{Concurrency: 150, InFlight: 150, Ready: 3})
	if got := d.Decide(t0.Add(time.Second)).Desired; got != 3 {
		t.Errorf("desired %d, want 3 (defaults: target 100 × 0.7, window 60s)", got)
	}
}

func TestDeciderSetSpec(t *testing.T) {
	d := NewDecider(spec(t, nil, 0), t0, false)
	d.Record(t0.Add(time.Second), Sample{Concurrency: 70, InFlight: 70, Ready: 1})
	d.SetSpec(spec(t, map[string]string{api.AnnotationMinScale: "4"}, 0))
	if got := d.Decide(t0.Add(time.Second)); got.Desired != 4 || got.Steps&StepMinScale == 0 {
		t.Errorf("desired %d (%s) after min-scale 4, want 4 for min-scale", got.Desired, got.Reason())
	}
	d.SetSpec(spec(t, map[string]string{api.AnnotationTarget: "10", api.AnnotationWindow: "10s"}, 0))
	d.Record(t0.Add(2*time.Second), Sample{Concurrency: 21, Ready: 4})
	if got := d.Decide(t0.Add(2 * time.Second)).Desired; got != 3 {
		t.Errorf("desired %d after target 10 and a new window, want 3 (21 / 7)", got)
	}
}

// A wake while the revision is still up (a cron trigger's pre-warm ahead
// of a fire) is activity: the revision stays up a stable window from the
// wake, though its average is 0, instead of going to zero at the next
// decision and meeting the fire cold.
func TestDeciderWakeWhileUpRestartsActiveTime(t *testing.T) {
	d := NewDecider(spec(t, map[string]string{api.AnnotationWindow: "10s", api.AnnotationInitialScale: "0"}, 0), t0, true)
	if dec := d.Activate(t0, 1); dec.Desired != 1 {
		t.Fatalf("wake at zero: %d, want 1", dec.Desired)
	}
	for i := 1; i <= 20; i++ {
		d.Record(t0.Add(time.Duration(i)*time.Second), Sample{Ready: 1})
	}
	// Idle since t0, active 20s: a wake at 20s, then a decision at 21s.
	d.Activate(t0.Add(20*time.Second), 0)
	if dec := d.Decide(t0.Add(21 * time.Second)); dec.Desired != 1 {
		t.Errorf("a second after a wake: %d (%s), want 1 kept for the stable window", dec.Desired, dec.Reason())
	}
	for i := 21; i <= 31; i++ {
		d.Record(t0.Add(time.Duration(i)*time.Second), Sample{Ready: 1})
	}
	if dec := d.Decide(t0.Add(31 * time.Second)); dec.Desired != 0 {
		t.Errorf("a stable window after the wake: %d (%s), want zero", dec.Desired, dec.Reason())
	}
}
