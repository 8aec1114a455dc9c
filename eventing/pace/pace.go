// Package pace owns the rate at which a trigger sends events to its sink:
// the limit its manifest sets, and under it the rate wake learns from the
// sink's answers, so that nobody has to tune a consumer by hand while a
// sink is struggling.
//
// A sink that answers 429, or 503 with a Retry-After, is throttling: the
// rate drops to 80% of what the sink took in the last second, its
// capacity while it refuses the rest (at most once a second, so the
// answers to requests already in flight do not compound it), every delivery pauses for the Retry-After (capped at a
// minute), and the refused attempt is sent again without counting against
// the delivery's retries (see delivery.Options.Throttle). A sink whose
// latency triples over its best (and by more than 250ms) is slowing down
// under the load: the rate drops the same way. While the sink answers 2xx
// and the learned rate is what limits deliveries, the rate rises by 5% a
// second; after a first drop made before a full second of answers was
// seen (a burst at the start), it doubles every second until the next
// refusal, which measures the sink's capacity. It never exceeds the configured limit; once it would, the
// configured limit alone applies again.
//
// With a sink that refuses above a fixed rate, deliveries settle into a
// sawtooth between 80% and 100% of it, and a rise past it costs the few
// refusals that arrive before the next drop: under 1% of deliveries.
package pace

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

const (
	// decrease is what a drop multiplies the sink's capacity by.
	decrease = 0.8
	// increase is what a rise multiplies the rate by, once per riseEvery.
	increase = 1.05
	// dropEvery and riseEvery space the adjustments.
	dropEvery = time.Second
	riseEvery = time.Second
	// minRate is the least the learned rate drops to: a sink that
	// refuses everything still gets an attempt a second.
	minRate = 1.0
	// maxPause caps a Retry-After, as delivery caps it per attempt.
	maxPause = time.Minute
	// slack is how far back turns may be laid out after a quiet spell: a
	// turn that falls due while no delivery waits for it (a lane still
	// finishing its last delivery, a busy scheduler) would otherwise be
	// lost, and the rate would drift below the limit. 50ms of slack
	// absorbs that while adding at most 2.5% to any 2s window.
	slack = 50 * time.Millisecond
	// forgetAfter: a learned rate with no drop for this long is dropped
	// itself, and the configured limit alone applies again. Incidents end;
	// a surge an hour later should not climb from the last one's rate.
	forgetAfter = 5 * time.Minute
	// Latency: a rise of latencyFactor over the floor, and by more than
	// latencyMargin, means the sink is slowing down.
	latencyFactor = 3.0
	latencyMargin = 250 * time.Millisecond
	// latencyWeight is the weight of a new sample in the moving average.
	latencyWeight = 0.1
)

// Clock is the time a Pacer needs: k8s.io/utils/clock.RealClock and its
// testing.FakeClock satisfy it.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) clock.Timer
}

// Pacer paces a trigger's deliveries. It is safe for concurrent use.
type Pacer struct {
	clock Clock

	mu         sync.Mutex
	next       time.Time     // when the next turn falls due
	changed    chan struct{} // closed and replaced when the rate or a pause changes
	limit      float64       // configured, events/s; 0: none
	learned    float64       // learned from the sink, events/s; 0: none
	paused     time.Time     // no delivery before this
	reason     string        // why the learned rate is what it is
	since      time.Time     // when reason was set
	dropped    time.Time     // the last drop
	probing    bool          // the last drop was from a guess of the sink's capacity
	dropReason string        // and why

	// Attempts per second: the current second's count and the last one's;
	// and since the last adjustment of the learned rate.
	second         time.Time
	count, lastSec float64
	ok, lastOK     float64 // the same for 2xx answers
	adjusted       time.Time
	sinceAdjusted  float64
	nextDrop       time.Time
	nextRise       time.Time
	latAvg, latMin time.Duration // moving average and floor of 2xx latencies
}

