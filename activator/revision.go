package activator

import (
	"container/list"
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// revision is the activator's view of one revision: its ready endpoints,
// the requests in flight on each, and the requests queued for one.
//
// One mutex guards it all. Every request takes it twice (acquire, release)
// for a few dozen nanoseconds each; it is per revision, so functions never
// contend with each other.
type revision struct {
	key      api.RevisionKey
	fn       api.FunctionKey
	limit    int // containerConcurrency; 0 means no limit
	timeout  time.Duration
	h2c      bool
	metrics  *revisionMetrics
	protocol *protocolErrors // its instances' breaks of HTTP/1.1 framing

	mu        sync.Mutex
	endpoints []*endpoint
	draining  map[string]*endpoint // left the set, requests still in flight
	queue     list.List            // of *waiter, oldest first
	maxQueue  int
	queued    *budget // the activator's, over all revisions: one per queued request
	buffered  *budget // this revision's bytes of bodies held for a resend
	next      int     // round-robin start among equally loaded endpoints
	removed   bool    // unregistered: queued requests are failed
	failure   *runtime.Failure
	// activating is set from the first request queued at zero until an
	// endpoint is ready, so one wake-up counts as one cold start.
	activating bool

	// Concurrency accounting for the autoscaler: the current count (in
	// flight plus queued), and its integral over time since the last sample.
	current     int
	lastChange  time.Time
	area        float64 // request-seconds since periodStart
	periodStart time.Time
	arrived     atomic.Int64 // requests since the last sample, retries not counted again

	colds    coldLog  // the latest wake-ups from zero
	outcomes outcomes // requests, errors and latency since Register
}

// endpoint is a ready instance and its requests in flight.
type endpoint struct {
	runtime.Endpoint
	inflight int
	// brokenUntil is set when a connection to it was refused: it is skipped
	// until then, by which time the runtime has normally reported the
	// instance dead; if it has not, the instance gets another chance.
	// the runtime reports the set again without it.
	brokenUntil time.Time
	gone        bool
	drained     chan struct{} // closed once gone and idle
	pool        *connPool     // the fast path's idle connections to it
}

func newEndpoint(e runtime.Endpoint, protocol *protocolErrors) *endpoint {
	return &endpoint{Endpoint: e, drained: make(chan struct{}), pool: newConnPool(e.Addr, e.ID, protocol)}
}

// waiter is a request queued for an endpoint. Exactly one of: the
// dispatcher sends an endpoint on ch (its in-flight already counted), or
// the waiter removes itself from the queue.
type waiter struct {
	ch   chan *endpoint
	elem *list.Element
	err  error // set instead of an endpoint when the revision fails or goes away
}

func newRevision(key api.RevisionKey, fn api.FunctionKey, now time.Time, maxQueue int) *revision {
	return &revision{
		key:         key,
		fn:          fn,
		maxQueue:    maxQueue,
		queued:      newBudget(math.MaxInt64), // Register shares the activator's
		buffered:    newBudget(DefaultMaxRevisionBufferedBytes),
		draining:    make(map[string]*endpoint),
		lastChange:  now,
		periodStart: now,
	}
}

// busyLocked reports whether the revision has a request in flight or
// queued, or an instance: it keeps its series (see SeriesIdle).
func (rv *revision) busyLocked() bool {
	return rv.current > 0 || rv.queue.Len() > 0 || len(rv.endpoints) > 0 || len(rv.draining) > 0
}

// changeLocked moves the concurrency count by delta at now.
func (rv *revision) changeLocked(now time.Time, delta int) {
	if d := now.Sub(rv.lastChange); d > 0 {
		rv.area += float64(rv.current) * d.Seconds()
		rv.lastChange = now
	}
	rv.current += delta
}

// pickLocked returns the least loaded endpoint with capacity, or nil.
// Among equals it starts from a rotating index, so idle instances share
// the load instead of the first one taking it all.
func (rv *revision) pickLocked() *endpoint {
	n := len(rv.endpoints)
	var best *endpoint
	for i := 0; i < n; i++ {
		ep := rv.endpoints[(rv.next+i)%n]
		if rv.limit > 0 && ep.inflight >= rv.limit {
			continue
		}
		if !ep.brokenUntil.IsZero() {
			if time.Now().Before(ep.brokenUntil) {
				continue
			}
			ep.brokenUntil = time.Time{}
		}
		if best == nil || ep.inflight < best.inflight {
			best = ep
			if ep.inflight == 0 {
				break
			}
		}
	}
	if n > 0 {
		rv.next = (rv.next + 1) % n
	}
	return best
}

// acquireResult says how acquire went, for metrics and errors.
type acquireResult struct {
	ep     *endpoint
	queued bool // the request had to wait
	cold   bool // it waited because the revision had no instance at all
	first  bool // it was the first to queue at zero: this wake-up's cold start
}

// acquire returns an endpoint with a slot counted for the caller, waiting
// in the queue when none is free, in the context x gives, until the
// revision's timeout; the waker hears of every request that queues. The
// caller must release the endpoint.
func (rv *revision) acquire(now time.Time, x exchange, wk waker) (acquireResult, error) {
	rv.mu.Lock()
	if rv.removed {
		rv.mu.Unlock()
		return acquireResult{}, ErrRevisionGone
	}
	if ep := rv.pickLocked(); ep != nil {
		ep.inflight++
		rv.changeLocked(now, +1)
		rv.mu.Unlock()
		return acquireResult{ep: ep}, nil
	}
	if err := rv.failFastLocked(now); err != nil {
		rv.mu.Unlock()
		return acquireResult{}, err
	}
	if rv.queue.Len() >= rv.maxQueue {
		rv.mu.Unlock()
		return acquireResult{}, ErrQueueFull
	}
	if !rv.queued.take(1) {
		atZero := len(rv.endpoints) == 0
		rv.mu.Unlock()
		if atZero {
			// Refused, but there is demand: while another function's flood
			// fills the activator, this one must still wake, or it would
			// stay at zero refusing everything until the flood ends.
			wk.Wake(rv.key)
		}
		return acquireResult{}, ErrOverloaded
	}
	res := acquireResult{queued: true, cold: len(rv.endpoints) == 0}
	deadline := now.Add(rv.timeout)
	if res.cold && !rv.activating {
		rv.activating = true
		res.first = true
		rv.metrics.coldStart()
	}
	w := &waiter{ch: make(chan *endpoint, 1)}
	w.elem = rv.queue.PushBack(w)
	rv.changeLocked(now, +1)
	rv.metrics.setQueueDepth(rv.queue.Len())
	rv.mu.Unlock()

	wk.Wake(rv.key)

	ctx, done := x.wait(deadline)
	defer done()
	select {
	case ep := <-w.ch:
		if ep == nil {
			return res, w.err
		}
		res.ep = ep
		return res, nil
	case <-ctx.Done():
	}
	rv.mu.Lock()
	if w.elem != nil { // still queued: leave, freeing the place
		rv.dequeueLocked(w)
		rv.changeLocked(time.Now(), -1)
		rv.metrics.setQueueDepth(rv.queue.Len())
		rv.mu.Unlock()
		return res, ctx.Err()
	}
	rv.mu.Unlock()
	// Dispatched at the same moment the context ended: give the slot back.
	if ep := <-w.ch; ep != nil {
		rv.release(ep, time.Now())
	}
	return res, ctx.Err()
}

// failFastLocked returns an error for a request that would only wait for
// an instance that cannot start now: the command cannot be run, or it
// keeps crashing and the runtime is backing off. Once the back-off is
// over, requests queue (and wake the revision) again, so a command fixed
// meanwhile serves them.
func (rv *revision) failFastLocked(now time.Time) error {
	if len(rv.endpoints) > 0 || rv.failure == nil || !rv.failure.Backoff(now) {
		return nil
	}
	return &FailedError{Revision: rv.key, Failure: *rv.failure}
}

// release returns the caller's slot on ep. A queued request takes it over
// at once, oldest first, so a freed slot never sits idle while one waits.
func (rv *revision) release(ep *endpoint, now time.Time) {
	rv.mu.Lock()
	ep.inflight--
	rv.changeLocked(now, -1)
	switch {
	case ep.gone:
		if ep.inflight == 0 {
			close(ep.drained)
			delete(rv.draining, ep.ID)
		}
	case rv.queue.Len() > 0:
		rv.dispatchLocked()
	}
	rv.mu.Unlock()
}

// brokenFor is how long an endpoint that refused a connection is skipped.
const brokenFor = time.Second

// markBroken takes an endpoint that refused a connection out of rotation
// and gives back the caller's slot.
func (rv *revision) markBroken(ep *endpoint, now time.Time) {
	rv.mu.Lock()
	ep.brokenUntil = now.Add(brokenFor)
	rv.mu.Unlock()
	// Requests queued behind it get their chance when the time is up.
	time.AfterFunc(brokenFor, func() {
		rv.mu.Lock()
		rv.dispatchLocked()
		rv.mu.Unlock()
	})
	rv.release(ep, now)
}

// dispatchLocked hands free slots to queued requests, oldest first.
func (rv *revision) dispatchLocked() {
	for rv.queue.Len() > 0 {
		ep := rv.pickLocked()
		if ep == nil {
			break
		}
		w := rv.queue.Front().Value.(*waiter)
		rv.dequeueLocked(w)
		ep.inflight++
		w.ch <- ep
	}
	rv.metrics.setQueueDepth(rv.queue.Len())
}

// dequeueLocked takes w off the queue, giving back its place in the
// activator's bound.
func (rv *revision) dequeueLocked(w *waiter) {
	rv.queue.Remove(w.elem)
	w.elem = nil
	rv.queued.give(1)
}

// failQueuedLocked answers every queued request with err.
func (rv *revision) failQueuedLocked(err error) {
	for rv.queue.Len() > 0 {
		w := rv.queue.Front().Value.(*waiter)
		rv.dequeueLocked(w)
		w.err = err
		rv.changeLocked(time.Now(), -1)
		w.ch <- nil
	}
	rv.metrics.setQueueDepth(0)
}

// setState installs the runtime's view of the revision: endpoints that
// left are marked gone (Drain waits on them), new ones join, and queued
// requests are dispatched to the new capacity.
func (rv *revision) setState(s runtime.State) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	known := make(map[string]*endpoint, len(rv.endpoints))
	for _, ep := range rv.endpoints {
		known[ep.ID] = ep
	}
	next := make([]*endpoint, 0, len(s.Ready))
	for _, e := range s.Ready {
		if ep, ok := known[e.ID]; ok && ep.Addr == e.Addr {
			next = append(next, ep)
			delete(known, e.ID)
			continue
		}
		next = append(next, newEndpoint(e, rv.protocol))
	}
	for _, ep := range known {
		ep.gone = true
		ep.pool.close()
		if ep.inflight == 0 {
			close(ep.drained)
		} else {
			rv.draining[ep.ID] = ep
		}
	}
	rv.endpoints = next
	rv.metrics.setReady(len(next))
	rv.failure = s.Failure
	if len(next) > 0 {
		rv.activating = false
		rv.dispatchLocked()
		return
	}
	if err := rv.failFastLocked(time.Now()); err != nil {
		rv.failQueuedLocked(err)
	}
}

// drain waits until the endpoint with id has no request in flight, or ctx
// ends. An endpoint that is still ready, or unknown, is not waited for.
func (rv *revision) drain(ctx context.Context, id string) error {
	rv.mu.Lock()
	ep, ok := rv.draining[id]
	rv.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-ep.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sample returns the revision's counts since the last sample, and starts
// a new period.
func (rv *revision) sample(now time.Time) Stats {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.changeLocked(now, 0)
	s := Stats{InFlight: rv.current, Requests: rv.arrived.Swap(0), Queued: rv.queue.Len(), Ready: len(rv.endpoints)}
	if d := now.Sub(rv.periodStart).Seconds(); d > 0 {
		s.Concurrency = rv.area / d
	}
	rv.area, rv.periodStart = 0, now
	return s
}

// remove fails the queue and stops accepting requests.
func (rv *revision) remove() {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.removed = true
	rv.failQueuedLocked(ErrRevisionGone)
	for _, ep := range rv.endpoints {
		ep.pool.close()
	}
}
