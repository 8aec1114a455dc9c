package latency

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestQuantileWithinABucket(t *testing.T) {
	var h Histogram
	rng := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	for range 10000 {
		d := time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
		all = append(all, d)
		h.Record(d)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	s := h.Snapshot()
	if s.Total != 10000 {
		t.Fatalf("total %d, want 10000", s.Total)
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		exact := all[int(q*float64(len(all)))-1]
		got := s.Quantile(q)
		if ratio := float64(got) / float64(exact); ratio < 0.99 || ratio > 1.06 {
			t.Errorf("p%v = %v, exact %v (ratio %.3f)", q*100, got, exact, ratio)
		}
	}
}

func TestSubCountsOnlyTheInterval(t *testing.T) {
	var h Histogram
	for range 100 {
		h.Record(time.Millisecond)
	}
	before := h.Snapshot()
	for range 10 {
		h.Record(100 * time.Millisecond)
	}
	d := h.Snapshot().Sub(before)
	if d.Total != 10 {
		t.Fatalf("interval total %d, want 10", d.Total)
	}
	if p := d.Quantile(0.5); p < 100*time.Millisecond || p > 106*time.Millisecond {
		t.Errorf("interval median %v, want about 100ms", p)
	}
}

func TestAbove(t *testing.T) {
	var h Histogram
	for i := range 100 {
		h.Record(time.Duration(i+1) * time.Millisecond)
	}
	if n := h.Snapshot().Above(90 * time.Millisecond); n < 10 || n > 15 { // 10, and at most a 5% bucket more
		t.Errorf("above 90ms: %d, want 10 to 15", n)
	}
	if n := h.Snapshot().Above(time.Second); n != 0 {
		t.Errorf("above 1s: %d, want 0", n)
	}
}

func TestEdges(t *testing.T) {
	var h Histogram
	if q := h.Snapshot().Quantile(0.95); q != 0 {
		t.Errorf("empty quantile %v, want 0", q)
	}
	h.Record(0)
	h.Record(time.Hour)
	s := h.Snapshot()
	if s.Counts[0] != 1 || s.Counts[Buckets-1] != 1 {
		t.Errorf("0 and 1h should land in the end buckets: %d, %d", s.Counts[0], s.Counts[Buckets-1])
	}
	if q := s.Quantile(1); q < 10*time.Minute {
		t.Errorf("p100 with an hour counted = %v, want the top bound", q)
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(0)
		for pb.Next() {
			d += 7919 * time.Nanosecond
			h.Record(d % time.Second)
		}
	})
}

func TestAddCountsBoth(t *testing.T) {
	var fast, slow Histogram
	for range 90 {
		fast.Record(time.Millisecond)
	}
	for range 10 {
		slow.Record(time.Second)
	}
	both := fast.Snapshot().Add(slow.Snapshot())
	if both.Total != 100 {
		t.Fatalf("total %d, want 100", both.Total)
	}
	if p := both.Quantile(0.5); p < time.Millisecond || p > 1060*time.Microsecond {
		t.Errorf("median %v, want about 1ms", p)
	}
	if p := both.Quantile(0.95); p < time.Second || p > 1060*time.Millisecond {
		t.Errorf("p95 %v, want about 1s (the slow tenth)", p)
	}
}
