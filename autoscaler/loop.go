package autoscaler

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

// Run samples and decides until ctx ends, then returns nil. Everything that
// touches a Decider or calls the Scaler happens on this one goroutine, so a
// revision's Scale calls are made in the order its decisions were, and a
// Wake is never overtaken by an older decision. Running it twice at once
// is an error.
func (a *Autoscaler) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("autoscaler: Run is already running")
	}
	defer a.running.Store(false)
	t := a.clock.NewTicker(a.sampleTick)
	defer t.Stop()
	ticks := 0
	tick := func() {
		ticks++
		a.tick(ctx, ticks%a.decideTick == 0)
	}
	a.work(ctx) // revisions upserted (and wakes) before Run started
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.kick:
			a.work(ctx)
		case <-t.C():
			tick()
		case done := <-a.barrier:
			// A tick already delivered is handled before the barrier lifts,
			// so a test that stepped the clock sees its effect.
			select {
			case <-t.C():
				tick()
			default:
			}
			a.work(ctx)
			close(done)
		}
	}
}

// flush returns once the loop has handled everything asked of it before
// the call (Upserts, Wakes, a tick the clock already delivered) and made
// the Scale calls that followed. Tests use it as a barrier instead of
// sleeping; it needs Run to be running.
func (a *Autoscaler) flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case a.barrier <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// work handles the revisions Wake and Upsert queued: a woken revision is
// sampled and activated; every one then gets its count applied.
func (a *Autoscaler) work(ctx context.Context) {
	a.pendMu.Lock()
	batch := a.pending
	a.pending = a.spare[:0]
	a.pendMu.Unlock()
	for _, r := range batch {
		// Clear the flag before sampling: a Wake that lands after the
		// sample queues the revision again instead of being lost.
		if r.woken.Swap(false) {
			a.step(r, stepActivate)
		}
		a.settle(ctx, r)
	}
	clear(batch) // do not keep forgotten revisions alive
	a.spare = batch
}

// tick samples every revision and, on decision ticks, decides and applies.
func (a *Autoscaler) tick(ctx context.Context, decide bool) {
	mode := stepRecord
	if decide {
		mode = stepDecide
	}
	a.revs.Range(func(_, v any) bool {
		r := v.(*revision)
		a.step(r, mode)
		if decide {
			// Also retries a Scale that failed at an earlier decision.
			a.settle(ctx, r)
			a.expire(r)
		}
		return true
	})
}

// expire drops r's gauges once it has been idle for SeriesIdle. Under
// r.mu, as every gauge write, so it cannot race Forget or a decision.
func (a *Autoscaler) expire(r *revision) {
	if r.metrics == nil {
		return
	}
	r.mu.Lock()
	if !r.forgotten {
		r.metrics.expire(a.clock.Now())
	}
	r.mu.Unlock()
}

type stepMode int

const (
	stepRecord   stepMode = iota // sample only
	stepDecide                   // sample, then Decide
	stepActivate                 // sample, then Activate (the Wake path)
)

// step samples r (outside r's lock: Sample is the activator's code and
// may take its locks), feeds the sample to the Decider and, unless only
// recording, runs the decision. Every decision goes on the gauges and is
// one log line: at info when it changed the count or the panic mode (and
// into the revision's history), at debug otherwise.
func (a *Autoscaler) step(r *revision, mode stepMode) {
	s := a.sample(r.key)
	now := a.clock.Now()
	r.mu.Lock()
	if r.forgotten {
		r.mu.Unlock()
		return
	}
	if s.NoData && mode != stepActivate {
		r.mu.Unlock()
		return
	}
	if !s.NoData {
		r.decider.Record(now, s)
	}
	var dec Decision
	switch mode {
	case stepRecord:
		if !s.NoData {
			r.trace.setReady(now.UnixNano(), s.Ready)
		}
		r.mu.Unlock()
		return
	case stepDecide:
		dec = r.decider.Decide(now)
	case stepActivate:
		dec = r.decider.Activate(now, s.InFlight)
	}
	r.desired = dec.Desired
	r.last = dec
	if !dec.Activation {
		r.observed = [2]float64{dec.Stable, dec.Panic}
	}
	r.trace.add(markOf(dec, r.observed))
	changed := dec.Changed()
	if changed {
		r.remember(dec, a.history)
	}
	// Under r.mu, so it cannot land after Forget deleted the series.
	r.metrics.set(dec, now)
	r.mu.Unlock()
	level := zap.DebugLevel
	if changed {
		level = zap.InfoLevel
	}
	if ce := a.log.Check(level, "decision"); ce != nil {
		ce.Write(decisionFields(r.name, dec)...)
	}
}

// remember puts a decision in r's history ring. Under r.mu.
func (r *revision) remember(d Decision, size int) {
	if len(r.history) < size {
		r.history = append(r.history, d)
		return
	}
	r.history[r.next] = d
	r.next = (r.next + 1) % size
}

// decisionFields are a decision's structured log fields.
func decisionFields(rev string, d Decision) []zap.Field {
	f := []zap.Field{
		zap.String("revision", rev), zap.Int("from", d.Previous), zap.Int("to", d.Desired),
		zap.Int("ready", d.Ready), zap.Int("inFlight", d.InFlight), zap.String("metric", d.Metric),
	}
	if !d.Activation { // a wake decides on the requests waiting, not on averages
		f = append(f, zap.Float64("stable", d.Stable), zap.Float64("panic", d.Panic))
	}
	return append(f, zap.Float64("target", d.TargetValue), zap.Bool("panicking", d.Panicking),
		zap.Bool("activation", d.Activation), zap.String("reason", d.Reason()))
}

// settle asks the Scaler for r's desired count when the Scaler has not yet
// accepted it: after a change, once after Upsert, and again at each
// decision after a failure. The only lock held during the call is r's
// actuation lock, which nothing but Forget waits on (so that no Scale
// follows Forget): Wake, Desired and the decision state stay free.
func (a *Autoscaler) settle(ctx context.Context, r *revision) {
	r.scaleMu.Lock()
	defer r.scaleMu.Unlock()
	r.mu.Lock()
	n, gone := r.desired, r.forgotten
	r.mu.Unlock()
	if gone || n == r.applied {
		return
	}
	if err := a.scaler.Scale(ctx, r.key, n); err != nil {
		if ctx.Err() == nil { // failing because we are shutting down is not news
			a.log.Warn("scale failed, retrying at the next decision", zap.String("revision", r.name), zap.Int("to", n), zap.Error(err))
		}
		return
	}
	r.applied = n
}
