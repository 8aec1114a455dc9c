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

// rates keeps, per revision, the activator's cumulative counts at the
// last rateSlots points (one every RateStep: rateWindow back), and
// answers requests/s, the p95 of every request (cold ones included: what
// clients saw) and how many waited for an instance to start, over that
// window, by subtracting the oldest from the newest. One revision costs a
// fixed ring of rateSlots histograms of latency.Buckets counters (about
// 30 KB), allocated once, only while the console is watched.
type rates struct {
	byRev map[api.RevisionKey]*outcomeRing
}

const rateSlots = int(rateWindow/RateStep) + 1

type outcomeRing struct {
	slots       [rateSlots]outcomeAt
	first, size int
}

// outcomeAt is a revision's counts since the activator registered it.
type outcomeAt struct {
	at             time.Time
	requests, cold int64
	latency        latency.Snapshot // warm and cold together
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
	*ring.newest() = outcomeAt{at: at, requests: o.Requests, cold: o.ColdLatency.Total, latency: o.Latency.Add(o.ColdLatency)}
}

// keep forgets the revisions not in live.
func (r *rates) keep(live map[api.RevisionKey]bool) {
	for k := range r.byRev {
		if !live[k] {
			delete(r.byRev, k)
		}
	}
}

// window is what the requests of one or more revisions came to over the
// last rateWindow. RPS is nil until there are two points to subtract,
// P95 (milliseconds) also while no request finished.
type window struct {
	RPS  *float64 `json:"rps"`
	P95  *float64 `json:"p95"`
	Cold int64    `json:"cold"` // requests that waited for an instance to start
}

// of returns the revisions' window, together.
func (r *rates) of(keys ...api.RevisionKey) window {
	var n int64
	var w window
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
		n += last.requests - first.requests
		w.Cold += last.cold - first.cold
		span = max(span, last.at.Sub(first.at))
		lat = lat.Add(last.latency.Sub(first.latency))
	}
	if !seen || span <= 0 {
		return window{}
	}
	v := float64(n) / span.Seconds()
	w.RPS = &v
	if lat.Total > 0 {
		q := ms(lat.Quantile(0.95))
		w.P95 = &q
	}
	return w
}
