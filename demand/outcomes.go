package demand

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/latency"
)

// DefaultOutcomeRetention is how long the collector keeps a revision's
// outcomes after the last report naming it, and a silent gateway's
// baselines: long past any leader hiccup or gateway restart, short enough
// that retired revisions do not pile up.
const DefaultOutcomeRetention = 10 * time.Minute

// Bounds on the outcome bookkeeping, which outlives the live gateways.
const (
	// MaxOutcomeGateways caps the gateways whose baselines the collector
	// keeps, live or not: as many as MaxGateways, so the baselines cost
	// at most what the live reports do. Past it, the gateway silent
	// longest is folded: what it reported still counts, but it reports
	// as a new gateway if it comes back.
	MaxOutcomeGateways = MaxGateways
	// MaxOutcomeRevisions caps the revisions whose outcomes are summed,
	// about 2.7 KiB each (55 MiB at the cap). A revision first reported
	// past it gets no outcomes until others are forgotten; none is
	// dropped early, since its sum would go backwards.
	MaxOutcomeRevisions = MaxRevisionsPerReport
	// maxOutcomeCount caps a count in a report: a million requests a
	// second for 35 years, and 8,000 times less than a sum can hold, so
	// no client can overflow the sums short of that many restarts.
	maxOutcomeCount = 1 << 50
)

// OutcomeReport is a gateway's activator.Outcomes of one revision: what
// became of the requests it answered since its activator registered the
// revision. The counts are cumulative, so a lost report loses nothing.
type OutcomeReport struct {
	// Requests answered (the activator counts no request whose client
	// left first). At least Errors and the durations in Latency.
	Requests int64 `json:"requests"`
	// Errors are the Requests answered with a status of 500 or more.
	Errors int64 `json:"errors,omitempty"`
	// Latency is the activator's latency.Snapshot, sparse.
	Latency SparseHistogram `json:"latency"`
}

// SparseHistogram is a latency.Snapshot with only its non-empty buckets:
// bucket B[i] counted N[i] durations. A revision's requests fall in a few
// dozen of the 340 buckets, so this is about 20 times smaller than the
// whole array.
type SparseHistogram struct {
	// B are bucket indices in [0, latency.Buckets), increasing.
	B []int `json:"b"`
	// N are the counts, one per index, each >= 0.
	N []int64 `json:"n"`
}

// outcomeReportOf makes the wire form of o; nil while o counts nothing.
// The activator reads its counters one by one, so a request finishing
// meanwhile may be in Errors or Latency but not yet in Requests: Requests
// is raised to cover them, which keeps it true (the request was answered
// before the later read) and every count monotonic.
func outcomeReportOf(o activator.Outcomes) *OutcomeReport {
	if o.Requests <= 0 && o.Errors <= 0 && o.Latency.Total <= 0 {
		return nil
	}
	or := &OutcomeReport{Requests: max(o.Requests, o.Errors, o.Latency.Total), Errors: o.Errors}
	for i, n := range o.Latency.Counts {
		if n > 0 {
			or.Latency.B = append(or.Latency.B, i)
			or.Latency.N = append(or.Latency.N, n)
		}
	}
	return or
}

// validate checks the counts are ones an activator could have made, and
// names the first field that is wrong.
func (or *OutcomeReport) validate() error {
	switch {
	case or.Requests < 0 || or.Requests > maxOutcomeCount:
		return fmt.Errorf("requests: %d, want between 0 and %d", or.Requests, int64(maxOutcomeCount))
	case or.Errors < 0 || or.Errors > or.Requests:
		return fmt.Errorf("errors: %d, want between 0 and requests (%d)", or.Errors, or.Requests)
	case len(or.Latency.N) != len(or.Latency.B):
		return fmt.Errorf("latency.n: %d counts for %d buckets in latency.b, want as many", len(or.Latency.N), len(or.Latency.B))
	}
	var total int64
	for i, b := range or.Latency.B {
		switch {
		case b < 0 || b >= latency.Buckets:
			return fmt.Errorf("latency.b[%d]: %d, want a bucket in [0, %d)", i, b, latency.Buckets)
		case i > 0 && b <= or.Latency.B[i-1]:
			return fmt.Errorf("latency.b[%d]: %d, want more than latency.b[%d] (%d)", i, b, i-1, or.Latency.B[i-1])
		}
		n := or.Latency.N[i]
		if n < 0 {
			return fmt.Errorf("latency.n[%d]: %d, want >= 0", i, n)
		}
		if n > or.Requests-total {
			return fmt.Errorf("latency: more durations than requests (%d) by latency.n[%d]", or.Requests, i)
		}
		total += n
	}
	return nil
}

// below reports whether any count of or is less than in prev: the
// gateway's counts restarted since prev (its process, or the revision's
// registration in its activator).
func (or *OutcomeReport) below(prev *OutcomeReport) bool {
	if or.Requests < prev.Requests || or.Errors < prev.Errors {
		return true
	}
	b, n := or.Latency.B, or.Latency.N
	j := 0
	for i, pb := range prev.Latency.B {
		for j < len(b) && b[j] < pb {
			j++
		}
		var now int64
		if j < len(b) && b[j] == pb {
			now = n[j]
		}
		if now < prev.Latency.N[i] {
			return true
		}
	}
	return false
}