// New returns a Pacer with the configured limit (events per second; 0 is
// none). c nil means the real clock.
func New(limit float64, c Clock) *Pacer {
	if c == nil {
		c = clock.RealClock{}
	}
	return &Pacer{clock: c, changed: make(chan struct{}), limit: clean(limit)}
}

func clean(perSecond float64) float64 {
	if perSecond < 0 || math.IsNaN(perSecond) {
		return 0
	}
	return perSecond
}

// SetLimit changes the configured limit (0: none) without a restart.
// Deliveries waiting for a token wait again under the new rate.
func (p *Pacer) SetLimit(perSecond float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limit = clean(perSecond)
	if p.limit > 0 && p.learned >= p.limit {
		p.learned, p.reason = 0, ""
	}
	p.applyLocked()
}

// Throttling tells a sink's refusal for load: 429, or 503 with a
// Retry-After.
func Throttling(code int, retryAfter bool) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable && retryAfter
}

// Wait blocks until a delivery attempt may go: after any pause, in its
// turn at the rate in force. It returns ctx's error if ctx ends first.
//
// Turns are laid out one interval apart from the last one handed out, or
// from 50ms ago after a quiet spell (a little slack, so that a turn nobody
// was waiting for at the instant it fell due is not lost). When the rate
// changes, the turns not yet reached are laid out again from now at the
// new rate: every waiter takes a new one.
func (p *Pacer) Wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		now := p.clock.Now()
		changed := p.changed
		var d time.Duration
		switch r := p.inForce(); {
		case now.Before(p.paused):
			d = p.paused.Sub(now)
		case r == 0:
			p.mu.Unlock()
			return nil
		default:
			turn := p.next
			if early := now.Add(-slack); turn.Before(early) {
				turn = early
			}
			p.next = turn.Add(time.Duration(float64(time.Second) / r))
			if d = turn.Sub(now); d <= 0 {
				p.mu.Unlock()
				return nil
			}
		}
		paused := now.Before(p.paused)
		p.mu.Unlock()
		t := p.clock.NewTimer(d)
		select {
		case <-t.C():
			if !paused {
				return nil
			}
			// The pause is over: now take a turn.
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-changed:
			t.Stop()
		}
	}
}

// Observe learns from one attempt's answer: its status (0 when the sink
// never answered), the Retry-After it carried (0 when none) and how long
// it took.
func (p *Pacer) Observe(code int, retryAfter, took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	p.countLocked(now, code >= 200 && code < 300)
	switch {
	case Throttling(code, retryAfter > 0):
		if retryAfter > 0 {
			if until := now.Add(min(retryAfter, maxPause)); until.After(p.paused) {
				p.paused = until
				p.wakeLocked()
			}
		}
		p.dropLocked(now, fmt.Sprintf("the sink answered %d %s", code, http.StatusText(code)))
	case code >= 200 && code < 300:
		if p.slowerLocked(took) {
			p.dropLocked(now, fmt.Sprintf("the sink's latency rose to %v (best %v)",
				p.latAvg.Round(time.Millisecond), p.latMin.Round(time.Millisecond)))
			return
		}
		p.riseLocked(now)
	}
}

// countLocked counts an attempt, and whether the sink took it, in its
// second.
func (p *Pacer) countLocked(now time.Time, took bool) {
	switch d := now.Sub(p.second); {
	case d >= 2*time.Second:
		p.second, p.count, p.lastSec, p.ok, p.lastOK = now, 0, 0, 0, 0
	case d >= time.Second:
		p.second, p.lastSec, p.count, p.lastOK, p.ok = p.second.Add(time.Second), p.count, 0, p.ok, 0
	}
	p.count++
	if took {
		p.ok++
	}
	p.sinceAdjusted++
}

