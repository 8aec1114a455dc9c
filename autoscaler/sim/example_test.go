package sim_test

import (
	"fmt"
	"strings"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler/sim"
)

// A burst of 50 requests in flight for 3 seconds reaches a revision at
// zero whose instances take 10 requests each and 2 seconds to start.
func ExampleRun() {
	trace := `second,concurrency
0,50
1,50
2,50
`
	tr, err := sim.Read(strings.NewReader(trace), "burst.csv", sim.ReadOptions{})
	if err != nil {
		panic(err)
	}
	res, err := sim.Run(tr, sim.Options{
		Scaling: api.Scaling{ContainerConcurrency: 10},
		Startup: []time.Duration{2 * time.Second},
	})
	if err != nil {
		panic(err)
	}
	for _, d := range res.Decisions {
		fmt.Printf("%v: %d → %d\n", d.At, d.Previous, d.Desired)
	}
	s := res.Summary
	fmt.Printf("queued %.0f request-seconds; %.0f instance-seconds\n", s.QueuedRequestSeconds, s.InstanceSeconds)
	// Output:
	// 0s: 0 → 8
	// queued 100 request-seconds; 24 instance-seconds
}
