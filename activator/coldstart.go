package activator

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/latency"
	"github.com/wakefn/wake/runtime"
)

// What a request that waited for an instance is told, and what wake keeps
// of it. Only requests that queued pay any of this: a request that found
// capacity at once pays two atomic adds and a histogram record
// (outcomes), nothing else.

// Phases of a wait, in the order of Server-Timing's entries and of the
// wake_cold_start_phase_seconds phase label.
const (
	phaseQueue = iota
	phaseStart
	phaseReady
	phaseWarmup
	phaseCreate // a container's namespace, network and root; images only
	numPhases
)

var phaseNames = [numPhases]string{"queue", "start", "ready", "warmup", "create"}

// timingOrder is the order of Server-Timing's entries: the order in which
// the phases happen.
var timingOrder = [numPhases]int{phaseQueue, phaseCreate, phaseStart, phaseReady, phaseWarmup}

// wait is how a queued request's wait divided into phases.
type wait struct {
	total time.Duration
	// phases are the instance's start intervals clipped to the request's
	// wait (see waitOf); they sum to total.
	phases [numPhases]time.Duration
	// started: the instance that served the request started during its
	// wait, and phases has its start, ready and warm-up; otherwise it was
	// ready before the request arrived (the request waited for capacity)
	// or its start is not timed, and phases holds queue only.
	started bool
	// cold: the instance became ready after the request arrived.
	cold bool
	// container: the instance is a container, with a create phase.
	container bool
}

// waitOf divides the wait of a request that arrived at arrival and was
// handed an instance at dispatch, using the instance's start times st
// (nil when the runtime does not time starts). Each phase is one of st's
// intervals clipped to [arrival, dispatch]:
//
//	queue  = [arrival, Creating or Forked] + [WarmedUp, dispatch]
//	create = [Creating, Forked]   (a container; none for a command)
//	start  = [Forked, Up]
//	ready  = [Up, Ready]
//	warmup = [Ready, WarmedUp]
//
// so the phases sum to the wait. Queue counts both ends of the wait that
// were not the instance's start: before it was forked (the runtime's own
// delay, or another instance's start the request first queued behind),
// and after it was warm (the activator hearing of it, requests ahead in
// the queue). An instance ready before arrival gives queue = the wait.
// atZero is the fallback for st == nil: the revision had no instance when
// the request arrived, so it is cold.
func waitOf(arrival, dispatch time.Time, st *runtime.StartTimes, atZero bool) wait {
	w := wait{total: max(0, dispatch.Sub(arrival))}
	if st == nil {
		w.phases[phaseQueue], w.cold = w.total, atZero
		return w
	}
	// Times the runtime left unset (zero) take the one before, so the
	// intervals never run backwards.
	forked := st.Forked
	created := forked
	if !st.Creating.IsZero() && st.Creating.Before(forked) {
		created, w.container = st.Creating, true
	}
	up := later(forked, st.Up)
	ready := later(up, st.Ready)
	warm := later(ready, st.WarmedUp)
	if !warm.After(arrival) {
		w.phases[phaseQueue] = w.total
		return w
	}
	w.started, w.cold = true, true
	w.phases[phaseCreate] = clip(created, forked, arrival, dispatch)
	w.phases[phaseStart] = clip(forked, up, arrival, dispatch)
	w.phases[phaseReady] = clip(up, ready, arrival, dispatch)
	w.phases[phaseWarmup] = clip(ready, warm, arrival, dispatch)
	w.phases[phaseQueue] = w.total - w.phases[phaseCreate] - w.phases[phaseStart] - w.phases[phaseReady] - w.phases[phaseWarmup]
	return w
}

func later(a, b time.Time) time.Time {
	if b.Before(a) {
		return a
	}
	return b
}

// clip returns the length of [a, b] ∩ [lo, hi].
func clip(a, b, lo, hi time.Time) time.Duration {
	if a.Before(lo) {
		a = lo
	}
	if b.After(hi) {
		b = hi
	}
	return max(0, b.Sub(a))
}

// appendServerTiming appends w as a Server-Timing value:
// "wake-queue;dur=1.2, wake-start;dur=…" in milliseconds, one decimal;
// queue alone unless the instance started during the wait, and create
// only for a container.
func appendServerTiming(dst []byte, w wait) []byte {
	for k, i := range timingOrder {
		if k > 0 && !w.started || i == phaseCreate && !w.container {
			continue
		}
		if k > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, "wake-"...)
		dst = append(dst, phaseNames[i]...)
		dst = append(dst, ";dur="...)
		dst = strconv.AppendFloat(dst, float64(w.phases[i])/float64(time.Millisecond), 'f', 1, 64)
	}
	return dst
}

