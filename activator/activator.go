package activator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

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
	// MaxQueued bounds the requests queued across all revisions; 0 means
	// DefaultMaxQueued.
	MaxQueued int
	// MaxBufferedBytes and MaxRevisionBufferedBytes bound the request
	// bodies held in memory for a possible resend, in all and per
	// revision; past them bodies stream (and cannot be resent). 0 means
	// DefaultMaxBufferedBytes and DefaultMaxRevisionBufferedBytes.
	MaxBufferedBytes, MaxRevisionBufferedBytes int64
	// Logger: nil means no logs.
	Logger *zap.Logger
	// Registerer receives the activator's metrics; nil means none.
	Registerer prometheus.Registerer
	// Clock times how long a revision has been idle, for dropping its
	// series (see SeriesIdle). nil means the real clock.
	Clock clock.PassiveClock
}

// Activator forwards requests to a revision's instances. Its zero value is
// not usable; call New.
type Activator struct {
	waker      waker
	transport  http.RoundTripper
	h2c        http.RoundTripper
	queueDepth int
	queued     *budget // requests queued, all revisions
	buffered   *budget // body bytes held, all revisions
	revBytes   int64   // body bytes one revision may hold
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
		metrics:    newMetrics(opts.Registerer, clockNow(opts.Clock)),
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
	a.queued = newBudget(int64(orDefault(opts.MaxQueued, DefaultMaxQueued)))
	a.buffered = newBudget(orDefault(opts.MaxBufferedBytes, DefaultMaxBufferedBytes))
	a.revBytes = orDefault(opts.MaxRevisionBufferedBytes, DefaultMaxRevisionBufferedBytes)
	if a.log == nil {
		a.log = zap.NewNop()
	}
	return a
}

// clockNow is c's Now; nil for a nil c (the real clock).
func clockNow(c clock.PassiveClock) func() time.Time {
	if c == nil {
		return nil
	}
	return c.Now
}

