package autoscaler

import (
	"context"
	"testing"

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
