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

// scaling parses annotations as a stored revision would have them.
func scaling(t testing.TB, ann map[string]string, containerConcurrency int64) api.Scaling {
	t.Helper()
	s, errs := api.ParseScaling(ann, containerConcurrency, field.NewPath("metadata", "annotations"))
	if len(errs) > 0 {
		t.Fatalf("ParseScaling(%v): %v", ann, errs)
	}
	return s
}

// change is a new desired count and when it was decided, as an offset from
// the start.
type change struct {
	At time.Duration
	To int
}

// simulation drives a Decider in simulated time: a sample and a decision at
// every whole second (so "not a tick before" is checked to the second), and
// activations at the instants given.
type simulation struct {
	scaling api.Scaling
	initial bool
	until   time.Duration
	// load is the sample for the period ending at at; nil means idle.
	load func(at time.Duration) Sample
	// wakes activates the decider with that many requests in flight; a
	// wake at a whole second comes before that second's sample.
	wakes map[time.Duration]int
}

// run returns the starting count (At 0) and every change after.
func (s simulation) run() []change {
	d := NewDecider(DeciderOptions{Scaling: s.scaling, Now: t0, Initial: s.initial})
	got := []change{{0, d.Desired()}}
	note := func(at time.Duration, dec Decision) {
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
		d.Record(t0.Add(at), sample)
		note(at, d.Decide(t0.Add(at)))
	}
	return got
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

func TestDecider(t *testing.T) {
	s := time.Second
	defaults := scaling(t, nil, 0) // target 100 → 70 after utilization, window 60s
	short := scaling(t, map[string]string{api.AnnotationWindow: "6s"}, 0)
	tests := []struct {
		name string
		sim  simulation
		want []change
	}{{
		name: "steady load",
		sim:  simulation{scaling: defaults, initial: true, until: 120 * s, load: steady(140)},
		want: []change{{0, 1}, {1 * s, 2}},
	}, {
		name: "steady load just over a multiple of the target",
		sim:  simulation{scaling: defaults, initial: true, until: 120 * s, load: steady(141)},
		want: []change{{0, 1}, {1 * s, 3}},
	}, {
		name: "ramp up follows the window average",
		sim: simulation{scaling: short, until: 40 * s, load: func(at time.Duration) Sample {
			c := 70.0 * float64(1+min(int(at-1)/int(10*s), 2)) // 70, 140, 210, by 10s
			return Sample{Concurrency: c, InFlight: int(c)}
		}},
		// 11s: (5×70 + 140)/6 = 81.7 → 2; 21s: (5×140 + 210)/6 = 151.7 → 3.
		want: []change{{0, 0}, {1 * s, 1}, {11 * s, 2}, {21 * s, 3}},
	}, {
		name: "ramp down lags by the window",
		sim: simulation{scaling: short, until: 40 * s, load: func(at time.Duration) Sample {
			if at <= 10*s {
				return Sample{Concurrency: 210, InFlight: 210}
			}
			return Sample{Concurrency: 70, InFlight: 70}
		}},
		// 12s: (4×210 + 2×70)/6 = 163.3 → 3; 13s: 140 → 2; 15s: 93.3 → 2; 16s: 70 → 1.
		want: []change{{0, 0}, {1 * s, 3}, {13 * s, 2}, {16 * s, 1}},
	}, {
		name: "clamped to max-scale",
		sim:  simulation{scaling: scaling(t, map[string]string{api.AnnotationMaxScale: "3"}, 0), initial: true, until: 10 * s, load: steady(700)},
		want: []change{{0, 1}, {1 * s, 3}},
	}, {
		name: "clamped to min-scale, never zero",
		sim:  simulation{scaling: scaling(t, map[string]string{api.AnnotationMinScale: "2"}, 0), initial: true, until: 600 * s, load: oneRequest(5 * s)},
		want: []change{{0, 2}},
	}, {
		name: "containerConcurrency caps the target",
		// target 100 capped to 10 → 7 after utilization; 21 / 7 = 3.
		sim:  simulation{scaling: scaling(t, nil, 10), initial: true, until: 10 * s, load: steady(21)},
		want: []change{{0, 1}, {1 * s, 3}},
	}, {
		name: "scale to zero exactly after window + grace, not a tick before",
		// Last activity seen at the 5s sample; 5s + 60s + 30s = 95s.
		sim:  simulation{scaling: defaults, initial: true, until: 300 * s, load: oneRequest(5 * s)},
		want: []change{{0, 1}, {95 * s, 0}},
	}, {
		name: "activity during the grace period cancels it",
		// The window empties at 65s; a request at 80s, inside the grace,
		// restarts the idle clock: 80s + 90s = 170s.
		sim: simulation{scaling: defaults, initial: true, until: 300 * s, load: func(at time.Duration) Sample {
			return max2(oneRequest(5*s)(at), oneRequest(80*s)(at))
		}},
		want: []change{{0, 1}, {170 * s, 0}},
	}, {
		name: "a request in flight blocks zero",
		// One request in flight from 0s to 300s; zero 90s after it ends.
		sim:  simulation{scaling: defaults, initial: true, until: 600 * s, load: during(0, 300*s, 1)},
		want: []change{{0, 1}, {390 * s, 0}},
	}, {
		name: "in flight without measured concurrency still blocks zero",
		sim: simulation{scaling: defaults, initial: true, until: 200 * s, load: func(at time.Duration) Sample {
			return Sample{InFlight: 1}
		}},
		want: []change{{0, 1}},
	}, {
		name: "activation from zero",
		sim: simulation{scaling: defaults, until: 300 * s, wakes: map[time.Duration]int{10*s + s/2: 1},
			load: oneRequest(11 * s)},
		want: []change{{0, 0}, {10*s + s/2, 1}, {101 * s, 0}},
	}, {
		name: "burst activation starts every instance it needs at once",
		// 200 queued at zero, target 70: ceil(200/70) = 3, and the next
		// decisions hold 3 while the burst is still in flight.
		sim: simulation{scaling: defaults, until: 20 * s, wakes: map[time.Duration]int{10*s + s/2: 200},
			load: during(10*s, 20*s, 200)},
		want: []change{{0, 0}, {10*s + s/2, 3}},
	}, {
		name: "burst activation clamped to max-scale",
		sim: simulation{scaling: scaling(t, map[string]string{api.AnnotationMaxScale: "2"}, 0), until: 11 * s,
			wakes: map[time.Duration]int{10 * s: 200}, load: during(9*s, 11*s, 200)},
		want: []change{{0, 0}, {10 * s, 2}},
	}, {
		name: "activation never lowers the count",
		sim: simulation{scaling: defaults, until: 2 * s, load: steady(350),
			wakes: map[time.Duration]int{1*s + s/2: 1}},
		want: []change{{0, 0}, {1 * s, 5}},
	}, {
		name: "untouched new revision goes to zero after window + grace",
		sim:  simulation{scaling: defaults, initial: true, until: 300 * s},
		want: []change{{0, 1}, {90 * s, 0}},
	}, {
		name: "initial scale held for the first window, then one for the grace, then zero",
		sim:  simulation{scaling: scaling(t, map[string]string{api.AnnotationInitialScale: "3"}, 0), initial: true, until: 300 * s},
		want: []change{{0, 3}, {60 * s, 1}, {90 * s, 0}},
	}, {
		name: "initial scale below min-scale starts at min-scale",
		sim: simulation{scaling: scaling(t, map[string]string{api.AnnotationInitialScale: "1", api.AnnotationMinScale: "2"}, 0),
			initial: true, until: 300 * s},
		want: []change{{0, 2}},
	}, {
		name: "initial scale 0 starts at zero",
		sim:  simulation{scaling: scaling(t, map[string]string{api.AnnotationInitialScale: "0"}, 0), initial: true, until: 300 * s},
		want: []change{{0, 0}},
	}, {
		name: "adopted revision starts at min-scale and stays at zero untouched",
		sim:  simulation{scaling: defaults, until: 300 * s},
		want: []change{{0, 0}},
	}, {
		name: "short window scales to zero sooner",
		// 6s + 30s after the last activity at 5s.
		sim:  simulation{scaling: short, initial: true, until: 100 * s, load: oneRequest(5 * s)},
		want: []change{{0, 1}, {41 * s, 0}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.sim.run()); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func max2(a, b Sample) Sample {
	return Sample{Concurrency: max(a.Concurrency, b.Concurrency), InFlight: max(a.InFlight, b.InFlight), Requests: max(a.Requests, b.Requests)}
}

func TestDeciderGrace(t *testing.T) {
	d := NewDecider(DeciderOptions{Scaling: scaling(t, nil, 0), Grace: 5 * time.Second, Now: t0, Initial: true})
	if got := d.Decide(t0.Add(64 * time.Second)).Desired; got != 1 {
		t.Errorf("at 64s: desired %d, want 1", got)
	}
	if got := d.Decide(t0.Add(65 * time.Second)).Desired; got != 0 {
		t.Errorf("at 65s (60s window + 5s grace): desired %d, want 0", got)
	}
}

func TestDeciderReason(t *testing.T) {
	d := NewDecider(DeciderOptions{Scaling: scaling(t, nil, 0), Now: t0, Initial: true})
	for i := 1; i <= 60; i++ {
		d.Record(t0.Add(time.Duration(i)*time.Second), Sample{Concurrency: 12.4})
	}
	got := d.Decide(t0.Add(60 * time.Second))
	want := Decision{Desired: 1, Reason: "average concurrency 12.4 over 1m0s / target 70 → 1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decide (-want +got):\n%s", diff)
	}
	idle := d.Decide(t0.Add(200 * time.Second))
	if idle.Desired != 0 || !strings.Contains(idle.Reason, "grace") {
		t.Errorf("idle Decide = %+v, want 0 with a reason naming the grace period", idle)
	}
	act := NewDecider(DeciderOptions{Scaling: scaling(t, nil, 0), Now: t0}).Activate(t0, 200)
	want = Decision{Desired: 3, Reason: "activation: 200 in flight / target 70 → 3, had 0"}
	if diff := cmp.Diff(want, act); diff != "" {
		t.Errorf("Activate (-want +got):\n%s", diff)
	}
}

// A Scaling that never went through ParseScaling must not divide by zero.
func TestDeciderZeroScaling(t *testing.T) {
	d := NewDecider(DeciderOptions{Now: t0, Initial: true})
	d.Record(t0.Add(time.Second), Sample{Concurrency: 150, InFlight: 150})
	if got := d.Decide(t0.Add(time.Second)).Desired; got != 3 {
		t.Errorf("desired %d, want 3 (defaults: target 100, window 60s)", got)
	}
}

func TestDeciderSetScaling(t *testing.T) {
	d := NewDecider(DeciderOptions{Scaling: scaling(t, nil, 0), Now: t0, Initial: true})
	d.Record(t0.Add(time.Second), Sample{Concurrency: 70, InFlight: 70})
	d.SetScaling(scaling(t, map[string]string{api.AnnotationMinScale: "4"}, 0))
	if got := d.Decide(t0.Add(time.Second)).Desired; got != 4 {
		t.Errorf("desired %d after min-scale 4, want 4", got)
	}
	d.SetScaling(scaling(t, map[string]string{api.AnnotationTarget: "10", api.AnnotationWindow: "10s"}, 0))
	d.Record(t0.Add(2*time.Second), Sample{Concurrency: 21, InFlight: 0})
	if got := d.Decide(t0.Add(2 * time.Second)).Desired; got != 3 {
		t.Errorf("desired %d after target 10 and a new window, want 3 (21 / 7)", got)
	}
}