// capacity is the best guess of what the sink takes per second: what it
// took in the last full second, while it refused the rest (measured true).
// Before a full second was seen (a first burst), the rate of the attempts
// so far, over at least 100ms: a guess, which the rate then probes up
// from (see riseLocked).
func (p *Pacer) capacity(now time.Time) (perSecond float64, measured bool) {
	if p.lastOK > 0 {
		return p.lastOK, true
	}
	return p.count / max(now.Sub(p.second).Seconds(), 0.1), false
}

// inForce is the rate deliveries are held to; 0 when none.
func (p *Pacer) inForce() float64 {
	switch {
	case p.learned > 0 && p.limit > 0:
		return min(p.learned, p.limit)
	case p.learned > 0:
		return p.learned
	}
	return p.limit
}

func (p *Pacer) dropLocked(now time.Time, why string) {
	if now.Before(p.nextDrop) {
		return
	}
	base, measured := p.capacity(now)
	if r := p.inForce(); r > 0 && r < base {
		base = r
	}
	p.probing = !measured
	p.learned = max(minRate, base*decrease)
	p.reason, p.dropReason, p.since, p.dropped = why, why, now, now
	p.nextDrop, p.nextRise = now.Add(dropEvery), now.Add(riseEvery)
	p.adjusted, p.sinceAdjusted = now, 0
	p.latAvg = p.latMin // a fresh look at the latency at the new rate
	p.applyLocked()
}

func (p *Pacer) riseLocked(now time.Time) {
	if p.learned == 0 || now.Before(p.nextRise) {
		return
	}
	p.nextRise = now.Add(riseEvery)
	if now.Sub(p.dropped) >= forgetAfter {
		p.learned, p.reason, p.since = 0, "", now
		p.applyLocked()
		return
	}
	used := p.sinceAdjusted / now.Sub(p.adjusted).Seconds()
	p.adjusted, p.sinceAdjusted = now, 0
	if used < 0.8*p.learned {
		return // the learned rate is not what limits deliveries: no evidence for more
	}
	factor := increase
	if p.probing {
		factor = 2 // the last drop was a guess: find the sink's rate fast, as TCP's slow start does
	}
	p.learned = max(p.learned*factor, p.learned+1)
	if p.limit > 0 && p.learned >= p.limit {
		p.learned, p.reason, p.since = 0, "", now
	} else {
		p.reason = "rising while the sink keeps up; last drop: " + p.dropReason
	}
	p.applyLocked()
}

// slowerLocked records a 2xx's latency and says whether the sink has
// slowed down under the load.
func (p *Pacer) slowerLocked(took time.Duration) bool {
	if took <= 0 {
		return false
	}
	if p.latAvg == 0 {
		p.latAvg, p.latMin = took, took
		return false
	}
	p.latAvg += time.Duration(latencyWeight * float64(took-p.latAvg))
	if p.latAvg < p.latMin {
		p.latMin = p.latAvg
	}
	return float64(p.latAvg) > latencyFactor*float64(p.latMin) && p.latAvg-p.latMin > latencyMargin
}

// applyLocked lays the turns out again from now, at the rate in force,
// and wakes the waiters to take new ones.
func (p *Pacer) applyLocked() {
	p.next = p.clock.Now()
	p.wakeLocked()
}

func (p *Pacer) wakeLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// State is what a Pacer holds to.
type State struct {
	// Limit is the configured limit, events/s; 0 when none.
	Limit float64
	// InForce is the rate deliveries are held to, events/s: Limit, or the
	// learned rate when lower; 0 when neither.
	InForce float64
	// Learned says InForce is the rate learned from the sink, and Reason
	// why, since Since.
	Learned bool
	Reason  string
	Since   time.Time
	// PausedUntil is set while a Retry-After holds every delivery.
	PausedUntil time.Time
}

// State returns a snapshot.
func (p *Pacer) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := State{Limit: p.limit, InForce: p.inForce(), Reason: p.reason, Since: p.since}
	s.Learned = p.learned > 0 && (p.limit == 0 || p.learned < p.limit)
	if p.clock.Now().Before(p.paused) {
		s.PausedUntil = p.paused
	}
	return s
}
