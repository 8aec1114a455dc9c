package demand_test

import (
	"context"
	"log"
	"net/http"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/demand"
)

// wakeAutoscaler stands for *autoscaler.Autoscaler, whose Wake the
// collector calls.
type wakeAutoscaler struct{}

func (wakeAutoscaler) Wake(api.RevisionKey) {}

// The two ends as the kubernetes roles wire them: the leader serves the
// collector (its Sample feeds autoscaler.Options.Sample, and it drains
// instances for the Kubernetes runtime); each gateway's activator wakes
// revisions through its Reporter, which also reads the activator.
func Example() {
	ctx := context.Background()

	// wake controller, once elected:
	// The token comes from the Secret the controllers and gateways share.
	collector := demand.NewCollector(demand.CollectorOptions{Waker: wakeAutoscaler{}})
	tokens, err := demand.NewTokens("a-token-of-32-characters-or-more-from-a-secret", demand.TokensOptions{})
	if err != nil {
		log.Fatal(err)
	}
	guard, err := demand.NewGuard(demand.GuardOptions{Tokens: tokens})
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Print(http.ListenAndServe(":8082", guard.Wrap(collector.Handler()))) }()
	_ = collector.Sample   // autoscaler.Options.Sample
	_ = collector.Drain    // the runtime's Drainer
	_ = collector.Outcomes // the control plane's Activator.Outcomes, for rollouts

	// wake gateway: the activator needs its Waker before the Reporter
	// can read it, so the Waker forwards to the Reporter made after.
	var reporter *demand.Reporter
	act := activator.New(activator.Options{Waker: wakeFunc(func(k api.RevisionKey) { reporter.Wake(k) })})
	token, err := demand.NewTokenFile("/var/run/secrets/wake/report/token", demand.TokenFileOptions{})
	if err != nil {
		log.Fatal(err)
	}
	reporter, err = demand.NewReporter(demand.ReporterOptions{
		Controllers: []string{"http://wake-controller.wake-system.svc:8082"},
		Token:       token,
		Gateway:     "wake-gateway-7d9f-abcde",
		Source:      act,
	})
	if err != nil {
		log.Fatal(err)
	}
	go reporter.Run(ctx)
}

type wakeFunc func(api.RevisionKey)

func (f wakeFunc) Wake(k api.RevisionKey) { f(k) }
