package sim

import (
	"math"
	"slices"
	"time"
)

// Queue is the request-level model that Options.ClientTimeout turns on:
// the trace's arrivals are requests that wait in the activator's queue,
// first come first served, until a slot frees (then each runs for the
// trace's service time) or until their client gives up. Unlike the
// default model, the queue carries over from tick to tick, so a backlog
// grows while capacity is short and takes time to drain, and the run can
// say how many requests were lost and how long the served ones took.
//
// Requests are fluid (a tick's arrivals may be fractional, as an rps
// trace's are), so counts of lost and served requests are rounded only
// when shown.
type Queue struct {
	svcTicks int // ticks one request runs, at least 1
	timeout  int // ticks a request waits before its client gives up

	queue     []cohort  // waiting, oldest first
	queued    float64   // sum of queue
	starts    []float64 // ring: requests started at tick k, at k mod svcTicks
	inService float64

	waits        map[int]float64 // ticks waited → requests served after that wait
	served, lost float64
}

// Queued is the requests waiting now.
func (b *Queue) Queued() float64 { return b.queued }

// Served and Lost are the requests that started, and those whose client
// gave up waiting, so far.
func (b *Queue) Served() float64 { return b.served }

// Lost: see Served.
func (b *Queue) Lost() float64 { return b.lost }

// cohort is the requests that arrived in one tick and still wait.
type cohort struct {
	at int
	n  float64
}

// NewQueue returns an empty queue of requests that each run for service
// (rounded to whole Ticks, at least one) and whose clients give up after
// waiting clientTimeout.
func NewQueue(service, clientTimeout time.Duration) *Queue {
	svc := max(int((service+Tick/2)/Tick), 1)
	return &Queue{svcTicks: svc, timeout: int(clientTimeout / Tick), starts: make([]float64, svc),
		waits: map[int]float64{}}
}

// Step advances the queue to tick k (called for every tick in order): requests started svcTicks ago end,
// waiting requests whose client gave up leave, the tick's arrivals join,
// and as many as slots allow start (slots < 0: no limit). It returns the
// load the activator sees: in service plus waiting.
func (b *Queue) Step(k int, arrivals, slots float64) float64 {
	i := k % b.svcTicks
	b.inService = math.Max(0, b.inService-b.starts[i])
	b.starts[i] = 0
	for len(b.queue) > 0 && k-b.queue[0].at >= b.timeout {
		b.lost += b.queue[0].n
		b.queued -= b.queue[0].n
		b.queue = b.queue[1:]
	}
	if arrivals > epsilon {
		b.queue = append(b.queue, cohort{at: k, n: arrivals})
		b.queued += arrivals
	}
	free := math.Inf(1)
	if slots >= 0 {
		free = slots - b.inService
	}
	for free > epsilon && len(b.queue) > 0 {
		c := &b.queue[0]
		take := math.Min(free, c.n)
		b.waits[k-c.at] += take
		b.served += take
		b.starts[i] += take
		b.inService += take
		free -= take
		c.n -= take
		b.queued -= take
		if c.n <= epsilon {
			b.queued -= c.n // what float noise left
			b.queue = b.queue[1:]
		}
	}
	if len(b.queue) == 0 {
		b.queued = 0
	}
	return b.inService + b.queued
}

// OldestWait is how long the oldest waiting request has waited at tick k.
func (b *Queue) OldestWait(k int) time.Duration {
	if len(b.queue) == 0 {
		return 0
	}
	return time.Duration(k-b.queue[0].at) * Tick
}

// Latency is the q-quantile (0 < q ≤ 1) of the served requests' time from
// arrival to answer: their wait plus the service time.
func (b *Queue) Latency(q float64) time.Duration {
	if b.served <= epsilon {
		return 0
	}
	waits := make([]int, 0, len(b.waits))
	for w := range b.waits {
		waits = append(waits, w)
	}
	slices.Sort(waits)
	seen := 0.0
	for _, w := range waits {
		seen += b.waits[w]
		if seen >= q*b.served-epsilon {
			return time.Duration(w+b.svcTicks) * Tick
		}
	}
	return time.Duration(waits[len(waits)-1]+b.svcTicks) * Tick
}
