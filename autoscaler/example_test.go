package autoscaler_test

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
)

// A revision's life in simulated time: woken from zero by a burst, served,
// then idle until it goes back to zero.
func ExampleDecider() {
	s, _ := api.ParseScaling(nil, 0, field.NewPath("metadata", "annotations"))
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
	d := autoscaler.NewDecider(autoscaler.DeciderOptions{Scaling: s, Now: start})

	fmt.Println(d.Activate(at(0), 200).Reason)
	// The activator is sampled every second, the decision made every two.
	for sec := 1; sec <= 120; sec++ {
		sample := autoscaler.Sample{}
		if sec <= 3 { // the burst takes 3s to serve
			sample = autoscaler.Sample{Concurrency: 200, InFlight: 200}
		}
		d.Record(at(sec), sample)
		if sec%2 == 0 {
			if before, dec := d.Desired(), d.Decide(at(sec)); dec.Desired != before {
				fmt.Printf("%ds: %s\n", sec, dec.Reason)
			}
		}
	}
	// Last activity at 3s; zero is due at 3s + 60s + 30s = 93s, taken at the
	// next decision.

	// Output:
	// activation: 200 in flight / target 70 → 3, had 0
	// 6s: average concurrency 100.0 over 6s / target 70 → 2
	// 10s: average concurrency 60.0 over 10s / target 70 → 1
	// 94s: average concurrency 0.0 over 1m0s / target 70 → 0; idle 1m31s ≥ window 1m0s + grace 30s → 0
}

// Wiring in a server: the activator supplies samples and wakes, the runtime
// applies counts.
func ExampleNew() {
	var (
		sample  func(api.RevisionKey) autoscaler.Sample // the activator's counts
		runtime autoscaler.Scaler                       // a runtime.Runtime
		rev     *api.Revision                           // from the store
	)
	a := autoscaler.New(autoscaler.Options{
		Sample: sample,
		Scaler: runtime,
		Logger: zap.NewExample(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx) //nolint:errcheck // returns nil when ctx ends

	a.Upsert(rev, autoscaler.UpsertOptions{Initial: true}) // a new revision: starts at initial-scale
	a.Wake(rev.Key())                                      // from the activator, when a request waits
}
