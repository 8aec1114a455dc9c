package demand

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/runtime"
)

// DefaultMaxAge is how long the collector trusts a gateway's last report:
// six missed reports at the gateway's 500ms interval, long enough to ride
// out a leader change, short enough that a dead gateway's demand stops
// holding instances up within a few seconds.
const DefaultMaxAge = 3 * time.Second

// CollectorOptions configure a Collector.
type CollectorOptions struct {
	// Waker is told of every wake-up a gateway sends: the autoscaler.
	// Required.
	Waker interface{ Wake(api.RevisionKey) }
	// Clock decides when a gateway's report is too old. nil means the real
	// clock.
	Clock clock.WithTicker
	// MaxAge: a gateway whose last report is older is forgotten by Sample
	// and Drain (not by Outcomes). 0 means DefaultMaxAge.
	MaxAge time.Duration
	// OutcomeRetention: a revision no report named for this long loses
	// its Outcomes, and a gateway silent as long its baselines. 0 means
	// DefaultOutcomeRetention.
	OutcomeRetention time.Duration
	// Logger: nil means no logs.
	Logger *zap.Logger
}

// Collector keeps the gateways' latest reports in the controller leader
// and answers the autoscaler and the runtime from them. It is safe for
// concurrent use; its zero value is not usable, call NewCollector.
//
// One mutex guards it all: it is taken once per report (two per second
// per gateway), once per Sample (one per second per revision), once per
// Outcomes (a rollout's step) and on each report a Drain waits for, never
// on a request's path.
type Collector struct {
	waker  interface{ Wake(api.RevisionKey) }
	clock  clock.WithTicker
	maxAge time.Duration
	log    *zap.Logger

	mu       sync.Mutex
	gateways map[string]*gateway
	outcomes *outcomeBook  // apart from gateways: it outlives MaxAge
	seq      uint64        // reports received, ever: orders reports and Drain calls
	changed  chan struct{} // closed and replaced on every report, to wake Drains
	draining int           // Drain calls waiting, for tests
}

// gateway is what the collector keeps of one gateway.
type gateway struct {
	seen time.Time // by the collector's clock, when its last report came
	seq  uint64    // the collector's seq of its last report
	revs map[api.RevisionKey]*gatewayRevision
}

// gatewayRevision is one gateway's reports of one revision since the
// revision was last sampled.
type gatewayRevision struct {
	latest RevisionReport
	// area (concurrency × seconds) and period (seconds) sum the reports
	// since the last Sample, so Sample can weigh each by its length.
	area, period float64
	requests     int64 // since the last Sample
}

// Interface guards: the Kubernetes runtime drains instances through it,
// the autoscaler samples it, and the control plane's rollouts read the
// outcomes of revisions from it as they would from the activator.
var (
	_ runtime.Drainer                          = (*Collector)(nil)
	_ func(api.RevisionKey) autoscaler.Sample  = (*Collector)(nil).Sample
	_ func(api.RevisionKey) activator.Outcomes = (*Collector)(nil).Outcomes
)