// ColdStart is one wake-up of a revision from zero: the first request
// that queued at zero, and the instance that served it.
type ColdStart struct {
	// Time is when the request arrived.
	Time time.Time
	// Instance is the ID of the instance that served it.
	Instance string
	// Queue, Create, Start, Ready and Warmup divide its wait as
	// Server-Timing's entries do; all zero when the runtime does not time
	// starts, and Create zero but for containers.
	Queue, Create, Start, Ready, Warmup time.Duration
	// Total is the wait, arrival to dispatch.
	Total time.Duration
}

// ColdStartsKept is how many cold starts a revision remembers.
const ColdStartsKept = 20

// coldLog is a revision's latest cold starts, a ring. Written once per
// wake-up, read by `wake describe`: a mutex of its own keeps it off the
// revision's lock.
type coldLog struct {
	mu   sync.Mutex
	ring [ColdStartsKept]ColdStart
	n    int // written so far
}

func (l *coldLog) add(c ColdStart) {
	l.mu.Lock()
	l.ring[l.n%ColdStartsKept] = c
	l.n++
	l.mu.Unlock()
}

func (l *coldLog) list() []ColdStart {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := min(l.n, ColdStartsKept)
	out := make([]ColdStart, 0, k)
	for i := l.n - k; i < l.n; i++ {
		out = append(out, l.ring[i%ColdStartsKept])
	}
	return out
}

// recordColdStart keeps the wake-up whose first request, arrived at
// arrival, waited w for instance id, and observes its phases.
func (rv *revision) recordColdStart(arrival time.Time, id string, w wait) {
	c := ColdStart{Time: arrival, Instance: id, Total: w.total}
	if w.started {
		c.Queue, c.Start, c.Ready, c.Warmup = w.phases[phaseQueue], w.phases[phaseStart], w.phases[phaseReady], w.phases[phaseWarmup]
		c.Create = w.phases[phaseCreate]
		for i, d := range w.phases {
			if i == phaseCreate {
				if w.container {
					rv.metrics.observePhase(i, d)
				}
				continue
			}
			rv.metrics.observePhase(i, d)
		}
	}
	rv.colds.add(c)
}

// ColdStarts returns a revision's latest cold starts, at most
// ColdStartsKept, oldest first; nil for an unknown revision.
func (a *Activator) ColdStarts(key api.RevisionKey) []ColdStart {
	rv := a.lookup(key)
	if rv == nil {
		return nil
	}
	return rv.colds.list()
}

// Outcomes is what became of a revision's requests since Register, for
// rollout analysis: take two and subtract.
type Outcomes struct {
	// Requests answered, whatever the status; requests whose client left
	// first (499) are not counted.
	Requests int64
	// Errors are the Requests answered with a status of 500 or more,
	// wake's own 502, 503 and 504 for the revision included.
	Errors int64
	// Latency holds arrival-to-end durations of the requests that did not
	// wait for an instance to start; cold requests would make a new
	// revision, which starts from zero, look slower than it is.
	Latency latency.Snapshot
	// ColdLatency holds those of the requests that waited for an instance
	// to start: with Latency, what clients saw.
	ColdLatency latency.Snapshot
}

// outcomes counts Outcomes on the request path: atomics only.
type outcomes struct {
	requests, errors atomic.Int64
	latency, cold    latency.Histogram
}

func (o *outcomes) record(code int, d time.Duration, startWait bool) {
	if code == statusClientClosed {
		return
	}
	o.requests.Add(1)
	if code >= 500 {
		o.errors.Add(1)
	}
	if startWait {
		o.cold.Record(d)
	} else {
		o.latency.Record(d)
	}
}

// Outcomes returns a revision's outcomes since Register; zero for an
// unknown revision. Safe to call while requests are served; the counts
// are read one by one, so a request finishing meanwhile may be in some.
func (a *Activator) Outcomes(key api.RevisionKey) Outcomes {
	rv := a.lookup(key)
	if rv == nil {
		return Outcomes{}
	}
	return Outcomes{
		Requests:    rv.outcomes.requests.Load(),
		Errors:      rv.outcomes.errors.Load(),
		Latency:     rv.outcomes.latency.Snapshot(),
		ColdLatency: rv.outcomes.cold.Snapshot(),
	}
}