// addTo adds sign × or to o.
func (or *OutcomeReport) addTo(o *activator.Outcomes, sign int64) {
	o.Requests += sign * or.Requests
	o.Errors += sign * or.Errors
	for i, b := range or.Latency.B {
		o.Latency.Counts[b] += sign * or.Latency.N[i]
		o.Latency.Total += sign * or.Latency.N[i]
	}
}

// outcomeBook sums the gateways' cumulative outcomes per revision for the
// rollouts, apart from the live reports that Sample and Drain read: a
// gateway that stops reporting still served what it reported.
//
// It keeps each revision's running sum rather than a base per gateway:
// when a gateway's new counts are at least its previous ones, the sum
// gains the difference; when any is less, its counts restarted, and the
// sum gains the new counts whole, as if the previous ones were the base
// they add to. Either way no count of the sum ever decreases. Guarded by
// Collector.mu.
type outcomeBook struct {
	retention time.Duration
	log       *zap.Logger
	revs      map[api.RevisionKey]*revisionOutcomes
	gateways  map[string]*gatewayOutcomes
	swept     time.Time // when forget last ran
	refused   bool      // a revision was refused for MaxOutcomeRevisions since the last log
}

// revisionOutcomes is the sum of a revision's outcomes over the gateways.
type revisionOutcomes struct {
	sum  activator.Outcomes
	seen time.Time // when a report last named the revision
}

// gatewayOutcomes is the baseline of one gateway: its latest counts of
// each revision it names, those with a request only.
type gatewayOutcomes struct {
	seen   time.Time
	latest map[api.RevisionKey]*OutcomeReport
}

func newOutcomeBook(retention time.Duration, log *zap.Logger) *outcomeBook {
	return &outcomeBook{
		retention: retention,
		log:       log,
		revs:      make(map[api.RevisionKey]*revisionOutcomes),
		gateways:  make(map[string]*gatewayOutcomes),
	}
}

// record adds what one gateway's report says to the sums. reported names
// every revision of the report.
//
// A revision the report names without outcomes keeps the gateway's
// previous counts (a Reporter may leave them out to keep a report under
// MaxBodyBytes). A revision the report does not name was unregistered
// from the gateway's activator, whose counts start again at zero if it
// comes back: the gateway's counts of it are folded into the sum and its
// baseline dropped.
func (b *outcomeBook) record(now time.Time, gateway string, revs []RevisionReport, reported map[api.RevisionKey]bool) {
	b.forgetOld(now)
	g := b.gateways[gateway]
	// The first report of a gateway this collector hears from only sets
	// its baseline: its counts are its whole history, from before this
	// leader, and added to a rollout step they would judge the canary on
	// traffic of earlier steps. At most one report's worth of a gateway
	// that just started is lost.
	first := g == nil
	if g == nil {
		if len(b.gateways) >= MaxOutcomeGateways {
			b.foldOldestGateway()
		}
		g = &gatewayOutcomes{latest: make(map[api.RevisionKey]*OutcomeReport)}
		b.gateways[gateway] = g
	}
	g.seen = now
	for i := range revs {
		rr := &revs[i]
		key := rr.Key()
		r := b.revs[key]
		if r != nil {
			r.seen = now
		}
		if rr.Outcomes == nil {
			continue
		}
		if r == nil {
			if len(b.revs) >= MaxOutcomeRevisions {
				if !b.refused {
					b.log.Warn("too many revisions to sum their outcomes; new ones get none until others are forgotten",
						zap.Int("revisions", len(b.revs)), zap.Stringer("revision", key))
					b.refused = true
				}
				continue
			}
			r = &revisionOutcomes{seen: now}
			b.revs[key] = r
		}
		if first {
			g.latest[key] = rr.Outcomes
			continue
		}
		if prev := g.latest[key]; prev != nil && !rr.Outcomes.below(prev) {
			prev.addTo(&r.sum, -1)
		}
		rr.Outcomes.addTo(&r.sum, 1)
		g.latest[key] = rr.Outcomes
	}
	for key := range g.latest {
		if !reported[key] {
			delete(g.latest, key)
		}
	}
}

// foldOldestGateway drops the baseline of the gateway silent longest.
// With MaxGateways live at most, and a new gateway coming, it is not live.
func (b *outcomeBook) foldOldestGateway() {
	var oldest string
	var seen time.Time
	for name, g := range b.gateways {
		if oldest == "" || g.seen.Before(seen) {
			oldest, seen = name, g.seen
		}
	}
	delete(b.gateways, oldest)
	b.log.Info("gateway's outcome baselines dropped to make room", zap.String("gateway", oldest), zap.Time("seen", seen))
}

// forgetOld drops the revisions no report named for the retention, and
// the baselines of gateways silent as long, at most once a tenth of the
// retention. A revision goes no earlier than the baselines naming it: a
// gateway's last report named every revision it has a baseline of.
func (b *outcomeBook) forgetOld(now time.Time) {
	if now.Sub(b.swept) < b.retention/10 {
		return
	}
	b.swept = now
	cutoff := now.Add(-b.retention)
	for key, r := range b.revs {
		if r.seen.Before(cutoff) {
			delete(b.revs, key)
			b.refused = false
		}
	}
	for name, g := range b.gateways {
		if g.seen.Before(cutoff) {
			delete(b.gateways, name)
		}
	}
}

// outcomes returns the sum for key; zero for a revision not known.
func (b *outcomeBook) outcomes(now time.Time, key api.RevisionKey) activator.Outcomes {
	b.forgetOld(now)
	if r := b.revs[key]; r != nil {
		return r.sum
	}
	return activator.Outcomes{}
}
