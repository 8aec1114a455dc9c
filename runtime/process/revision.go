package process

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/image"
)

// Why an instance was stopped, in the "instance stopped" log line.
const (
	reasonScaleDown    = "scale-down"
	reasonCrashed      = "crashed"
	reasonShutdown     = "shutdown"
	reasonRemoved      = "removed"
	reasonDeadline     = "progress-deadline"
	reasonStartupProbe = "startup-probe"
	reasonWarmupFailed = "warmup-failed"
)

// Restart backoff: the n-th consecutive failure waits
// backoffInitial·2^(n-1), at most backoffMax, before the next start. The
// count starts over once an instance has been ready for backoffReset.
const (
	backoffInitial = time.Second
	backoffMax     = time.Minute
	backoffReset   = 30 * time.Second
)

// backoff returns the wait before the next start after the failures-th
// consecutive failure.
func backoff(failures int) time.Duration {
	d := backoffInitial
	for i := 1; i < failures && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// nextFailures returns the consecutive failure count after a failure at
// now, the previous one having been at last. The count starts over when an
// instance reached backoffReset of continuous readiness since the last
// failure; readySince holds when each instance that is (or was until this
// failure) ready became so.
func nextFailures(prev int, last, now time.Time, readySince []time.Time) int {
	for _, s := range readySince {
		if s.IsZero() {
			continue
		}
		if stable := s.Add(backoffReset); stable.After(last) && !stable.After(now) {
			return 1
		}
	}
	return prev + 1
}

// revision is one deployed revision: its desired count, its live instances
// and its failure state, guarded by mu, and the goroutine (loop) that
// starts and stops instances to meet the desired count. Instances report
// to it through its methods; every change is pushed to notify while mu is
// held, so snapshots are delivered in the order of the changes.
type revision struct {
	rt     *Runtime
	spec   *revSpec
	log    *zap.Logger
	notify *runtime.Notifier
	wake   chan struct{} // cap 1: reconcile again
	done   chan struct{} // closed by stopAll: the loop ends
	idle   chan struct{} // closed once stopped and every instance goroutine returned

	// loopMu guards looping and ended; taken after mu where both are
	// held. The loop runs only while there is work (a poke not yet
	// reconciled, a backoff to wait out): a revision at rest, however
	// many there are, costs no goroutine.
	loopMu  sync.Mutex
	looping bool // a loop goroutine runs
	ended   bool // stopAll ran: no loop starts again

	mu           sync.Mutex
	target       int         // the last count asked through Scale
	desired      int         // target, once reconcile applied it: reports never count more live instances
	dirty        bool        // desired changed since the last report
	instances    []*instance // live (starting, ready or unready), in start order
	pendingExits int         // exits whose failure is not recorded yet: no start until then
	failure      *runtime.Failure
	warmup       *runtime.Failure    // the latest failed warm-up; nil once one passes
	failures     int                 // consecutive
	lastFailure  time.Time           // when failures was last incremented
	retryAt      time.Time           // no start before
	seq          uint64              // of the last report
	lastExit     *runtime.Failure    // the latest instance that ended on its own
	image        *runtime.ImageState // an image revision's, once resolving began
	img          *image.Image        // once pulled
	stopped      bool
	running      int // instance goroutines not returned
}

func newRevision(rt *Runtime, spec *revSpec) *revision {
	return &revision{
		rt:     rt,
		spec:   spec,
		log:    rt.log.With(zap.String("revision", spec.key.String())),
		notify: runtime.NewNotifier(spec.key, rt.opts.Observer, &rt.notified),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		idle:   make(chan struct{}),
	}
}

// poke asks for a reconcile, and starts the loop when none runs.
func (r *revision) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
	r.loopMu.Lock()
	defer r.loopMu.Unlock()
	if r.looping || r.ended {
		return
	}
	r.looping = true
	r.rt.wg.Add(1)
	go r.loop()
}

func (r *revision) setDesired(n int) {
	r.mu.Lock()
	r.target = n
	r.mu.Unlock()
	r.poke()
}

