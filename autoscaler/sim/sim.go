package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
)

// DefaultStartup is how long a new instance takes to become ready when
// Options.Startup is empty: about a local process behind a readiness
// probe. A container pulled and started on a node is more like 3-10s.
const DefaultStartup = time.Second

// wakeInterval is how often the simulated activator wakes the autoscaler
// while requests are queued. The real one wakes it on every request that
// queues, and the loop coalesces those into one Activate per pass; once a
// second keeps the decision table readable, and loses little: a load trace
// changes only on whole seconds, and Activate only raises the count to
// what is waiting, which the next two-second decision sees too.
const wakeInterval = time.Second

// epsilon is the load below which a tick counts as idle: what is left of
// float sums that should be 0, far below any real fraction of a request.
const epsilon = 1e-9

// Options are a simulation's settings besides the trace.
type Options struct {
	// Config is the server-wide autoscaler settings, the defaults of every
	// annotation. nil means autoscaler.DefaultConfig().
	Config *autoscaler.Config
	// Scaling is the revision's annotations and containerConcurrency, as
	// api.ParseScaling returns them. The zero value is a revision with no
	// annotations and no concurrency limit (any ready instance takes all
	// the load).
	Scaling api.Scaling
	// Startup is how long an instance takes from being asked for to ready.
	// The nth instance started takes Startup[n mod len(Startup)], so a list
	// models a mix of fast and slow starts without randomness. Each must be
	// a whole number of Ticks. Empty means DefaultStartup.
	Startup []time.Duration
	// NewRevision simulates a revision just created: it starts
	// initial-scale instances at time 0 and holds that count until they
	// were ready once. Otherwise the revision already exists and is at
	// rest: min-scale instances are ready at time 0.
	NewRevision bool
	// After keeps simulating this long after the trace ends, with no load,
	// to see the scale-down. It is rounded up to a whole Tick.
	After time.Duration
	// AllDecisions keeps every decision in Result.Decisions, not only
	// those that changed the count or the panic mode.
	AllDecisions bool
	// Warm is how many instances an existing revision (not NewRevision)
	// has ready at time 0, when more than min-scale: one that was serving.
	Warm int
	// ClientTimeout, when set, carries the queue over (see Queue):
	// requests wait first come first served until a slot frees or until
	// they have waited this long, when their client gives up and they are
	// lost. It is also the revision's timeoutSeconds the autoscaler plans
	// a backlog's drain against. The trace must give each request's time
	// (not a request log). 0: the default model, where demand is what the
	// trace says.
	ClientTimeout time.Duration
}

// Run replays the trace through a Decider with the options' settings and
// returns what it decided and what that cost. It fails only on options
// that cannot be simulated.
func Run(tr *Trace, opts Options) (*Result, error) {
	if tr == nil || len(tr.Demand) == 0 || len(tr.Arrivals) != len(tr.Demand) {
		return nil, errors.New("simulate: the trace is empty or its series differ in length")
	}
	cfg := autoscaler.DefaultConfig()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	if opts.Scaling.ContainerConcurrency < 0 {
		return nil, fmt.Errorf("simulate: containerConcurrency %d: must be 0 (no limit) or more", opts.Scaling.ContainerConcurrency)
	}
	startup := opts.Startup
	if len(startup) == 0 {
		startup = []time.Duration{DefaultStartup}
	}
	startTicks := make([]int, len(startup))
	for i, s := range startup {
		if s < 0 || s%Tick != 0 {
			return nil, fmt.Errorf("simulate: start-up %v: must be 0 or more, in steps of %v", s, Tick)
		}
		startTicks[i] = int(s / Tick)
	}
	if opts.Warm < 0 || opts.Warm > api.MaxScaleLimit || (opts.Warm > 0 && opts.NewRevision) {
		return nil, fmt.Errorf("simulate: %d warm instances: must be in [0, %d], and 0 for a new revision", opts.Warm, api.MaxScaleLimit)
	}
	if opts.ClientTimeout < 0 || opts.ClientTimeout%Tick != 0 {
		return nil, fmt.Errorf("simulate: client timeout %v: must be 0 (none) or more, in steps of %v", opts.ClientTimeout, Tick)
	}
	if opts.ClientTimeout > 0 && tr.ServiceTime <= 0 {
		return nil, errors.New("simulate: a client timeout needs a trace of concurrency or rps (with a service time), not a request log")
	}
	if opts.After < 0 || tr.Duration()+opts.After > MaxTraceDuration {
		return nil, fmt.Errorf("simulate: %v after a trace of %v: must be 0 or more, up to %v in all",
			opts.After, tr.Duration(), MaxTraceDuration)
	}
	m := &model{
		tr:      tr,
		opts:    opts,
		cc:      int(opts.Scaling.ContainerConcurrency),
		startup: startTicks,
		ticks:   len(tr.Demand) + ticksIn(opts.After),
		// Any fixed instant will do: the Decider only measures time from
		// it, and a fixed one keeps runs identical.
		epoch:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		lastWake: -1,
	}
	spec := cfg.Spec(opts.Scaling)
	if opts.ClientTimeout > 0 {
		spec.RequestTimeout = opts.ClientTimeout
		m.bl = NewQueue(tr.ServiceTime, opts.ClientTimeout)
	}
	m.d = autoscaler.NewDecider(spec, m.epoch, opts.NewRevision)
	m.d.Adopt(opts.Warm)
	m.res = &Result{
		Trace: tr.Name, Format: tr.Format, ServiceTime: tr.ServiceTime, Requests: tr.Requests(),
		Spec: m.d.Spec(), ContainerConcurrency: m.cc, Startup: slices.Clone(startup),
		NewRevision: opts.NewRevision, Duration: time.Duration(m.ticks) * Tick,
		Warm: opts.Warm, ClientTimeout: opts.ClientTimeout,
	}
	if opts.NewRevision {
		m.scaleTo(0, m.d.Desired())
		m.promote(0)
	} else {
		m.ready = m.d.Desired()
	}
	m.run()
	return m.res, nil
}

