package autoscaler

import (
	"math"
	"testing"
	"time"
)

func TestWindowAverage(t *testing.T) {
	ms := time.Millisecond
	s := time.Second
	type rec struct {
		from, to time.Duration
		c        float64
	}
	tests := []struct {
		name     string
		size     time.Duration
		recs     []rec
		now      time.Duration
		want     float64
		wantSpan time.Duration
	}{{
		name: "empty", size: 60 * s, now: 10 * s, want: 0, wantSpan: 10 * s,
	}, {
		name: "nothing elapsed", size: 60 * s, now: 0, want: 0, wantSpan: 0,
	}, {
		name: "before a whole window, averages over the elapsed part",
		size: 60 * s, recs: []rec{{0, 10 * s, 7}}, now: 10 * s, want: 7, wantSpan: 10 * s,
	}, {
		name: "unrecorded time counts as zero",
		size: 10 * s, recs: []rec{{0, 5 * s, 8}}, now: 20 * s, want: 0, wantSpan: 10 * s,
	}, {
		name: "half the window busy",
		size: 10 * s, recs: []rec{{0, 15 * s, 0}, {15 * s, 20 * s, 8}}, now: 20 * s, want: 4, wantSpan: 10 * s,
	}, {
		name: "samples off the second are weighted by time",
		// 10 for 0.3s, 0 for 1.7s: 3 concurrency-seconds over 2s.
		size: 60 * s, recs: []rec{{0, 300 * ms, 10}, {300 * ms, 2 * s, 0}}, now: 2 * s, want: 1.5, wantSpan: 2 * s,
	}, {
		name: "two samples in one bucket both count",
		size: 60 * s, recs: []rec{{0, 400 * ms, 5}, {400 * ms, 1 * s, 10}}, now: 1 * s, want: 8, wantSpan: 1 * s,
	}, {
		name: "a long period is spread over the buckets it covers",
		size: 4 * s, recs: []rec{{0, 10 * s, 3}}, now: 10 * s, want: 3, wantSpan: 4 * s,
	}, {
		name: "the old edge takes a share of a cut bucket",
		// Window (1.5s, 3.5s]: half of bucket 1 (4), bucket 2 (4), half of
		// bucket 3 recorded up to 3.5s (2): 2+4+2 = 8 over 2s.
		size: 2 * s, recs: []rec{{0, 3500 * ms, 4}}, now: 3500 * ms, want: 4, wantSpan: 2 * s,
	}, {
		name: "NaN, infinite and negative concurrency are dropped",
		size: 10 * s, recs: []rec{{0, 3 * s, math.NaN()}, {3 * s, 6 * s, math.Inf(1)}, {6 * s, 10 * s, -3}}, now: 10 * s, want: 0, wantSpan: 10 * s,
	}, {
		name: "old buckets reused by the ring do not leak in",
		size: 2 * s, recs: []rec{{0, 1 * s, 100}, {1 * s, 6 * s, 0}, {6 * s, 7 * s, 2}}, now: 7 * s, want: 1, wantSpan: 2 * s,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWindow(tt.size, t0)
			for _, r := range tt.recs {
				w.record(t0.Add(r.from), t0.Add(r.to), r.c)
			}
			got, span := w.average(t0.Add(tt.now), t0, tt.size)
			if math.Abs(got-tt.want) > 1e-9 || span != tt.wantSpan {
				t.Errorf("average = %v over %v, want %v over %v", got, span, tt.want, tt.wantSpan)
			}
		})
	}
}

// The zero time.Time is a valid epoch: buckets count from it, not from 1970.
func TestWindowZeroEpoch(t *testing.T) {
	w := newWindow(2*time.Second, time.Time{})
	w.record(time.Time{}, time.Time{}.Add(3*time.Second), 5)
	if got, _ := w.average(time.Time{}.Add(3*time.Second), time.Time{}, 2*time.Second); got != 5 {
		t.Errorf("average = %v, want 5", got)
	}
}

func TestCeilRatio(t *testing.T) {
	tests := []struct {
		name string
		x, y float64
		want int
	}{
		{"zero", 0, 70, 0},
		{"exact multiple", 140, 70, 2},
		{"float noise above a multiple", 140.00000000001, 70, 2},
		{"just over", 140.1, 70, 3},
		{"tiny load", 0.01, 70, 1},
		{"negative", -5, 70, 0},
		{"NaN", math.NaN(), 70, 0},
		{"infinite", math.Inf(1), 70, math.MaxInt32},
		{"bounded", 1e300, 1, math.MaxInt32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ceilRatio(tt.x, tt.y); got != tt.want {
				t.Errorf("ceilRatio(%v, %v) = %d, want %d", tt.x, tt.y, got, tt.want)
			}
		})
	}
}

// The panic window is the newest part of the same buckets.
func TestWindowShorterSpan(t *testing.T) {
	w := newWindow(10*time.Second, t0)
	w.record(t0, t0.Add(8*time.Second), 10)
	w.record(t0.Add(8*time.Second), t0.Add(10*time.Second), 40)
	if got, span := w.average(t0.Add(10*time.Second), t0, 2*time.Second); got != 40 || span != 2*time.Second {
		t.Errorf("2s of a 10s window: %v over %v, want 40 over 2s", got, span)
	}
	if got, _ := w.average(t0.Add(10*time.Second), t0, time.Hour); got != 16 {
		t.Errorf("a span longer than the window: %v, want the whole window's 16", got)
	}
}

func TestMaxWindow(t *testing.T) {
	m := maxWindow{size: 10 * time.Second}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		at, n, want int
	}{{0, 3, 3}, {2, 5, 5}, {4, 1, 5}, {11, 2, 5}, {12, 1, 2}, {13, 0, 2}, {21, 0, 1}, {22, 0, 0}, {23, 0, 0}} // (now-size, now]: at 21s the 2 of 11s is out
	for _, s := range steps {
		m.record(at(s.at), s.n)
		if got := m.max(at(s.at)); got != s.want {
			t.Errorf("at %ds after recording %d: max %d, want %d", s.at, s.n, got, s.want)
		}
	}
	if len(m.entries) > 2 {
		t.Errorf("%d entries kept, want only those that can still be the maximum", len(m.entries))
	}
}