// loop reconciles until nothing is left to do, then returns: it is
// started by poke, and a poke that comes while it is returning either is
// seen here (it sent before the check under loopMu) or starts a new loop
// (it checked looping after). A backoff keeps it waiting on a timer.
func (r *revision) loop() {
	defer r.rt.wg.Done()
	for {
		select { // the poke that started or woke this pass
		case <-r.wake:
		default:
		}
		wait := r.reconcile()
		if wait <= 0 {
			r.loopMu.Lock()
			select {
			case <-r.wake: // poked meanwhile: go on
				r.loopMu.Unlock()
				continue
			default:
			}
			r.looping = false
			r.loopMu.Unlock()
			return
		}
		timer := r.rt.clock.NewTimer(wait)
		select {
		case <-r.done:
			timer.Stop()
			r.loopMu.Lock()
			r.looping = false
			r.loopMu.Unlock()
			return
		case <-r.wake:
			timer.Stop()
		case <-timer.C():
		}
	}
}

// reconcile starts or stops instances toward the desired count. It returns
// how long to wait when a backoff holds starts back.
func (r *revision) reconcile() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return 0
	}
	if r.desired != r.target {
		r.desired, r.dirty = r.target, true
	}
	var wait time.Duration
	live := len(r.instances)
	switch {
	case live < r.desired && r.pendingExits == 0:
		now := r.rt.clock.Now()
		if now.Before(r.retryAt) {
			wait = r.retryAt.Sub(now)
			break
		}
		for ; live < r.desired; live++ {
			in := &instance{rev: r, seq: r.rt.seq.Add(1), stopCh: make(chan struct{}), scheduled: now}
			r.instances = append(r.instances, in)
			r.running++
			r.rt.wg.Add(1)
			go in.run()
		}
		r.dirty = true
	case live > r.desired:
		victims := pickVictims(r.instances, live-r.desired)
		for _, v := range victims {
			r.drop(v)
		}
		seq := r.report()
		for _, v := range victims {
			v.requestStop(reasonScaleDown, seq)
		}
		return 0
	}
	if r.dirty {
		r.report()
	}
	return wait
}

// pickVictims chooses n instances to stop: those never ready first, then
// the ones failing their probe, then the ready ones; newest first in each.
func pickVictims(live []*instance, n int) []*instance {
	var victims []*instance
	for _, ph := range []phase{phaseStarting, phaseUnready, phaseReady} {
		for i := len(live) - 1; i >= 0 && len(victims) < n; i-- {
			if live[i].phase == ph {
				victims = append(victims, live[i])
			}
		}
	}
	return victims
}

// drop takes in out of the live instances; it then counts neither as
// ready nor as starting. Called with mu held.
func (r *revision) drop(in *instance) {
	for i, x := range r.instances {
		if x == in {
			r.instances = append(r.instances[:i], r.instances[i+1:]...)
			break
		}
	}
	in.phase = phaseStopping
}

// report pushes a snapshot to the observer and returns its sequence
// number. Called with mu held.
func (r *revision) report() uint64 {
	s := runtime.State{Desired: r.desired}
	for _, in := range r.instances {
		if in.phase == phaseReady {
			s.Ready = append(s.Ready, runtime.Endpoint{ID: in.id, Addr: in.addr, Started: in.started})
		} else {
			s.Starting++
		}
	}
	if r.failure != nil {
		f := *r.failure
		s.Failure = &f
	}
	if r.warmup != nil {
		f := *r.warmup
		s.Warmup = &f
	}
	if r.image != nil {
		st := *r.image
		s.Image = &st
	}
	if r.lastExit != nil {
		f := *r.lastExit
		s.LastExit = &f
	}
	s.Progress = r.progressLocked()
	r.seq++
	r.dirty = false
	r.notify.Push(r.seq, s)
	return r.seq
}

// stopAll stops every instance for reason and ends the loop. It returns a
// channel closed once every instance goroutine has returned.
func (r *revision) stopAll(reason string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return r.idle
	}
	r.stopped = true
	close(r.done)
	r.loopMu.Lock()
	r.ended = true
	r.loopMu.Unlock()
	if reason == reasonRemoved {
		r.target, r.desired = 0, 0
	}
	victims := r.instances
	r.instances = nil
	for _, v := range victims {
		v.phase = phaseStopping
	}
	seq := r.report()
	for _, v := range victims {
		v.requestStop(reason, seq)
	}
	if r.running == 0 {
		close(r.idle)
	}
	return r.idle
}

