package autoscaler

import (
	"fmt"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// DefaultScaleToZeroGracePeriod is how long an idle revision keeps its last
// instance after its window has emptied, before going to zero (Knative's
// scale-to-zero-grace-period). It covers a client that pauses between
// requests a little longer than the window.
const DefaultScaleToZeroGracePeriod = 30 * time.Second

// Sample is what the activator saw for one revision since the previous
// sample.
type Sample struct {
	Concurrency float64 // time-weighted average of (in flight + queued) over the sampled period
	InFlight    int     // in flight + queued right now
	Requests    int64   // requests that arrived during the period
}

// Decision is a desired instance count and why.
type Decision struct {
	Desired int
	// Reason is for people and logs, e.g.
	// "average concurrency 12.4 over 1m0s / target 70 → 1".
	Reason string
}

// DeciderOptions configure a Decider.
type DeciderOptions struct {
	Scaling api.Scaling // the revision's settings, from (*api.Revision).Scaling()
	// Grace is how long an idle revision keeps an instance once its window
	// has seen no activity. 0 means DefaultScaleToZeroGracePeriod.
	Grace time.Duration
	// Now is when watching starts: the window, and the idle clock, begin
	// here.
	Now time.Time
	// Initial says the revision was just created: it starts at
	// InitialScale (at least MinScale, at most MaxScale) and holds that as a
	// floor for its first window, the time the window needs before its
	// average means anything; instances asked for at creation are not taken
	// back before they could serve. False (e.g. a revision wake adopted
	// after a restart) starts at MinScale.
	Initial bool
}

// Decider is one revision's scaling decision: state and math only. It
// reads no clock and starts no goroutine; every method takes the time, so
// tests drive it in simulated time. It is not safe for concurrent use.
//
// Between decisions it remembers the window of samples, when the revision
// was last active (the idle clock), how many requests were in flight at the
// last sample, and the count it last decided (which Activate only raises).
type Decider struct {
	scaling    api.Scaling
	grace      time.Duration
	start      time.Time // creation: the initial floor lasts one window from here
	initial    int       // floor during the first window; 0 when not a new revision
	window     *window
	since      time.Time // the window holds data from here on
	lastRecord time.Time // end of the last sampled period
	lastActive time.Time // idle clock: the last instant a request was seen starting, running or ending
	inFlight   int       // in flight + queued at the last sample or activation
	desired    int
}

// NewDecider returns a Decider for a revision, at its starting count.
func NewDecider(o DeciderOptions) *Decider {
	if o.Grace <= 0 {
		o.Grace = DefaultScaleToZeroGracePeriod
	}
	o.Scaling = normalize(o.Scaling)
	d := &Decider{
		scaling:    o.Scaling,
		grace:      o.Grace,
		start:      o.Now,
		window:     newWindow(o.Scaling.Window, o.Now),
		since:      o.Now,
		lastRecord: o.Now,
		lastActive: o.Now, // an untouched revision idles from its creation
	}
	d.desired = d.clamp(int(o.Scaling.MinScale))
	if o.Initial {
		d.initial = d.clamp(max(int(o.Scaling.InitialScale), int(o.Scaling.MinScale)))
		d.desired = d.initial
	}
	return d
}

// Desired is the count the Decider last decided (its starting count before
// any decision).
func (d *Decider) Desired() int { return d.desired }

// SetScaling changes the settings, keeping what was observed. A changed
// window starts empty: its buckets have another size. Revisions are
// immutable, so Upsert calls this with the same settings on every
// reconcile, which changes nothing.
func (d *Decider) SetScaling(s api.Scaling) {
	s = normalize(s)
	if s.Window != d.scaling.Window {
		d.window = newWindow(s.Window, d.start)
		d.since = d.lastRecord
	}
	d.scaling = s
}

// normalize puts defaults where a Scaling that never went through
// api.ParseScaling (a zero value in a test, a hand-built one) has holes, so
// the math never divides by zero or averages over nothing.
func normalize(s api.Scaling) api.Scaling {
	if !(s.Target >= api.MinTarget) {
		s.Target = api.DefaultTarget
	}
	if s.Window < api.MinWindow {
		s.Window = api.DefaultWindow
	}
	if s.MaxScale <= 0 || s.MaxScale > api.MaxScaleLimit {
		s.MaxScale = api.MaxScaleLimit // "no bound" still stops somewhere
	}
	return s
}

// Record adds a sample covering the period since the previous Record (or
// since the Decider started). A sample with any sign of a request — some
// concurrency, a request in flight or queued now, a request arrived —
// restarts the idle clock at now: the last request ended at most one
// sample period before, and erring late keeps an instance a moment longer
// rather than killing one early.
func (d *Decider) Record(now time.Time, s Sample) {
	if now.After(d.lastRecord) {
		d.window.record(d.lastRecord, now, s.Concurrency)
		d.lastRecord = now
	}
	d.inFlight = max(s.InFlight, 0)
	if s.Concurrency > 0 || s.InFlight > 0 || s.Requests > 0 {
		d.lastActive = later(d.lastActive, now)
	}
}

// Decide returns the count for the revision from what the window observed
// up to now, and remembers it.
//
//	desired = ceil(average / (Target × TargetUtilization)), at least the
//	requests in flight now over the same target, clamped to [MinScale,
//	MaxScale].
//
// The in-flight floor keeps Decide from undoing an activation: after a
// burst of 200 requests at zero the window's average is still small, and
// dropping the 3 instances Activate asked for would only queue the burst
// again (Knative's panic window answers the same problem; it replaces this
// floor when the KPA lands). While MinScale is 0, a revision with
// instances keeps one until nothing is in flight and no activity has been
// seen for Window + Grace; then desired is 0.
func (d *Decider) Decide(now time.Time) Decision {
	tgt := d.target()
	avg, span := d.window.average(now, d.since)
	want := ceilRatio(avg, tgt)
	reason := fmt.Sprintf("average concurrency %.1f over %v / target %.4g → %d", avg, span.Round(time.Second), tgt, want)
	if n := ceilRatio(float64(d.inFlight), tgt); n > want {
		want = n
		reason += fmt.Sprintf("; %d in flight now → %d", d.inFlight, n)
	}
	if d.initial > want && now.Before(d.start.Add(d.scaling.Window)) {
		want = d.initial
		reason += fmt.Sprintf("; initial scale %d held for the first window", d.initial)
	}
	if c := d.clamp(want); c != want {
		want = c
		reason += fmt.Sprintf("; clamped to [%d, %s]", d.scaling.MinScale, maxString(d.scaling.MaxScale))
	}
	if want == 0 && d.desired > 0 {
		zeroAt := d.lastActive.Add(d.scaling.Window + d.grace)
		switch {
		case d.inFlight > 0:
			want = 1
			reason += fmt.Sprintf("; %d in flight, keeping 1", d.inFlight)
		case now.Before(zeroAt):
			want = 1
			reason += fmt.Sprintf("; idle %v, keeping 1 until %v idle", now.Sub(d.lastActive).Round(time.Second), d.scaling.Window+d.grace)
		default:
			reason += fmt.Sprintf("; idle %v ≥ window %v + grace %v → 0", now.Sub(d.lastActive).Round(time.Second), d.scaling.Window, d.grace)
		}
	}
	d.desired = want
	return Decision{Desired: want, Reason: reason}
}

// Activate is the Wake path: a request arrived and found no instance, or
// every instance full, with inFlight requests in flight and queued. It
// never lowers the count, asks for at least one instance, and enough for
// everything waiting at once — a burst of 200 at zero with target 100
// (70 after utilization) starts 3 instances, not one after another. It
// restarts the idle clock.
func (d *Decider) Activate(now time.Time, inFlight int) Decision {
	inFlight = max(inFlight, 0)
	d.inFlight = max(d.inFlight, inFlight)
	d.lastActive = later(d.lastActive, now)
	tgt := d.target()
	need := ceilRatio(float64(inFlight), tgt)
	want := max(d.desired, 1, need)
	reason := fmt.Sprintf("activation: %d in flight / target %.4g → %d, had %d", inFlight, tgt, need, d.desired)
	if m := int(d.scaling.MaxScale); m > 0 && want > m {
		want = m
		reason += fmt.Sprintf("; clamped to max-scale %d", m)
	}
	d.desired = want
	return Decision{Desired: want, Reason: reason}
}

// target is the concurrency per instance the decision aims at.
// Scaling.Target is already capped by containerConcurrency.
func (d *Decider) target() float64 { return d.scaling.Target * api.TargetUtilization }

func (d *Decider) clamp(n int) int {
	n = max(n, int(d.scaling.MinScale))
	if m := int(d.scaling.MaxScale); m > 0 {
		n = min(n, m)
	}
	return n
}

func maxString(m int32) string {
	if m == 0 {
		return "∞"
	}
	return fmt.Sprint(m)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