// model is one simulation's state: the instances, the sample period in
// progress and the running totals.
type model struct {
	tr      *Trace
	opts    Options
	cc      int   // containerConcurrency; 0: no limit
	startup []int // start-up times in ticks
	ticks   int   // ticks to simulate
	epoch   time.Time
	d       *autoscaler.Decider
	res     *Result
	bl      *Queue // nil: the default model

	ready    int
	starting []pending // asked for, not ready yet
	started  int       // instances ever started: picks each one's start-up time

	lastRecord int     // tick of the last Record
	periodLoad float64 // demand summed over the ticks since lastRecord
	arrived    float64 // requests arrived so far
	reported   int64   // whole requests reported in samples so far
	lastWake   int     // tick of the last Activate; -1: none yet

	// Totals in ticks (× Tick for time), summed as whole ticks so no
	// product is rounded twice.
	queueSum, instanceSum                float64
	zeroTicks, panicTicks, queueingTicks int
	timelineTicks                        []int // ticks averaged into each Point
	sampleTicks, decideTicks, wakeTicks  int
}

// pending is an instance that is starting.
type pending struct {
	readyAt int // tick
	seq     int // order started
}

func (m *model) at(k int) time.Time { return m.epoch.Add(time.Duration(k) * Tick) }

func (m *model) demand(k int) float64 {
	if k < len(m.tr.Demand) {
		return m.tr.Demand[k]
	}
	return 0
}

// run steps through the ticks. At each tick boundary, in order: starting
// instances that are due become ready; on whole seconds a sample is
// recorded, and on every second one a decision is made and applied; if
// requests are queued, the activator wakes the autoscaler; then the tick's
// load is served and counted with the instances as they now are.
func (m *model) run() {
	m.sampleTicks = int(autoscaler.DefaultSampleInterval / Tick)
	m.decideTicks = int(autoscaler.DefaultDecisionInterval / Tick)
	m.wakeTicks = int(wakeInterval / Tick)
	for k := 0; k < m.ticks; k++ {
		m.promote(k)
		load := m.demand(k)
		if m.bl != nil {
			load = m.bl.Step(k, m.tr.arrival(k), m.slots())
		}
		if k > 0 && k%m.sampleTicks == 0 {
			m.record(k, load)
			if k%m.decideTicks == 0 {
				m.apply(k, load, m.d.Decide(m.at(k)))
			}
		}
		if m.queue(load) > epsilon && (m.lastWake < 0 || k-m.lastWake >= m.wakeTicks) {
			// As the autoscaler's wake path does: sample, then Activate.
			m.record(k, load)
			m.apply(k, load, m.d.Activate(m.at(k), inFlight(load)))
			m.lastWake = k
		}
		m.account(k, load)
	}
	m.finish()
}

// record gives the Decider what the activator would report now for the
// period since the last sample.
func (m *model) record(k int, load float64) {
	s := autoscaler.Sample{InFlight: inFlight(load), Ready: m.ready}
	if m.bl != nil {
		s.OldestWait = m.bl.OldestWait(k)
	}
	if n := k - m.lastRecord; n > 0 {
		s.Concurrency = m.periodLoad / float64(n)
	}
	whole := int64(math.Floor(m.arrived + epsilon))
	s.Requests, m.reported = whole-m.reported, whole
	m.d.Record(m.at(k), s)
	m.lastRecord, m.periodLoad = k, 0
}

