package activator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// DefaultQueueDepth is how many requests one revision may hold waiting for
// an instance before new ones are refused with 503.
const DefaultQueueDepth = 10000

// waker is all the activator needs from the autoscaler: a revision has
// demand it cannot serve now. It must not block.
type waker interface {
	Wake(rev api.RevisionKey)
}

// Options configure an Activator.
type Options struct {
	// Waker is told when a request queues. Required.
	Waker waker
	// Transport forwards HTTP/1.1 to instances. nil means a transport tuned
	// for many short requests over loopback (see NewTransport).
	Transport http.RoundTripper
	// H2CTransport forwards to instances that speak cleartext HTTP/2 (a
	// container port named h2c). nil means NewH2CTransport().
	H2CTransport http.RoundTripper
	// QueueDepth bounds each revision's queue; 0 means DefaultQueueDepth.
	QueueDepth int
	// Logger: nil means no logs.
	Logger *zap.Logger
	// Registerer receives the activator's metrics; nil means none.
	Registerer prometheus.Registerer
}

// Activator forwards requests to a revision's instances. Its zero value is
// not usable; call New.
type Activator struct {
	waker      waker
	transport  http.RoundTripper
	h2c        http.RoundTripper
	queueDepth int
	log        *zap.Logger
	metrics    *metrics

	revisions sync.Map // api.RevisionKey → *revision
}

// Interface guard: the runtime tells the activator what is ready and asks
// it to drain.
var _ runtime.Drainer = (*Activator)(nil)

// New returns an Activator that knows no revision yet.
func New(opts Options) *Activator {
	a := &Activator{
		waker:      opts.Waker,
		transport:  opts.Transport,
		h2c:        opts.H2CTransport,
		queueDepth: opts.QueueDepth,
		log:        opts.Logger,
		metrics:    newMetrics(opts.Registerer),
	}
	if a.transport == nil {
		a.transport = NewTransport()
	}
	if a.h2c == nil {
		a.h2c = NewH2CTransport()
	}
	if a.queueDepth <= 0 {
		a.queueDepth = DefaultQueueDepth
	}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	return a
}

// Register makes a revision routable, or updates its settings. It must be
// called before any route points at the revision.
func (a *Activator) Register(rev *api.Revision) {
	key := rev.Key()
	fn := api.FunctionKey{Namespace: rev.Namespace, Name: rev.FunctionName()}
	if v, ok := a.revisions.Load(key); ok {
		rv := v.(*revision)
		rv.mu.Lock()
		rv.limit, rv.timeout, rv.h2c = rev.Spec.ConcurrencyLimit(), timeoutOf(rev), rev.Spec.H2C()
		rv.mu.Unlock()
		return
	}
	rv := newRevision(key, fn, time.Now(), a.queueDepth)
	rv.limit, rv.timeout, rv.h2c = rev.Spec.ConcurrencyLimit(), timeoutOf(rev), rev.Spec.H2C()
	rv.metrics = a.metrics.forRevision(fn, key)
	a.revisions.Store(key, rv)
}

func timeoutOf(rev *api.Revision) time.Duration {
	return time.Duration(rev.Spec.Timeout()) * time.Second
}

// Unregister forgets a revision: its queued requests get 503, requests in
// flight finish, and its metrics are deleted.
func (a *Activator) Unregister(key api.RevisionKey) {
	v, ok := a.revisions.LoadAndDelete(key)
	if !ok {
		return
	}
	rv := v.(*revision)
	rv.remove()
	a.metrics.forget(rv.fn, key)
}

// Update installs the runtime's latest view of a revision's instances.
// It has runtime.Observer's shape so the control plane can pass it on.
func (a *Activator) Update(key api.RevisionKey, s runtime.State) {
	if rv := a.lookup(key); rv != nil {
		rv.setState(s)
	}
}

// Drain waits until no request is in flight on ep, which has left the
// revision's ready set, or until ctx ends.
func (a *Activator) Drain(ctx context.Context, key api.RevisionKey, ep runtime.Endpoint) error {
	rv := a.lookup(key)
	if rv == nil {
		return nil
	}
	return rv.drain(ctx, ep.ID)
}

