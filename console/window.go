package console

import (
	"time"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/latency"
)

// rateWindow is how far back requests/s and p95 look: long enough that a
// few requests make a p95, short enough that a spike shows within it.
const rateWindow = 10 * time.Second

// rates keeps, per revision, the activator's cumulative outcomes at the
// last rateSlots points (one every RateStep: rateWindow back), and
// answers requests/s and the p95 of warm requests over that window by
// subtracting the oldest from the newest. One revision costs a fixed ring
// of rateSlots outcomes of latency.Buckets counters (about 30 KB),
// allocated once, only while the console is watched.
type rates struct {
	byRev map[api.RevisionKey]*outcomeRing
}

const rateSlots = int(rateWindow/RateStep) + 1

type outcomeRing struct {
	slots       [rateSlots]outcomeAt
	first, size int
}

type outcomeAt struct {
	at time.Time
	o  activator.Outcomes
}

func (r *outcomeRing) oldest() *outcomeAt { return &r.slots[r.first] }
func (r *outcomeRing) newest() *outcomeAt { return &r.slots[(r.first+r.size-1)%rateSlots] }

func newRates() *rates { return &rates{byRev: map[api.RevisionKey]*outcomeRing{}} }

func (r *rates) add(key api.RevisionKey, at time.Time, o activator.Outcomes) {
	ring := r.byRev[key]
	if ring == nil {
		ring = &outcomeRing{}
		r.byRev[key] = ring
	}
	if ring.size < rateSlots {
		ring.size++
	} else {
		ring.first = (ring.first + 1) % rateSlots
	}
	*ring.newest() = outcomeAt{at: at, o: o}
}

// keep forgets the revisions not in live.
func (r *rates) keep(live map[api.RevisionKey]bool) {
	for k := range r.byRev {
		if !live[k] {
			delete(r.byRev, k)
		}
	}
}

// of returns the requests per second of the revisions together over the
// window, and the p95 in milliseconds of their warm requests; nil where
// there are not two points yet, or no warm request for a p95.
func (r *rates) of(keys ...api.RevisionKey) (rps, p95 *float64) {
	var n int64
	var span time.Duration
	var lat latency.Snapshot
	seen := false
	for _, k := range keys {
		ring := r.byRev[k]
		if ring == nil || ring.size < 2 {
			continue
		}
		first, last := ring.oldest(), ring.newest()
		seen = true
		n += last.o.Requests - first.o.Requests
		span = max(span, last.at.Sub(first.at))
		lat = lat.Add(last.o.Latency.Sub(first.o.Latency))
	}
	if !seen || span <= 0 {
		return nil, nil
	}
	v := float64(n) / span.Seconds()
	rps = &v
	if lat.Total > 0 {
		q := ms(lat.Quantile(0.95))
		p95 = &q
	}
	return rps, p95
}
