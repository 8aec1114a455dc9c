package autoscaler

import (
	"math"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// DefaultScaleToZeroGracePeriod is Knative's scale-to-zero-grace-period:
// how long Knative keeps the last pod once the activator was put back in
// the request path, so that the activator's endpoints are programmed
// before the pod goes. wake's activator is always in the path (Knative's
// target-burst-capacity -1), so, as in Knative with that setting, the
// grace never delays zero; the key is accepted so that a Knative
// ConfigMap loads unchanged.
const DefaultScaleToZeroGracePeriod = 30 * time.Second

// initialScaleDeadline is how long initial-scale holds when the revision
// never reaches it (Knative's progress deadline, 600s, plus its 10s
// buffer): a revision whose instances cannot start is not kept trying at
// full size for ever.
const initialScaleDeadline = 610 * time.Second

// Sample is what the activator saw for one revision since the previous
// sample.
type Sample struct {
	Concurrency float64 // time-weighted average of (in flight + queued) over the sampled period
	InFlight    int     // in flight + queued right now
	Requests    int64   // requests that arrived during the period
	Ready       int     // instances ready to take requests now
	// OldestWait is how long the oldest request held by the activator has
	// waited (0: none, or not reported). It tightens the horizon a
	// backlog is planned to drain in (see Decider).
	OldestWait time.Duration
	// NoData: the source saw nothing of the period (in Kubernetes mode, no
	// gateway reported). It is not recorded, and no decision is made on
	// it: zeros would read as an idle revision and scale it down.
	NoData bool
}

// Decider is one revision's scaling decision, Knative's KPA: state and
// math only. It reads no clock and starts no goroutine; every method takes
// the time, so tests and the simulator drive it in simulated time. It is
// not safe for concurrent use.
//
// Per decision (Knative's pkg/autoscaler/scaling, then its KPA scaler):
//
//  1. stable and panic averages of the metric (concurrency, or requests
//     per second) over the stable window and the panic window;
//  2. wanted = ceil(average / TargetValue) for each, kept within one
//     step's rates: at most ceil(MaxScaleUpRate × ready), at least
//     floor(ready / MaxScaleDownRate), ready counted as 1 when 0; any
//     load asks for at least ActivationScale;
//  3. panic begins when panic-wanted / ready ≥ PanicThreshold and lasts
//     until a whole stable window has passed without crossing it; while
//     panicking the count is the larger of both wants and never drops;
//     with a backlog held on ready instances (containerConcurrency set,
//     every instance full), the concurrency recorded and woken on is not
//     the requests present but what the arrival rate and the backlog's
//     drain need (see backlogPlan, wake's addition): Knative counts every
//     waiting request as a slot, so a 5s start under 300 rps asks for
//     ~150 instances for a load that needs 5;
//  4. with ScaleDownDelay, the count is the highest of the trailing delay;
//     and it never falls below what the requests in flight and queued now
//     need at the target (wake's addition, see inFlightFloor);
//  5. bounds: MinScale (or InitialScale until first reached), MaxScale;
//     MinScale is raised by a min-scale-schedule entry holding at the
//     time, which also counts as a want (see scheduled);
//  6. zero as Knative's KPA scaler reaches it with the activator always
//     in the path: the first decision that comes to 0 (the stable average
//     is 0, the revision active for a stable window) marks it inactive,
//     and it goes to zero at once, or, with
//     scale-to-zero-pod-retention-period, at the first decision after it
//     has been inactive that long (keeping one instance until then). So
//     zero comes at the first decision after the stable average reaches
//     0, plus the retention. The grace period does not delay it (see
//     DefaultScaleToZeroGracePeriod). wake adds: never with a request in
//     flight or queued.
type Decider struct {
	spec    Spec
	start   time.Time
	window  *window // of the spec's metric
	since   time.Time
	delay   *maxWindow // nil without ScaleDownDelay
	carried int64      // requests of a sample with no elapsed time, for the next

	// The backlog plan (concurrency metric with containerConcurrency).
	svc       float64       // estimated seconds one request takes; 0: unknown yet
	busy      float64       // busy slot-seconds, decayed, for svc
	done      float64       // requests completed, decayed, for svc
	rate      float64       // requests arriving per second over the last sampled period
	planned   float64       // the concurrency the backlog plan needs now; 0: no backlog plan
	backlog   int           // requests waiting beyond the ready instances' slots at the last sample
	oldest    time.Duration // the oldest waiting request's wait at the last sample
	lowered   bool          // the plan lowered the last sample's concurrency
	plannedAt time.Time     // the last sample the plan lowered: the windows hold planned values until a stable window after

	recorded       bool      // a sample arrived: there is data to scale on
	lastRecord     time.Time // end of the last sampled period
	activeSince    time.Time // when the count last rose from 0 (or the Decider started)
	inactiveSince  time.Time // zero: active; else the decision that first came to 0 (Knative's PA Active=False)
	inFlight       int       // in flight + queued at the last sample or activation
	ready          int       // ready instances at the last sample
	initialReached bool      // ready reached InitialScale once (or there was none to reach)
	unreachable    bool      // no route sends it traffic: min-scale does not hold (Knative's reachability)
	waitingSince   time.Time // rps: first wake since no instance was ready
	panicTime      time.Time // zero: not panicking; else the last time the panic threshold was crossed
	maxPanic       int       // highest count decided in this panic
	desired        int
}

// NewDecider returns a Decider for a revision. initial says the revision
// was just created: it starts at InitialScale and holds it as a floor until
// that many instances were ready once. Otherwise (a revision wake adopted
// after a restart) it starts at MinScale.
func NewDecider(spec Spec, now time.Time, initial bool) *Decider {
	d := &Decider{start: now, lastRecord: now, activeSince: now}
	d.setSpec(spec.normalize())
	d.desired, _ = d.minScale(now)
	d.initialReached = !initial || d.spec.InitialScale <= d.spec.MinScale
	if initial {
		d.desired = max(d.spec.InitialScale, d.spec.MinScale)
	}
	return d
}

// Adopt starts the Decider from n instances already running, when that is
// more than it would start with.
func (d *Decider) Adopt(n int) { d.desired = max(d.desired, n) }

// Desired is the count the Decider last decided (its starting count before
// any decision).
func (d *Decider) Desired() int { return d.desired }

// Spec is the settings in force.
func (d *Decider) Spec() Spec { return d.spec }

// EffectiveMinScale is the minimum in force at now: min-scale raised by
// the min-scale-schedule entries holding, none when no route reaches the
// revision; entry is the schedule's entry that raised it (0: none).
func (d *Decider) EffectiveMinScale(now time.Time) (n, entry int) { return d.minScale(now) }

// Panicking reports whether the last decision left the revision in panic
// mode.
func (d *Decider) Panicking() bool { return !d.panicTime.IsZero() }

// SetSpec changes the settings, keeping what was observed where it still
// means the same: a changed window or metric starts an empty window.
func (d *Decider) SetSpec(s Spec) { d.setSpec(s.normalize()) }

func (d *Decider) setSpec(s Spec) {
	if d.window == nil || s.StableWindow != d.spec.StableWindow || s.Metric != d.spec.Metric {
		d.window = newWindow(s.StableWindow, d.start)
		d.since = d.lastRecord
	}
	if s.ScaleDownDelay != d.spec.ScaleDownDelay || (d.delay == nil) != (s.ScaleDownDelay <= 0) {
		d.delay = nil
		if s.ScaleDownDelay > 0 {
			d.delay = &maxWindow{size: s.ScaleDownDelay}
		}
	}
	d.spec = s
}

// SetReachable says whether a route sends the revision traffic (a share or
// a tag). As in Knative, a revision no route reaches keeps no min-scale
// and scales down without the down rate's limit: an old revision pinned
// by min-scale stops costing once traffic has moved away. New revisions
// count as reachable until told otherwise.
func (d *Decider) SetReachable(reachable bool) { d.unreachable = !reachable }

// Record adds a sample covering the period since the previous Record (or
// since the Decider started).
func (d *Decider) Record(now time.Time, s Sample) {
	if now.After(d.lastRecord) {
		v := s.Concurrency
		d.observeBacklog(now.Sub(d.lastRecord), s)
		if d.lowered = d.planned > 0 && d.planned < v; d.lowered {
			v, d.plannedAt = d.planned, now
		}
		if d.spec.Metric == api.MetricRPS {
			v = float64(s.Requests+d.carried) / now.Sub(d.lastRecord).Seconds()
			d.carried = 0
		}
		d.window.record(d.lastRecord, now, v)
		d.lastRecord = now
	} else {
		d.carried += s.Requests
	}
	d.recorded = true
	d.inFlight = max(s.InFlight, 0)
	d.ready = max(s.Ready, 0)
	if d.ready > 0 {
		d.waitingSince = time.Time{}
	}
	if d.ready >= d.spec.InitialScale {
		d.initialReached = true
	}
}

// Decide returns the count for the revision from what was observed up to
// now, and remembers it. See Decider for the rules.
func (d *Decider) Decide(now time.Time) Decision {
	sp := d.spec
	dec := Decision{At: now, Previous: d.desired, Ready: d.ready, InFlight: d.inFlight,
		Metric: sp.Metric, TargetValue: sp.TargetValue, StableWindow: sp.StableWindow, PanicWindow: sp.PanicWindow}
	if !d.recorded {
		// Knative's "no data to scale on yet": keep the count.
		dec.Desired, dec.Steps = d.desired, StepNoData
		dec.Panicking = d.Panicking()
		return dec
	}
	dec.Stable, dec.StableSpan = d.window.average(now, d.since, sp.StableWindow)
	dec.Panic, dec.PanicSpan = d.window.average(now, d.since, sp.PanicWindow)
	dec.StableWant = ceilRatio(dec.Stable, sp.TargetValue)
	dec.PanicWant = ceilRatio(dec.Panic, sp.TargetValue)

	readyF := math.Max(1, float64(d.ready))
	dec.MaxUp = int(math.Min(math.Ceil(sp.MaxScaleUpRate*readyF), math.MaxInt32))
	if !d.unreachable {
		dec.MaxDown = int(math.Floor(readyF / sp.MaxScaleDownRate))
	}
	stable, stableSteps := dec.rateLimit(dec.StableWant)
	panic, panicSteps := dec.rateLimit(dec.PanicWant)
	if sp.ActivationScale > 1 {
		if dec.StableWant > 0 && stable < sp.ActivationScale {
			stable, stableSteps = sp.ActivationScale, stableSteps|StepActivationScale
		}
		if dec.PanicWant > 0 && panic < sp.ActivationScale {
			panic, panicSteps = sp.ActivationScale, panicSteps|StepActivationScale
		}
	}

	over := float64(dec.PanicWant)/readyF >= sp.PanicThreshold
	switch {
	case over && d.panicTime.IsZero():
		d.panicTime, dec.Steps = now, dec.Steps|StepPanicEnter
	case over:
		d.panicTime = now
	case !d.panicTime.IsZero() && d.panicTime.Add(sp.StableWindow).Before(now):
		d.panicTime, d.maxPanic, dec.Steps = time.Time{}, 0, dec.Steps|StepPanicExit
	}
	want := stable
	if !d.panicTime.IsZero() {
		dec.Panicking = true
		want = max(stable, panic)
		if want < d.maxPanic {
			dec.Steps |= StepPanicHold
		}
		d.maxPanic = max(d.maxPanic, want)
		want = d.maxPanic
	}
	// Explain the rules that made the count, not those of a want that lost.
	switch {
	case want == stable:
		dec.Steps |= stableSteps
	case want == panic:
		dec.Steps |= panicSteps
	}
	d.explainPlan(now, &dec)
	want = d.scheduled(now, want, &dec)
	want = d.delayed(now, want, &dec)
	want = d.inFlightFloor(want, &dec)
	d.desired = d.finish(now, want, &dec)
	dec.Desired = d.desired
	return dec
}

// rateLimit keeps a want within one decision's rates, and says which
// limit it met.
func (dec *Decision) rateLimit(n int) (int, Step) {
	switch {
	case n > dec.MaxUp:
		return dec.MaxUp, StepScaleUpRate
	case n < dec.MaxDown:
		return dec.MaxDown, StepScaleDownRate
	}
	return n, 0
}

// inFlightFloor keeps a scale-down from going below what the requests in
// flight and queued right now need at the target. The averages lag a
// rising load: without this floor, a decision would take back the
// instances a wake just started for queued requests, the next wake would
// start them again, and the count would flap every tick. This is wake's
// addition to the KPA; it never raises the count, only stops a fall. It
// applies to the concurrency metric only.
func (d *Decider) inFlightFloor(want int, dec *Decision) int {
	if want >= d.desired || d.spec.Metric != api.MetricConcurrency {
		return want // requests in flight are no measure of a rate
	}
	present := float64(d.inFlight)
	if d.planned > 0 {
		present = min(present, d.planned) // the waiting requests as the plan counts them
	}
	need := min(ceilRatio(present, d.spec.TargetValue), d.desired)
	if need > want {
		dec.Steps |= StepInFlightFloor
		dec.InFlightNeed = need
		return need
	}
	return want
}

// minScale is the minimum in force at now, and the min-scale-schedule
// entry that raised it (0: none). As in Knative, no minimum holds for a
// revision no route reaches.
func (d *Decider) minScale(now time.Time) (n, entry int) {
	if d.unreachable {
		return 0, 0
	}
	return d.spec.MinScaleAt(now)
}

// scheduled applies a min-scale-schedule entry holding now as a want, not
// only as a bound: the scale-down delay remembers it, and the revision
// stays active while it holds, so when its window closes the count comes
// down by the usual rules (scale-down delay, scale-down rate, then zero
// as an idle revision's), not all at once.
func (d *Decider) scheduled(now time.Time, want int, dec *Decision) int {
	n, entry := d.minScale(now)
	if entry == 0 {
		return want
	}
	if n > want {
		dec.Steps |= StepMinScaleSchedule
		dec.ScheduleEntry, dec.ScheduleMin = entry, n
		return n
	}
	return want
}

// delayed applies scale-down-delay: the count is the highest wanted over
// the trailing delay.
func (d *Decider) delayed(now time.Time, want int, dec *Decision) int {
	if d.delay == nil {
		return want
	}
	d.delay.record(now, want)
	if m := d.delay.max(now); m > want {
		dec.Steps |= StepScaleDownDelay
		dec.BeforeDelay = want
		return m
	}
	return want
}

// finish applies the bounds and the scale-to-zero rules, the last steps
// of both Decide and Activate.
func (d *Decider) finish(now time.Time, want int, dec *Decision) int {
	sp := d.spec
	lo, entry := d.minScale(now)
	floor := lo
	if !d.initialReached && now.Sub(d.start) < initialScaleDeadline && sp.InitialScale > lo {
		lo = sp.InitialScale
		if want < lo {
			dec.Steps |= StepInitialScale
		}
	}
	switch {
	case want < lo:
		want = lo
		switch {
		case lo != floor: // initial-scale, flagged above
		case entry > 0:
			dec.Steps |= StepMinScaleSchedule
			dec.ScheduleEntry, dec.ScheduleMin = entry, lo
		default:
			dec.Steps |= StepMinScale
		}
	case d.unreachable && want < d.reachableMin(now):
		dec.Steps |= StepUnreachable
	case want > sp.MaxScale:
		want, dec.Steps = sp.MaxScale, dec.Steps|StepMaxScale
	}
	if want > 0 || d.desired == 0 {
		if want > 0 && (d.desired == 0 || !d.inactiveSince.IsZero()) {
			// Knative's PA turns Active again: its active time restarts.
			d.inactiveSince, d.activeSince = time.Time{}, now
		}
		return want
	}
	// Knative's KPA scaler (handleScaleToZero) with the activator in the
	// path: active for a stable window → inactive → zero once inactive for
	// the retention period, at a later decision.
	dec.ActiveFor = now.Sub(d.activeSince)
	dec.ZeroAfter = sp.Retention
	switch {
	case !sp.ScaleToZero:
		dec.Steps |= StepNoScaleToZero
	case d.inFlight > 0:
		d.inactiveSince = time.Time{}
		dec.Steps |= StepInFlight
	case dec.ActiveFor < sp.StableWindow:
		dec.Steps |= StepActiveWait
	default:
		if d.inactiveSince.IsZero() {
			d.inactiveSince = now
		}
		dec.IdleFor = now.Sub(d.inactiveSince)
		if dec.IdleFor < sp.Retention {
			dec.Steps |= StepIdleWait
			break
		}
		d.inactiveSince = time.Time{}
		dec.Steps |= StepToZero
		return 0
	}
	return 1
}

// reachableMin is the minimum that would hold were a route to reach the
// revision.
func (d *Decider) reachableMin(now time.Time) int {
	n, _ := d.spec.MinScaleAt(now)
	return n
}

// Activate is the Wake path: a request arrived and found no instance, or
// every instance full, with inFlight requests in flight and queued. It
// never lowers the count, asks for at least ActivationScale instances, and
// enough for everything waiting at once — a burst of 200 at zero with
// target 100 (70 after utilization) starts 3 instances, not one after
// another. Waiting requests far above what is ready (past the panic
// threshold) start panic mode, as the activator's burst does in Knative,
// so the next decisions do not take the instances back before the stable
// window has seen the burst. It makes the revision active again.
func (d *Decider) Activate(now time.Time, inFlight int) Decision {
	sp := d.spec
	inFlight = max(inFlight, 0)
	d.inFlight = max(d.inFlight, inFlight)
	dec := Decision{At: now, Previous: d.desired, Ready: d.ready, InFlight: inFlight, Activation: true,
		Metric: sp.Metric, TargetValue: sp.TargetValue, StableWindow: sp.StableWindow, PanicWindow: sp.PanicWindow}
	demand := d.waitingDemand(now, inFlight)
	if d.planned > 0 && sp.Metric == api.MetricConcurrency {
		// The sample just taken planned for the backlog: wake for that,
		// not for one slot per waiting request.
		if planned := d.backlogPlan(inFlight, d.ready, d.oldest); planned > 0 && planned < demand {
			demand, d.planned = planned, planned
			d.lowered, d.plannedAt = true, now
		}
		d.explainPlan(now, &dec)
	}
	if sp.Metric == api.MetricRPS {
		dec.Panic = demand
	}
	dec.PanicWant = ceilRatio(demand, sp.TargetValue)
	readyF := math.Max(1, float64(d.ready))
	dec.MaxUp = int(math.Min(math.Ceil(sp.MaxScaleUpRate*readyF), math.MaxInt32))
	want := max(d.desired, 1, sp.ActivationScale, min(dec.PanicWant, dec.MaxUp))
	if dec.PanicWant > dec.MaxUp && want == dec.MaxUp {
		dec.Steps |= StepScaleUpRate
	}
	if float64(dec.PanicWant)/readyF >= sp.PanicThreshold {
		if d.panicTime.IsZero() {
			dec.Steps |= StepPanicEnter
		}
		d.panicTime = now
	}
	if !d.panicTime.IsZero() {
		dec.Panicking = true
		d.maxPanic = max(d.maxPanic, want)
		want = d.maxPanic
	}
	want = d.delayed(now, want, &dec)
	// A wake is activity, whatever the count: a revision woken ahead of
	// work (a cron trigger's pre-warm) while still up from the last stays
	// up a stable window from now, as one woken from zero does.
	d.inactiveSince, d.activeSince = time.Time{}, now
	d.desired = max(d.desired, d.finish(now, want, &dec))
	dec.Desired = d.desired
	return dec
}

// minWaitSpan bounds how short a span the rps estimate of a wake divides
// by: requests that queued within a few milliseconds say little about a
// rate.
const minWaitSpan = 100 * time.Millisecond

// waitingDemand is the demand a wake sees. As concurrency: the requests
// in flight and waiting. As requests per second, at zero: the requests
// waiting over the time they have been arriving (at least minWaitSpan), so
// a burst of short requests asks for what its rate needs, not for one
// second's worth; with instances ready (all full): the panic window's
// rate, since requests in flight say nothing of a rate (10 s requests at
// 100/s are 1,000 in flight).
func (d *Decider) waitingDemand(now time.Time, inFlight int) float64 {
	if d.spec.Metric != api.MetricRPS {
		return float64(inFlight)
	}
	if d.ready > 0 {
		d.waitingSince = time.Time{}
		rate, _ := d.window.average(now, d.since, d.spec.PanicWindow)
		return rate
	}
	if d.waitingSince.IsZero() {
		d.waitingSince = now
	}
	return float64(inFlight) / max(now.Sub(d.waitingSince), minWaitSpan).Seconds()
}