// NewCollector returns a Collector that knows no gateway yet. It panics
// when Waker is nil: that is a wiring bug.
func NewCollector(opts CollectorOptions) *Collector {
	if opts.Waker == nil {
		panic("demand: CollectorOptions.Waker is required")
	}
	c := &Collector{
		waker:    opts.Waker,
		clock:    opts.Clock,
		maxAge:   opts.MaxAge,
		log:      opts.Logger,
		gateways: make(map[string]*gateway),
		changed:  make(chan struct{}),
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.maxAge <= 0 {
		c.maxAge = DefaultMaxAge
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	retention := opts.OutcomeRetention
	if retention <= 0 {
		retention = DefaultOutcomeRetention
	}
	c.outcomes = newOutcomeBook(retention, c.log)
	return c
}

// Handler serves ReportPath and WakePath.
func (c *Collector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ReportPath, c.serveReport)
	mux.HandleFunc("POST "+WakePath, c.serveWake)
	return mux
}

// errTooManyGateways refuses a new gateway while MaxGateways live ones
// are kept.
var errTooManyGateways = fmt.Errorf("demand: %d gateways are reporting, the most the collector keeps", MaxGateways)

func (c *Collector) serveReport(w http.ResponseWriter, r *http.Request) {
	var rep Report
	if err := decode(w, r, &rep); err != nil {
		badRequest(w, "report", err)
		return
	}
	if err := rep.validate(); err != nil {
		badRequest(w, "report", err)
		return
	}
	if err := c.record(&rep); err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *Collector) serveWake(w http.ResponseWriter, r *http.Request) {
	var wr WakeRequest
	if err := decode(w, r, &wr); err != nil {
		badRequest(w, "wake", err)
		return
	}
	if err := wr.validate(); err != nil {
		badRequest(w, "wake", err)
		return
	}
	c.Wake(api.RevisionKey{Namespace: wr.Namespace, Name: wr.Name})
	w.WriteHeader(http.StatusAccepted)
}

func badRequest(w http.ResponseWriter, what string, err error) {
	code := http.StatusBadRequest
	if errors.Is(err, errTooLarge) {
		code = http.StatusRequestEntityTooLarge
	}
	http.Error(w, fmt.Sprintf("demand: bad %s: %v", what, err), code)
}

// Wake passes a gateway's wake-up on to the autoscaler.
func (c *Collector) Wake(key api.RevisionKey) { c.waker.Wake(key) }

// record keeps a valid report as its gateway's latest and wakes the
// Drains waiting for it.
func (c *Collector) record(rep *Report) error {
	// A report's weight is its period, capped at MaxAge: a gateway that
	// could not deliver for a minute must not outweigh the fresh reports
	// of the others with a minute-old average.
	period := min(rep.Sent.Sub(rep.Since), c.maxAge).Seconds()
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	g := c.gateways[rep.Gateway]
	if g == nil {
		if len(c.gateways) >= MaxGateways {
			c.forgetStaleLocked(now)
		}
		if len(c.gateways) >= MaxGateways {
			return errTooManyGateways
		}
		g = &gateway{revs: make(map[api.RevisionKey]*gatewayRevision, len(rep.Revisions))}
		c.gateways[rep.Gateway] = g
		c.log.Info("gateway reporting", zap.String("gateway", rep.Gateway), zap.Int("gateways", len(c.gateways)))
	}
	c.seq++
	g.seen, g.seq = now, c.seq
	reported := make(map[api.RevisionKey]bool, len(rep.Revisions))
	for _, rr := range rep.Revisions {
		key := rr.Key()
		reported[key] = true
		gr := g.revs[key]
		if gr == nil {
			gr = &gatewayRevision{}
			g.revs[key] = gr
		}
		gr.latest = rr
		gr.area += rr.Concurrency * period
		gr.period += period
		gr.requests += rr.Requests
	}
	c.outcomes.record(now, rep.Gateway, rep.Revisions, reported)
	// A revision the gateway no longer has is idle there; its requests
	// wait for the next Sample, then it is forgotten (at once past the
	// bound, so a client renaming revisions cannot grow the map).
	for key, gr := range g.revs {
		if reported[key] {
			continue
		}
		if gr.requests == 0 || len(g.revs) > MaxRevisionsPerReport {
			delete(g.revs, key)
			continue
		}
		gr.latest = RevisionReport{Namespace: key.Namespace, Name: key.Name}
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

// liveLocked reports whether g's last report is recent enough to count.
func (c *Collector) liveLocked(g *gateway, now time.Time) bool {
	return now.Sub(g.seen) <= c.maxAge
}

// forgetStaleLocked drops the gateways that stopped reporting.
func (c *Collector) forgetStaleLocked(now time.Time) {
	for name, g := range c.gateways {
		if !c.liveLocked(g, now) {
			delete(c.gateways, name)
			c.log.Info("gateway forgotten", zap.String("gateway", name),
				zap.Duration("silent", now.Sub(g.seen)), zap.Int("gateways", len(c.gateways)))
		}
	}
}

// Gateways returns how many gateways reported within MaxAge.
func (c *Collector) Gateways() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetStaleLocked(c.clock.Now())
	return len(c.gateways)
}

// Sample sums what the live gateways reported of a revision since its
// previous Sample, and starts a new period; it has the shape of
// autoscaler.Options.Sample.
//
// Concurrency adds up each gateway's average over its reports since the
// previous Sample, each report weighted by its period (a gateway with no
// new report counts with its latest); InFlight adds up the latest counts;
// Requests adds up every request reported since the previous Sample;
// Ready is the largest of the gateways' counts, since each gateway sees
// the same instances. With no live gateway every count is zero.
func (c *Collector) Sample(key api.RevisionKey) autoscaler.Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetStaleLocked(c.clock.Now())
	var s autoscaler.Sample
	if len(c.gateways) == 0 {
		// Nobody reported: not an idle revision, an unknown one (a new
		// leader before the first reports, or gateways it cannot hear).
		s.NoData = true
		return s
	}
	for _, g := range c.gateways {
		gr := g.revs[key]
		if gr == nil {
			continue
		}
		if gr.period > 0 {
			s.Concurrency += gr.area / gr.period
		} else {
			s.Concurrency += gr.latest.Concurrency
		}
		s.InFlight += gr.latest.InFlight
		s.Requests += gr.requests
		s.Ready = max(s.Ready, gr.latest.Ready)
		gr.area, gr.period, gr.requests = 0, 0, 0
	}
	return s
}

// Outcomes returns what became of a revision's requests, summed over
// every gateway that reported them since the collector started, live or
// not, counted from each gateway's first report to this collector (what
// a gateway served before a new leader heard it is not this leader's to
// judge): each gateway's latest cumulative counts, plus, for a gateway whose
// counts restarted (its process did, or its activator registered the
// revision again), the counts it had before. No count of the result ever
// decreases while a report names the revision at least once every
// OutcomeRetention, so a rollout can subtract two as it does the
// activator's. Zero for a revision no gateway reported a request of.
//
// It copies the revision's sum, 2.7 KiB, under the collector's mutex.
func (c *Collector) Outcomes(key api.RevisionKey) activator.Outcomes {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outcomes.outcomes(c.clock.Now(), key)
}

// Drain waits until every gateway live when it is called has sent a
// report, received after the call, whose Busy for the revision does not
// name ep: then no gateway will send ep another request and none is in
// flight on it. A gateway that goes silent for MaxAge stops counting. It
// returns ctx.Err() if ctx ends first, and nil at once when no gateway is
// live.
func (c *Collector) Drain(ctx context.Context, key api.RevisionKey, ep runtime.Endpoint) error {
	c.mu.Lock()
	c.forgetStaleLocked(c.clock.Now())
	// Reports already received do not count, whatever they say: the
	// runtime took ep out of the ready set just before calling, and a
	// gateway may not have seen that yet.
	since := c.seq
	waiting := make([]string, 0, len(c.gateways))
	for name := range c.gateways {
		waiting = append(waiting, name)
	}
	c.draining++
	defer func() {
		c.mu.Lock()
		c.draining--
		c.mu.Unlock()
	}()
	for {
		now := c.clock.Now()
		var expires time.Time // when the first waited-for gateway goes stale
		waiting = slices.DeleteFunc(waiting, func(name string) bool {
			g := c.gateways[name]
			if g == nil || !c.liveLocked(g, now) {
				return true
			}
			if g.seq > since && !g.uses(key, ep.ID) {
				return true
			}
			if exp := g.seen.Add(c.maxAge); expires.IsZero() || exp.Before(expires) {
				expires = exp
			}
			return false
		})
		changed := c.changed
		c.mu.Unlock()
		if len(waiting) == 0 {
			return nil
		}
		// Wake on the next report, or when the first gateway waited for
		// would go stale (just past MaxAge, as liveLocked counts it).
		t := c.clock.NewTimer(expires.Sub(now) + time.Nanosecond)
		if c.clock.Now().After(expires) {
			// The clock passed it while the timer was made (a fake clock
			// stepped): look again rather than wait a whole timer late.
			t.Stop()
			c.mu.Lock()
			continue
		}
		select {
		case <-changed:
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
		c.mu.Lock()
	}
}

// uses reports whether the gateway's latest report names id busy for key.
func (g *gateway) uses(key api.RevisionKey, id string) bool {
	gr := g.revs[key]
	return gr != nil && slices.Contains(gr.latest.Busy, id)
}