// instanceDone is called by an instance goroutine as it returns.
func (r *revision) instanceDone() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running--
	if r.stopped && r.running == 0 {
		close(r.idle)
	}
}

// warmupOutcome is what an instance's warm-up says about the revision's
// State.Warmup as the instance joins Ready: nothing when no warm-up ran
// (none, or it ran before an earlier join), cleared when it passed, the
// failure when it failed and the policy is to serve anyway.
type warmupOutcome struct {
	ran     bool
	failure *runtime.Failure
}

// becameReady marks in ready, clears the failure, applies the warm-up's
// outcome and reports. times are the instance's start, kept on its first
// join. It returns false when in is already being stopped.
func (r *revision) becameReady(in *instance, times runtime.StartTimes, w warmupOutcome) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in.phase != phaseStarting && in.phase != phaseUnready {
		return false
	}
	in.phase = phaseReady
	in.everReady = true
	in.readySince = r.rt.clock.Now()
	if in.started == nil {
		in.started = &times
	}
	r.failure = nil
	if w.ran {
		r.warmup = w.failure
	}
	r.report()
	return true
}

// warmupFailed records a failed warm-up of an instance about to be
// stopped for it (the block policy); failed reports it.
func (r *revision) warmupFailed(f *runtime.Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warmup = f
}

// becameUnready takes a ready instance whose probe fails out of Ready,
// without stopping it.
func (r *revision) becameUnready(in *instance, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in.phase != phaseReady {
		return
	}
	in.phase = phaseUnready
	in.readySince = time.Time{}
	r.failure = &runtime.Failure{Reason: runtime.ReasonProbeFailed, Message: msg, At: r.rt.clock.Now(), Restarts: r.failures}
	r.report()
}

// exited takes an instance that exited on its own out of the live ones and
// reports at once. It returns false when the instance was being stopped
// anyway; otherwise the caller must call failed with live=false, and no
// instance starts until it has. It also returns whether in was ever ready
// and since when it was ready (zero when it was not at exit).
func (r *revision) exited(in *instance) (unexpected bool, readySince time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in.phase == phaseStopping {
		return false, time.Time{}
	}
	readySince = in.readySince
	r.drop(in)
	r.pendingExits++
	r.report()
	return true, readySince
}

// failed records a failure of in, sets the backoff, reports and pokes the
// loop for a replacement. live says in is still among the live instances
// (a failed exec, a start timeout); otherwise exited took it out before.
// It returns false, recording nothing, when a live in was being stopped
// anyway.
func (r *revision) failed(in *instance, live bool, reason, msg string, readySince time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if live {
		if in.phase == phaseStopping {
			return false
		}
		r.drop(in)
	} else {
		r.pendingExits--
	}
	if r.stopped {
		return true
	}
	now := r.rt.clock.Now()
	if !live {
		r.lastExit = &runtime.Failure{Reason: reason, Message: msg, At: now}
	}
	var since []time.Time
	for _, x := range r.instances {
		since = append(since, x.readySince)
	}
	r.failures = nextFailures(r.failures, r.lastFailure, now, append(since, readySince))
	r.lastFailure = now
	r.retryAt = now.Add(backoff(r.failures))
	if reason == runtime.ReasonProgressDeadline {
		r.retryAt = now.Add(max(backoff(r.failures), progressRetry))
	}
	switch {
	case reason == runtime.ReasonImagePullFailed || reason == runtime.ReasonContainersUnavailable || reason == runtime.ReasonCreateContainerConfig:
		// Only time or the user's change will mend these: a request
		// gets a 503 at once (Failure.Backoff) rather than waiting.
		if reason == runtime.ReasonImagePullFailed {
			reason = runtime.ReasonImagePullBackOff
		}
	case r.failures >= 2:
		reason = runtime.ReasonCrashLoopBackOff
	}
	r.failure = &runtime.Failure{Reason: reason, Message: msg, At: now, Restarts: r.failures, RetryAt: r.retryAt}
	r.report()
	r.poke()
	return true
}
