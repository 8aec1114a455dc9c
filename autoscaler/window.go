package autoscaler

import (
	"math"
	"time"
)

// bucketWidth is the granularity of a window: averages are exact to within
// one bucket at the window's old edge, and memory is one bucket per second
// of window (61 for the default 60s).
const bucketWidth = time.Second

// window is a ring of 1-second buckets holding a rate integrated over
// time — concurrency-seconds, or requests: a sample whose value c covered d
// seconds adds c×d, spread over the buckets the period overlaps. Averaging
// over time gives the time-weighted mean whatever the sampling rhythm: a
// late tick, two samples in one second (a Wake samples between ticks) or a
// sample interval longer than a bucket all count each instant once.
//
// Buckets are numbered by whole seconds since epoch (the decider's start),
// not by wall-clock second, so any time.Time works, the zero one included.
type window struct {
	size    time.Duration
	epoch   time.Time
	buckets []bucket // len = whole seconds in size, rounded up, + 1 for the partial oldest
}

type bucket struct {
	index int64   // which second since epoch this bucket holds; stale when not the one asked for
	value float64 // concurrency-seconds recorded in that second
}

func newWindow(size time.Duration, epoch time.Time) *window {
	n := int((size+bucketWidth-1)/bucketWidth) + 1
	return &window{size: size, epoch: epoch, buckets: make([]bucket, n)}
}

// record adds concurrency c over the period (from, to]. Parts of the
// period older than the ring are dropped: they would be overwritten anyway.
func (w *window) record(from, to time.Time, c float64) {
	if !(c > 0) || math.IsInf(c, 1) { // NaN and ∞ too: an activator bug must not poison the average
		return
	}
	f, t := from.Sub(w.epoch), to.Sub(w.epoch)
	if oldest := t - time.Duration(len(w.buckets))*bucketWidth; f < oldest {
		f = oldest
	}
	for f < t {
		k := floorDiv(f, bucketWidth)
		end := min(time.Duration(k+1)*bucketWidth, t)
		b := &w.buckets[mod(k, len(w.buckets))]
		if b.index != k {
			*b = bucket{index: k}
		}
		b.value += c * (end - f).Seconds()
		f = end
	}
}

// average is the time-weighted mean over (now-size, now], counting only
// time after since (when watching began); size is at most the window's
// (the stable window; the panic window is a shorter span of the same
// buckets). Time nothing was recorded for counts as 0.
//
// Before the revision has been watched for a whole window it averages over
// the elapsed part only: dividing one busy second by 60 would hide a new
// revision's first burst for most of a minute, and Knative averages over
// the data it has too. It returns the average and the span it covers.
func (w *window) average(now, since time.Time, size time.Duration) (float64, time.Duration) {
	n := now.Sub(w.epoch)
	lo := max(n-min(size, w.size), since.Sub(w.epoch))
	if n <= lo {
		return 0, 0
	}
	sum := 0.0
	for k := floorDiv(lo, bucketWidth); time.Duration(k)*bucketWidth < n; k++ {
		b := w.buckets[mod(k, len(w.buckets))]
		if b.index != k {
			continue
		}
		v := b.value
		if start := time.Duration(k) * bucketWidth; start < lo {
			// The window's old edge cuts this bucket: take the share inside,
			// as if the bucket's load was spread evenly over its second.
			v *= float64(start+bucketWidth-lo) / float64(bucketWidth)
		}
		sum += v
	}
	span := n - lo
	return sum / span.Seconds(), span
}

// floorDiv is d/unit rounded towards minus infinity, so instants before the
// epoch fall in negative buckets rather than sharing bucket 0.
func floorDiv(d, unit time.Duration) int64 {
	q := int64(d / unit)
	if d%unit < 0 {
		q--
	}
	return q
}

func mod(k int64, n int) int {
	m := int(k % int64(n))
	if m < 0 {
		m += n
	}
	return m
}

// ceilRatio is ceil(x/y) for x ≥ 0, y > 0, forgiving float noise: an
// average of 140.00000000001 over a target of 70 is 2 instances, not 3.
func ceilRatio(x, y float64) int {
	if !(x > 0) || !(y > 0) {
		return 0
	}
	r := math.Ceil(x/y - 1e-9)
	if r > math.MaxInt32 {
		return math.MaxInt32
	}
	return max(int(r), 0)
}

// maxWindow is the highest value recorded over the trailing size: the
// scale-down delay. It keeps only values that can still be the maximum
// (each newer than, and above, every later one), so record and max are
// amortized O(1) and memory is one entry per decision at worst.
type maxWindow struct {
	size    time.Duration
	entries []timedCount // times increasing, values decreasing
}

type timedCount struct {
	at time.Time
	n  int
}

func (m *maxWindow) record(now time.Time, n int) {
	for len(m.entries) > 0 && m.entries[len(m.entries)-1].n <= n {
		m.entries = m.entries[:len(m.entries)-1]
	}
	m.entries = append(m.entries, timedCount{now, n})
}

// max is the highest value recorded in (now-size, now]; record(now) must
// have been called first, so there is one.
func (m *maxWindow) max(now time.Time) int {
	cut := 0
	for cut < len(m.entries)-1 && !m.entries[cut].at.After(now.Add(-m.size)) {
		cut++
	}
	if cut > 0 {
		m.entries = append(m.entries[:0], m.entries[cut:]...)
	}
	return m.entries[0].n
}