// Stats is what the activator saw of a revision since the last sample.
type Stats struct {
	// Concurrency is the time-weighted average of requests in flight plus
	// queued over the period.
	Concurrency float64
	// InFlight is requests in flight plus queued now; Queued is the latter.
	InFlight int
	Queued   int
	// Requests arrived during the period.
	Requests int64
	// Ready is the number of ready endpoints now.
	Ready int
}

// Sample returns a revision's stats since the previous Sample and starts a
// new period. An unknown revision has zero stats.
func (a *Activator) Sample(key api.RevisionKey) Stats {
	rv := a.lookup(key)
	if rv == nil {
		return Stats{}
	}
	return rv.sample(time.Now())
}

func (a *Activator) lookup(key api.RevisionKey) *revision {
	v, ok := a.revisions.Load(key)
	if !ok {
		return nil
	}
	return v.(*revision)
}

// maxDialRetries bounds how often one request moves on after an instance
// refused its connection (an instance that died but is not yet reported).
const maxDialRetries = 3

// ServeRevision forwards a request to an instance of rev, waiting for one
// when none has room, until the revision's timeout.
func (a *Activator) ServeRevision(w http.ResponseWriter, r *http.Request, fn api.FunctionKey, key api.RevisionKey) {
	start := time.Now()
	rv := a.lookup(key)
	if rv == nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("wake: revision %s is not available\n", key.Name))
		return
	}
	ctx, cancel := context.WithDeadline(r.Context(), start.Add(rv.timeout))
	defer cancel()

	p := newForward(r)
	code := 0
	for attempt := 0; ; attempt++ {
		got, err := rv.acquire(ctx, start, a.waker)
		if err != nil {
			code = a.respondAcquireError(w, r, rv, err)
			break
		}
		res := p.to(ctx, w, rv, got.ep, a.transportFor(rv))
		now := time.Now()
		if res.refused && attempt < maxDialRetries {
			rv.markBroken(got.ep, now)
			continue
		}
		rv.release(got.ep, now)
		code = res.code
		if got.cold && !res.headerAt.IsZero() {
			rv.metrics.coldDuration.Observe(res.headerAt.Sub(start).Seconds())
		}
		if res.err != nil {
			a.log.Debug("forward failed", zap.String("revision", key.Name), zap.String("instance", got.ep.ID), zap.Error(res.err))
		}
		if res.abort {
			rv.metrics.countRequest(code)
			rv.metrics.duration.Observe(time.Since(start).Seconds())
			// The response was cut after its header went out: abort the
			// connection so the client cannot mistake it for complete.
			panic(http.ErrAbortHandler)
		}
		break
	}
	rv.metrics.countRequest(code)
	rv.metrics.duration.Observe(time.Since(start).Seconds())
}

func (a *Activator) transportFor(rv *revision) http.RoundTripper {
	if rv.h2c {
		return a.h2c
	}
	return a.transport
}

// statusClientClosed is recorded (never sent) for requests whose client
// left first, as nginx does.
const statusClientClosed = 499

// respondAcquireError answers a request that got no instance and returns
// the status for metrics.
func (a *Activator) respondAcquireError(w http.ResponseWriter, r *http.Request, rv *revision, err error) int {
	var failed *FailedError
	switch {
	case r.Context().Err() != nil:
		return statusClientClosed
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, fmt.Sprintf(
			"wake: timed out after %v waiting for an instance of revision %s\n", rv.timeout, rv.key.Name))
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrQueueFull):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf(
			"wake: revision %s has %d requests waiting for an instance, the most it holds; retry later\n", rv.key.Name, rv.maxQueue))
		return http.StatusServiceUnavailable
	case errors.As(err, &failed):
		if wait := time.Until(failed.Failure.RetryAt); wait > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		}
		writeError(w, http.StatusServiceUnavailable, "wake: "+failed.Error()+"\n")
		return http.StatusServiceUnavailable
	default:
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("wake: revision %s is not available\n", rv.key.Name))
		return http.StatusServiceUnavailable
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}
