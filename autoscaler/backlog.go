package autoscaler

import (
	"math"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// minCompletions is how many completed requests (decayed) the estimate of
// a request's time needs before the plan trusts it: a few completions of
// 10s requests in a second say little, and without an estimate the plan
// keeps one slot per waiting request, which for long requests is close
// to right anyway.
const minCompletions = 20

// minDrain bounds the horizon a backlog is planned to drain in from
// below: planning to drain in a few milliseconds would ask for one slot
// per waiting request again.
const minDrain = time.Second

// observeBacklog updates the backlog plan from a sample covering dt: the
// arrival rate, an estimate of how long one request takes, and the
// concurrency the plan needs (d.planned, 0 when there is no backlog to
// plan for). It runs before the sample's fields replace the previous ones.
//
// A request's time is busy slot-seconds over requests completed, summed
// over recent periods (halved every panic window, so it follows a
// changing service): with a backlog every ready slot is busy and the
// completions are arrived + present before − present now; without one,
// the concurrency is the busy slots and the arrivals the completions
// (Little's law). It needs containerConcurrency: without a limit nothing
// waits while an instance is ready.
func (d *Decider) observeBacklog(dt time.Duration, s Sample) {
	d.planned, d.backlog = 0, 0
	cc := d.spec.ContainerConcurrency
	if d.spec.Metric != api.MetricConcurrency || cc <= 0 || dt <= 0 {
		return
	}
	secs := dt.Seconds()
	d.rate = float64(max(s.Requests, 0)) / secs
	ready := max(s.Ready, 0)
	queued := s.InFlight - ready*cc
	decay := math.Exp2(-secs / d.spec.PanicWindow.Seconds())
	d.busy, d.done = d.busy*decay, d.done*decay
	switch slots := min(ready, d.ready) * cc; {
	case queued > 0 && slots > 0:
		if done := float64(s.Requests) + float64(d.inFlight-s.InFlight); done > 0 {
			d.busy += secs * float64(slots)
			d.done += done
		}
	case queued <= 0 && s.Requests > 0 && s.Concurrency > 0:
		d.busy += s.Concurrency * secs
		d.done += float64(s.Requests)
	}
	d.svc = 0
	if d.done >= minCompletions {
		d.svc = d.busy / d.done
	}
	d.backlog, d.oldest = max(queued, 0), s.OldestWait
	d.planned = d.backlogPlan(s.InFlight, ready, s.OldestWait)
}

// backlogPlan is the concurrency that serves the arrival rate and drains
// the requests waiting beyond the ready instances' slots within the
// horizon: (rate + waiting / horizon) × time per request. The horizon is
// the panic window (6s by default: the span the KPA already reacts in),
// shortened to what is left before the oldest waiting request's deadline
// when both are known, and at least minDrain. It is 0 (no plan) with
// nothing waiting, no instance ready (a cold start: one slot per waiting
// request, since nothing is known of the requests yet) or no estimate of
// a request's time.
//
// Example: one ready instance with containerConcurrency 10, 100ms
// requests arriving at 300/s, 1,000 waiting: (300 + 1000/6) × 0.1 = 47
// in flight, 7 instances at 70% of 10; one slot per waiting request
// would be 144.
func (d *Decider) backlogPlan(inFlight, ready int, oldest time.Duration) float64 {
	cc := d.spec.ContainerConcurrency
	queued := inFlight - ready*cc
	if cc <= 0 || queued <= 0 || ready <= 0 || !(d.svc > 0) {
		return 0
	}
	h := d.spec.PanicWindow
	if d.spec.RequestTimeout > 0 && oldest > 0 {
		h = min(h, d.spec.RequestTimeout-oldest)
	}
	h = max(h, minDrain)
	return (d.rate + float64(queued)/h.Seconds()) * d.svc
}

// explainPlan marks a decision made on a sample the backlog plan lowered
// (StepBacklogPlan), and one made while the windows still hold such
// samples (PlanInWindows).
func (d *Decider) explainPlan(now time.Time, dec *Decision) {
	dec.PlanInWindows = !d.plannedAt.IsZero() && now.Sub(d.plannedAt) < d.spec.StableWindow
	if d.lowered {
		dec.Steps |= StepBacklogPlan
		dec.Backlog, dec.Planned, dec.ArrivalRate, dec.RequestTime = d.backlog, d.planned, d.rate, d.svc
	}
}
