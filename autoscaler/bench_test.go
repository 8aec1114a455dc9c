package autoscaler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	clocktesting "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
)

// Wake is on the request path; in a burst almost every call finds a wake
// already pending.
func BenchmarkWake(b *testing.B) {
	a := New(Options{Sample: newFakeActivator().Sample, Scaler: &fakeScaler{}})
	a.Upsert(revA, UpsertOptions{})
	b.ReportAllocs()
	for b.Loop() {
		a.Wake(keyA)
	}
}

func BenchmarkWakeUnknown(b *testing.B) {
	a := New(Options{Sample: newFakeActivator().Sample, Scaler: &fakeScaler{}})
	a.Upsert(revA, UpsertOptions{})
	other := api.RevisionKey{Namespace: "default", Name: "other-00001"}
	b.ReportAllocs()
	for b.Loop() {
		a.Wake(other)
	}
}

// BenchmarkWakeParallel has every core waking one revision while the loop
// drains the wakes, the contended case.
func BenchmarkWakeParallel(b *testing.B) {
	clk := clocktesting.NewFakeClock(t0)
	a := New(Options{Sample: newFakeActivator().Sample, Scaler: &fakeScaler{clock: clk}, Clock: clk})
	a.Upsert(revA, UpsertOptions{})
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a.Wake(keyA)
		}
	})
	cancel()
	<-done
}

// BenchmarkDecisionTick is one decision tick (sample, decide, gauges, and
// a Scale call where the count changed) across 10,000 revisions, the
// loop's whole periodic cost. It reports ns per revision.
func BenchmarkDecisionTick(b *testing.B) {
	const n = 10_000
	clk := clocktesting.NewFakeClock(t0)
	tick := 0
	a := New(Options{
		// Load that moves, so decisions change now and then: every revision
		// sees its own slowly varying concurrency.
		Sample: func(rev api.RevisionKey) Sample {
			c := float64((len(rev.Name)*7 + tick) % 300)
			return Sample{Concurrency: c, InFlight: int(c), Requests: int64(c), Ready: int(c/70) + 1}
		},
		Scaler:     noopScaler{},
		Clock:      clk,
		Registerer: prometheus.NewRegistry(),
	})
	for i := range n {
		a.Upsert(newRevision(fmt.Sprintf("fn%05d-00001", i), nil), UpsertOptions{Initial: true})
	}
	ctx := b.Context()
	a.work(ctx) // the Upserts' first Scale calls
	// A window's worth of history first, and a trace's: the ring settles
	// at its size, as it would in a platform that has run a while.
	for range int(TraceSpan / time.Second) {
		clk.Step(time.Second)
		tick++
		a.tick(ctx, tick%2 == 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clk.Step(time.Second)
		tick++
		a.tick(ctx, true)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/revision")
}

type noopScaler struct{}

func (noopScaler) Scale(context.Context, api.RevisionKey, int) error { return nil }
