// Package latency owns wake's latency histogram: fixed buckets about 5%
// wide from 50µs to 10 minutes, counted with atomic adds so the request
// path records a duration without a lock, and snapshots that subtract and
// answer quantiles. The activator records every answered request in one;
// a rollout compares two revisions' snapshots over a step.
package latency

import (
	"math"
	"sync/atomic"
	"time"
)

// Bucket bounds: bucket i (1 ≤ i < Buckets-1) counts durations in
// [min·growth^(i-1), min·growth^i); bucket 0 those under min, the last
// those at or past the top.
const (
	min     = 50 * time.Microsecond
	growth  = 1.05
	Buckets = 340 // min·1.05^338 ≈ 740 s
)

var logGrowth = math.Log(growth)

// bucketOf returns the bucket of d.
func bucketOf(d time.Duration) int {
	if d < min {
		return 0
	}
	i := 1 + int(math.Log(float64(d)/float64(min))/logGrowth)
	if i >= Buckets {
		return Buckets - 1
	}
	return i
}

// upper returns the upper bound of bucket i, the value a quantile falling
// in it reports (the top bucket reports its lower bound).
func upper(i int) time.Duration {
	if i >= Buckets-1 {
		i = Buckets - 2
	}
	return time.Duration(float64(min) * math.Pow(growth, float64(i)))
}

// Histogram counts durations. Its zero value is ready; Record is safe for
// concurrent use and costs one atomic add and a logarithm.
type Histogram struct {
	counts [Buckets]atomic.Int64
}

// Record counts d.
func (h *Histogram) Record(d time.Duration) { h.counts[bucketOf(d)].Add(1) }

// Snapshot returns the counts so far. Each bucket is read atomically, not
// the whole: a record racing the snapshot may be in it or not.
func (h *Histogram) Snapshot() Snapshot {
	var s Snapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Total += s.Counts[i]
	}
	return s
}

// Snapshot is a histogram's counts at one moment.
type Snapshot struct {
	Counts [Buckets]int64
	Total  int64
}

// Sub returns what was recorded between prev and s (prev taken first).
func (s Snapshot) Sub(prev Snapshot) Snapshot {
	var d Snapshot
	for i := range s.Counts {
		d.Counts[i] = s.Counts[i] - prev.Counts[i]
		d.Total += d.Counts[i]
	}
	return d
}

// Add returns s and o counted together: several revisions' requests as
// their function's.
func (s Snapshot) Add(o Snapshot) Snapshot {
	for i := range s.Counts {
		s.Counts[i] += o.Counts[i]
	}
	s.Total += o.Total
	return s
}

// Above returns how many of the counted durations exceed d, to within a
// bucket: a bucket counts when its upper bound is past d.
func (s Snapshot) Above(d time.Duration) int64 {
	var n int64
	for i := Buckets - 1; i >= 0 && upper(i) > d; i-- {
		n += s.Counts[i]
	}
	return n
}

// Quantile returns the duration under which a fraction q (0..1) of the
// counted durations fall, to within a bucket (5%); 0 when none was counted.
func (s Snapshot) Quantile(q float64) time.Duration {
	if s.Total <= 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(s.Total)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			return upper(i)
		}
	}
	return upper(Buckets - 1)
}
