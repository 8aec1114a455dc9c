package autoscaler

import (
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// saturated feeds d one second in which 300 requests arrived at one full
// instance (containerConcurrency 10) that completed 100 of them (100ms
// each), leaving inFlight present.
func saturated(d *Decider, at time.Duration, prevInFlight, inFlight int, oldest time.Duration) {
	d.Record(t0.Add(at-time.Second), Sample{Concurrency: float64(prevInFlight), InFlight: prevInFlight, Ready: 1})
	d.Record(t0.Add(at), Sample{Concurrency: float64(inFlight), InFlight: inFlight, Requests: 300, Ready: 1,
		OldestWait: oldest})
}

func TestBacklogPlan(t *testing.T) {
	s := time.Second
	cc10 := spec(t, nil, 10) // target 10 × 70% = 7
	withTimeout := cc10
	withTimeout.RequestTimeout = 10 * s
	for _, tc := range []struct {
		name   string
		spec   Spec
		ready  int
		oldest time.Duration
		wake   int // requests present at the wake
		want   int
		plan   bool // the reason names the backlog plan
	}{{
		// 200 waiting beyond the 10 slots, 300/s arriving, 0.1s each:
		// (300 + 200/6s) × 0.1 = 33.3 in flight → 5, not 210/7 = 30.
		name: "a held backlog is planned from the arrival rate and its drain",
		spec: cc10, ready: 1, wake: 210, want: 5, plan: true,
	}, {
		// 1s left before the oldest request's 10s deadline: drain in 1s,
		// (300 + 200) × 0.1 = 50 → 8.
		name: "the oldest request's deadline shortens the drain",
		spec: withTimeout, ready: 1, oldest: 9 * s, wake: 210, want: 8, plan: true,
	}, {
		// The deadline passed: drain within minDrain (1s), as above.
		name: "a deadline already passed drains within a second",
		spec: withTimeout, ready: 1, oldest: 12 * s, wake: 210, want: 8, plan: true,
	}, {
		name: "no limit per instance: nothing is held on ready instances, no plan",
		spec: spec(t, nil, 0), ready: 1, wake: 210, want: 3,
	}, {
		name: "at zero nothing is known of the requests: one slot per waiting request",
		spec: cc10, ready: 0, wake: 210, want: 30,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecider(tc.spec, t0, false)
			d.Adopt(tc.ready)
			if tc.ready > 0 {
				saturated(d, 2*s, 10, tc.wake, tc.oldest)
			} else {
				d.Record(t0.Add(2*s), Sample{})
			}
			dec := d.Activate(t0.Add(2*s+s/2), tc.wake)
			if dec.Desired != tc.want {
				t.Errorf("desired %d, want %d (%s)", dec.Desired, tc.want, dec.Reason())
			}
			if got := strings.Contains(dec.Reason(), "backlog of"); got != tc.plan {
				t.Errorf("reason %q names the backlog plan: %v, want %v", dec.Reason(), got, tc.plan)
			}
		})
	}
}

// Once the backlog drains, the windows hold the planned concurrency, not
// the queue, so panic does not hold one slot per request that waited.
func TestBacklogPlanKeepsTheWindowsToThePlan(t *testing.T) {
	s := time.Second
	d := NewDecider(spec(t, nil, 10), t0, false)
	d.Adopt(1)
	for i := 1; i <= 5; i++ { // the queue grows by 200 a second
		saturated(d, time.Duration(2*i)*s, 10+200*(i-1), 10+200*i, 0)
	}
	dec := d.Decide(t0.Add(10 * s))
	if dec.Desired > 20 || dec.Steps&StepBacklogPlan == 0 {
		t.Errorf("with 1,000 waiting: desired %d, want at most 20 planned (%s)", dec.Desired, dec.Reason())
	}
	if !dec.PlanInWindows {
		t.Error("PlanInWindows false right after a planned sample")
	}
	if dec := d.Decide(t0.Add(10*s + d.Spec().StableWindow)); dec.PlanInWindows {
		t.Error("PlanInWindows still true a stable window after the last planned sample")
	}
}

// A revision's timeoutSeconds and containerConcurrency reach the plan.
func TestSpecCarriesTheRequestDeadline(t *testing.T) {
	rev := newRevision("hello-00001", nil)
	timeout, cc := int64(30), int64(10)
	rev.Spec.TimeoutSeconds, rev.Spec.ContainerConcurrency = &timeout, &cc
	a := New(Options{Sample: func(api.RevisionKey) Sample { return Sample{} }, Scaler: &fakeScaler{}})
	if s := a.Spec(rev); s.RequestTimeout != 30*time.Second || s.ContainerConcurrency != 10 {
		t.Errorf("RequestTimeout %v, ContainerConcurrency %d; want 30s and 10", s.RequestTimeout, s.ContainerConcurrency)
	}
}

// One completion of a long request says little of its time: until 20
// have completed the plan keeps one slot per waiting request.
func TestBacklogPlanWaitsForEnoughCompletions(t *testing.T) {
	s := time.Second
	d := NewDecider(spec(t, nil, 1), t0, false) // 1 × 70%: 0.7 per instance
	d.Adopt(1)
	d.Record(t0.Add(s), Sample{Concurrency: 30, InFlight: 30, Ready: 1})
	// 2 arrived, 1 completed: read as 1s per request, the plan would be
	// (2/s + 30 waiting / 6s) × 1s = 7 in flight, 10 instances.
	d.Record(t0.Add(2*s), Sample{Concurrency: 30, InFlight: 31, Requests: 2, Ready: 1})
	if dec := d.Activate(t0.Add(2*s), 31); dec.Desired != 45 || dec.Steps&StepBacklogPlan != 0 {
		t.Errorf("desired %d, want 45 (31 / 0.7), unplanned (%s)", dec.Desired, dec.Reason())
	}
}