// apply follows a decision: the runtime is asked for dec.Desired at once.
func (m *model) apply(k int, load float64, dec autoscaler.Decision) {
	sum := &m.res.Summary
	sum.Decisions++
	if dec.Activation {
		sum.Activations++
		if m.ready+len(m.starting) == 0 {
			sum.ColdStarts++
		}
	}
	switch {
	case dec.Desired > dec.Previous:
		sum.ScaleUps++
	case dec.Desired < dec.Previous:
		sum.ScaleDowns++
	}
	if m.opts.AllDecisions || dec.Changed() {
		m.res.Decisions = append(m.res.Decisions, Decision{
			At: time.Duration(k) * Tick, Load: load, Queue: m.queue(load),
			Ready: m.ready, Starting: len(m.starting), Previous: dec.Previous, Desired: dec.Desired,
			Activation: dec.Activation, Panicking: dec.Panicking, Stable: dec.Stable, Panic: dec.Panic,
			Reason: dec.Reason(),
		})
	}
	m.scaleTo(k, dec.Desired)
	m.promote(k) // a start-up of 0 is ready at once
}

// scaleTo starts or removes instances to have n. Removing cancels starting
// instances first, those furthest from ready first, as they serve nothing
// yet; then ready ones go at once.
func (m *model) scaleTo(k, n int) {
	for have := m.ready + len(m.starting); have < n; have++ {
		m.starting = append(m.starting, pending{readyAt: k + m.startup[m.started%len(m.startup)], seq: m.started})
		m.started++
	}
	drop := m.ready + len(m.starting) - n
	if drop <= 0 {
		return
	}
	slices.SortFunc(m.starting, func(a, b pending) int {
		if a.readyAt != b.readyAt {
			return a.readyAt - b.readyAt
		}
		return a.seq - b.seq
	})
	c := min(drop, len(m.starting))
	m.starting = m.starting[:len(m.starting)-c]
	m.ready -= drop - c
}

// promote makes the instances due by tick k ready.
func (m *model) promote(k int) {
	m.starting = slices.DeleteFunc(m.starting, func(p pending) bool {
		if p.readyAt <= k {
			m.ready++
			return true
		}
		return false
	})
}

// slots is how many requests the ready instances take at once; -1: no
// limit.
func (m *model) slots() float64 {
	if m.cc == 0 && m.ready > 0 {
		return -1
	}
	return float64(m.ready * m.cc)
}

// queue is the demand no ready instance has room for.
func (m *model) queue(load float64) float64 {
	switch {
	case m.bl != nil:
		return m.bl.queued
	case m.ready == 0:
		return load
	case m.cc == 0:
		return 0
	}
	return math.Max(0, load-float64(m.ready*m.cc))
}

// inFlight is the whole requests present in a tick: a request there for
// part of it is there.
func inFlight(load float64) int { return int(math.Ceil(load - epsilon)) }

// account serves tick k's load and adds it to the totals and the timeline.
func (m *model) account(k int, load float64) {
	sum := &m.res.Summary
	q := m.queue(load)
	instances := m.ready + len(m.starting)
	sum.PeakLoad = math.Max(sum.PeakLoad, load)
	sum.PeakQueue = math.Max(sum.PeakQueue, q)
	sum.PeakInstances = max(sum.PeakInstances, instances)
	m.queueSum += q
	m.instanceSum += float64(instances)
	if q > epsilon {
		m.queueingTicks++
	}
	if instances == 0 {
		m.zeroTicks++
	}
	if m.d.Panicking() {
		m.panicTicks++
	}
	m.arrived += m.tr.arrival(k)
	m.periodLoad += load
	if k%m.sampleTicks == 0 {
		m.res.Timeline = append(m.res.Timeline, Point{At: time.Duration(k) * Tick,
			Ready: m.ready, Starting: len(m.starting), Desired: m.d.Desired(), Panicking: m.d.Panicking()})
		m.timelineTicks = append(m.timelineTicks, 0)
	}
	last := len(m.res.Timeline) - 1
	m.res.Timeline[last].Load += load
	m.res.Timeline[last].Queue += q
	m.timelineTicks[last]++
}

// finish turns the running totals into the summary.
func (m *model) finish() {
	sum := &m.res.Summary
	tick := Tick.Seconds()
	sum.QueuedRequestSeconds = m.queueSum * tick
	sum.InstanceSeconds = m.instanceSum * tick
	sum.TimeQueueing = time.Duration(m.queueingTicks) * Tick
	sum.TimeAtZero = time.Duration(m.zeroTicks) * Tick
	sum.TimeInPanic = time.Duration(m.panicTicks) * Tick
	if m.bl != nil {
		sum.Served, sum.Lost = m.bl.served, m.bl.lost
		sum.LatencyP50, sum.LatencyP99 = m.bl.Latency(0.5), m.bl.Latency(0.99)
	}
	for i := range m.res.Timeline {
		n := float64(m.timelineTicks[i])
		m.res.Timeline[i].Load /= n
		m.res.Timeline[i].Queue /= n
	}
}

func (t *Trace) arrival(k int) float64 {
	if k < len(t.Arrivals) {
		return t.Arrivals[k]
	}
	return 0
}