func orDefault[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Register makes a revision routable. It must be called before any route
// points at the revision. Revisions are immutable, so registering one
// again changes nothing.
func (a *Activator) Register(rev *api.Revision) {
	key := rev.Key()
	fn := api.FunctionKey{Namespace: rev.Namespace, Name: rev.FunctionName()}
	if _, ok := a.revisions.Load(key); ok {
		return
	}
	rv := newRevision(key, fn, time.Now(), a.queueDepth)
	rv.queued, rv.buffered = a.queued, newBudget(a.revBytes)
	rv.limit, rv.timeout, rv.h2c = rev.Spec.ConcurrencyLimit(), timeoutOf(rev), rev.Spec.H2C()
	rv.metrics = a.metrics.forRevision(fn, key, &rv.mu, rv.busyLocked)
	rv.protocol = newProtocolErrors(rv.metrics, a.log)
	a.revisions.LoadOrStore(key, rv)
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
	rv.metrics.remove()
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

// exchange is one request as the activator serves it, whichever way it
// came: through net/http (httpExchange) or the HTTP/1.1 fast path
// (fastExchange).
type exchange interface {
	// wait returns the context a request waits for an instance in: it ends
	// at deadline, or when the client goes away. Called only when the
	// request has to wait; done releases what it holds.
	wait(deadline time.Time) (ctx context.Context, done func())
	// to sends the request to ep and relays the answer.
	to(rv *revision, ep *endpoint) result
	// refuse answers a request that got no instance, and returns the
	// status for metrics.
	refuse(rv *revision, err error) int
	// fail answers 502 for a request ep did not answer.
	fail(rv *revision, ep *endpoint, err error) result
	// annotate adds to the response how the request waited: Server-Timing
	// and, when cold, Wake-Cold-Start. Called only for requests that
	// queued, before each forward; a later call replaces what an earlier
	// one added.
	annotate(w wait)
}

// serve takes a request from arrival to answer: an instance (waiting for
// one if none has room), the forward, a retry elsewhere when the instance
// refused the connection, and the metrics. It returns the last forward's
// result. A request that waited is told how (Server-Timing,
// Wake-Cold-Start); one that did not pays only the outcome counts.
func (a *Activator) serve(rv *revision, start time.Time, x exchange) result {
	rv.arrived.Add(1)
	var res result
	first := false     // the first request of a wake-up from zero
	startWait := false // it waited for an instance to start
	for attempt := 0; ; attempt++ {
		got, err := rv.acquire(start, x, a.waker)
		first = first || got.first
		startWait = startWait || got.cold
		if err != nil {
			res = result{code: x.refuse(rv, err)}
			break
		}
		var w wait
		if got.queued {
			w = waitOf(start, time.Now(), got.ep.Started, got.cold)
			startWait = startWait || w.cold
			x.annotate(w)
		}
		res = forwardTo(rv, got.ep, x)
		now := time.Now()
		if res.refused {
			// The instance died and the runtime has not said so yet: try
			// another one, or wait in the queue for its replacement.
			rv.markBroken(got.ep, now)
			if attempt < maxDialRetries {
				continue
			}
			res = x.fail(rv, got.ep, res.err)
			break
		}
		rv.release(got.ep, now)
		if first && got.queued {
			rv.recordColdStart(start, got.ep.ID, w)
		}
		if got.cold && !res.headerAt.IsZero() {
			rv.metrics.observeColdDuration(res.headerAt.Sub(start))
		}
		if res.err != nil {
			a.log.Debug("forward failed", zap.String("revision", rv.key.Name), zap.String("instance", got.ep.ID), zap.Error(res.err))
		}
		break
	}
	elapsed := time.Since(start)
	rv.metrics.requestDone(res.code, elapsed)
	if !res.clientFault {
		rv.outcomes.record(res.code, elapsed, startWait)
	}
	return res
}

// forwardTo forwards on ep, giving its slot back if the forward panics
// (net/http aborts a broken upgrade with a panic) before passing the panic on.
func forwardTo(rv *revision, ep *endpoint, x exchange) result {
	defer func() {
		if p := recover(); p != nil {
			rv.release(ep, time.Now())
			panic(p)
		}
	}()
	return x.to(rv, ep)
}

// ServeRevision forwards a request that came through net/http to an
// instance of rev, waiting for one when none has room, until the
// revision's timeout.
func (a *Activator) ServeRevision(w http.ResponseWriter, r *http.Request, fn api.FunctionKey, key api.RevisionKey) {
	start := time.Now()
	rv := a.lookup(key)
	if rv == nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("wake: revision %s is not available\n", key.Name))
		return
	}
	ctx, cancel := context.WithDeadline(r.Context(), start.Add(rv.timeout))
	defer cancel()
	if r.ContentLength != 0 {
		// The body too must come within the revision's timeout: a client
		// that stops sending gets 408 and frees its connection, not only
		// its slot (net/http itself would wait for it for ever).
		http.NewResponseController(w).SetReadDeadline(start.Add(rv.timeout))
	}
	x := &httpExchange{w: w, r: r, ctx: ctx, f: newForward(r), rt: a.transportFor(rv)}
	held, err := x.f.readAhead(a, rv)
	defer held()
	if err != nil {
		res := x.f.bodyFailed(w, rv)
		rv.metrics.countRequest(res.code)
		if res.abort {
			panic(http.ErrAbortHandler) // the client left: close, answering nothing
		}
		return
	}
	if res := a.serve(rv, start, x); res.abort {
		// The response was cut after its header went out: abort the
		// connection so the client cannot mistake it for complete.
		panic(http.ErrAbortHandler)
	}
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

// refusal is how a request that got no instance is answered: its status,
// message and Retry-After (seconds, "" for none). Both paths write it.
type refusal struct {
	code       int
	msg        string
	retryAfter string
}

// refusalFor explains an acquire error. A client that left gets
// statusClientClosed and no message: nobody is there to read it.
func refusalFor(rv *revision, err error, clientGone bool) refusal {
	var failed *FailedError
	switch {
	case clientGone:
		return refusal{code: statusClientClosed}
	case errors.Is(err, context.DeadlineExceeded):
		return refusal{code: http.StatusGatewayTimeout, msg: fmt.Sprintf(
			"wake: timed out after %v waiting for an instance of revision %s\n", rv.timeout, rv.key.Name)}
	case errors.Is(err, ErrQueueFull):
		return refusal{code: http.StatusServiceUnavailable, retryAfter: "1", msg: fmt.Sprintf(
			"wake: revision %s has %d requests waiting for an instance, the most it holds; retry later\n", rv.key.Name, rv.maxQueue)}
	case errors.Is(err, ErrOverloaded):
		return refusal{code: http.StatusServiceUnavailable, retryAfter: "1", msg: fmt.Sprintf(
			"wake: %d requests are waiting for instances across all functions, the most it holds; retry later\n", rv.queued.max)}
	case errors.As(err, &failed):
		r := refusal{code: http.StatusServiceUnavailable, msg: "wake: " + failed.Error() + "\n"}
		if wait := time.Until(failed.Failure.RetryAt); wait > 0 {
			r.retryAfter = fmt.Sprint(int(math.Ceil(wait.Seconds())))
		}
		return r
	default:
		return refusal{code: http.StatusServiceUnavailable, msg: fmt.Sprintf("wake: revision %s is not available\n", rv.key.Name)}
	}
}

// bodyRefusal explains a request body that could not be read: always the
// client's mistake, never the revision's. A body that stopped arriving
// gets 408 at the revision's timeout; one cut short, or whose client
// left, gets nothing (statusClientClosed, no message); anything else
// (malformed chunks) 400. Both paths answer with it and close the
// connection, since the rest of the body would be read as a request.
func bodyRefusal(rv *revision, err error) refusal {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return refusal{code: http.StatusRequestTimeout, msg: fmt.Sprintf(
			"wake: the request body did not arrive within the timeout of revision %s, %v\n", rv.key.Name, rv.timeout)}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return refusal{code: statusClientClosed}
	default:
		return refusal{code: http.StatusBadRequest, msg: fmt.Sprintf("wake: the request body is malformed: %v\n", err)}
	}
}

// holdBody reserves n bytes for a body held in memory, within the
// revision's bound and the activator's; false, reserving nothing, past
// either, or past maxBufferedBody. releaseBody gives them back.
func (a *Activator) holdBody(rv *revision, n int64) bool {
	return n <= maxBufferedBody && takeBoth(rv.buffered, a.buffered, n)
}

func (a *Activator) releaseBody(rv *revision, n int64) {
	rv.buffered.give(n)
	a.buffered.give(n)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}
