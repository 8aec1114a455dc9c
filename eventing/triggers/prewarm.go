package triggers

import (
	"context"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	api "github.com/wakefn/wake/api/v1"
)

// Prewarmer wakes the function a cron trigger delivers to ahead of each
// fire, so that the event meets a ready instance instead of a cold start.
// The control plane implements it; the Runner calls it from one goroutine
// per pre-warmed trigger, a few times per fire.
type Prewarmer interface {
	// Prewarm wakes the revisions that take the sink's events: the
	// tagged revision when tag is set, else every revision of the
	// function's route with a share of its traffic.
	Prewarm(sink api.FunctionKey, tag string)
	// PrewarmTiming is the default lead (how long before a fire to wake
	// the sink, when the trigger names none) and how long the sink stays
	// up once woken with nothing to do (0: it does not go to zero).
	PrewarmTiming(sink api.FunctionKey, tag string) (lead, idle time.Duration)
}

// DefaultPrewarmLead is the lead when neither the trigger nor the
// Prewarmer names one.
const DefaultPrewarmLead = 10 * time.Second

// prewarmSink is the function a trigger pre-warms; ok is false when the
// trigger is not pre-warmed (no Prewarmer, not cron, a uri sink, or
// wake.dev/prewarm: off).
func (r *Runner) prewarmSink(t *api.Trigger) (sink api.FunctionKey, ok bool) {
	if r.opts.Prewarmer == nil || t.Spec.Cron == nil || t.Spec.Sink.Function == "" {
		return api.FunctionKey{}, false
	}
	if _, off, _ := t.Prewarm(); off {
		return api.FunctionKey{}, false
	}
	return api.FunctionKey{Namespace: t.Namespace, Name: t.Spec.Sink.Function}, true
}

// startPrewarmLocked starts t's pre-warm loop, once the Runner has
// started. Under r.mu.
func (r *Runner) startPrewarmLocked(t *running) {
	if !t.prewarm || r.ctx == nil || t.prewarmDone != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	t.prewarmCancel, t.prewarmDone = cancel, make(chan struct{})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(t.prewarmDone)
		r.prewarmLoop(ctx, t)
	}()
}

// prewarmLoop wakes t's sink before each of its fires, on the injected
// clock, until ctx ends. The lead and the sink's idle time are looked up
// again for every fire, so they follow the sink's observed start times
// and a new revision's settings.
func (r *Runner) prewarmLoop(ctx context.Context, t *running) {
	log := r.log.With(zap.String("trigger", t.key))
	for {
		fire := t.schedule.Next(r.clock.Now())
		if fire.IsZero() {
			return
		}
		lead, idle := r.opts.Prewarmer.PrewarmTiming(t.prewarmSink, t.spec.Sink.Tag)
		if t.prewarmLead > 0 {
			lead = t.prewarmLead
		}
		if lead <= 0 {
			lead = DefaultPrewarmLead
		}
		at := fire.Add(-lead)
		if now := r.clock.Now(); at.Before(now) {
			at = now // the lead is longer than the time to the fire
		}
		for ok := true; ok; at, ok = nextPrewarm(at, fire, idle) {
			if !sleepUntil(ctx, r.clock, at) {
				return
			}
			r.opts.Prewarmer.Prewarm(t.prewarmSink, t.spec.Sink.Tag)
			r.metrics.prewarms.WithLabelValues(t.key).Inc()
			log.Debug("sink pre-warmed", zap.Time("fire", fire), zap.Duration("lead", lead), zap.Duration("idle", idle))
		}
		if !sleepUntil(ctx, r.clock, fire) {
			return
		}
	}
}

// nextPrewarm is when to wake a sink again after waking it at at, before
// a fire: when it would go back to zero before the fire (idle > 0), every
// idle/2 while the fire is more than idle/2 away, so that it is up at the
// fire with half its idle time to spare. ok is false when no more wake is
// needed.
func nextPrewarm(at, fire time.Time, idle time.Duration) (next time.Time, ok bool) {
	if idle <= 0 {
		return time.Time{}, false
	}
	step := max(idle/2, time.Second)
	if fire.Sub(at) <= step {
		return time.Time{}, false
	}
	return at.Add(step), true
}

// sleepUntil waits on clk until at (at once when it has passed); false
// when ctx ended first.
func sleepUntil(ctx context.Context, clk clock.Clock, at time.Time) bool {
	d := at.Sub(clk.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := clk.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C():
		return true
	}
}
