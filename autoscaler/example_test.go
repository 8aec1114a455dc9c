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
	spec := autoscaler.DefaultConfig().Spec(s)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
	d := autoscaler.NewDecider(spec, start, false)

	fmt.Println(d.Activate(at(0), 200).Reason())
	// The activator is sampled every second, the decision made every two.
	for sec := 1; sec <= 120; sec++ {
		sample := autoscaler.Sample{Ready: d.Desired()}
		if sec <= 3 { // the burst takes 3s to serve
			sample.Concurrency, sample.InFlight = 200, 200
		}
		d.Record(at(sec), sample)
		if sec%2 == 0 {
			if dec := d.Decide(at(sec)); dec.Changed() {
				fmt.Printf("%ds: %s\n", sec, dec.Reason())
			}
		}
	}
	// The burst panicked the revision: its 3 instances stay for a stable
	// window. The last activity was at 3s: the 64s decision finds the
	// stable average 0 and goes to zero (Knative's clock: no grace with
	// the activator in the path).

	// Output:
	// activation: 200 waiting / target 70 = 3 wanted, 0 ready; entered panic → 3
	// 62s: stable: 1m0s avg 3.333 / target 70 = 1 wanted, 3 ready; left panic after a 1m0s stable window below the threshold → 1
	// 64s: stable: 1m0s avg 0 / target 70 = 0 wanted, 1 ready; inactive: to zero → 0
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
