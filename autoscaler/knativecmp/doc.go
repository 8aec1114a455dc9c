// Package knativecmp runs wake's autoscaler Decider and Knative serving's
// own KPA code (knative.dev/serving/pkg/autoscaler/scaling, fed through
// its metrics collector, with the deciders Knative's kpa resources make)
// on the same load traces, second by second, and holds wake to Knative's
// decisions.
//
// It is a module of its own so that the wake binary never links Knative:
// run it with `cd autoscaler/knativecmp && go test ./...`.
//
// Every difference must be one of wake's deliberate deviations, each of
// which marks the decision that made it (its Step):
//
//   - StepInFlightFloor: a fall never goes below what the requests in
//     flight and queued now need at the target (the averages lag a
//     rising load; without it the count flaps at every wake).
//   - StepBacklogPlan: with a backlog held by the activator on ready
//     instances, the count is planned from the arrival rate and the
//     backlog's drain, not one slot per waiting request (Knative's
//     activator counts waiting requests as concurrency, so a 5s start
//     under 300 rps asks for ~120 instances for a load that needs 5;
//     TestSpikeAgainstKnative). The windows then hold the planned
//     concurrency for a stable window, so later decisions may differ
//     too: Decision.PlanInWindows marks them. On the concurrency traces,
//     whose arrivals are not a real queue's, the plan shows wherever the
//     load exceeds the ready slots at containerConcurrency 10.
//
// Scale to zero is Knative's KPA scaler rule (handleScaleToZero in
// pkg/reconciler/autoscaling/kpa/scaler.go), transcribed in kpaZero below
// because that code runs only inside a Kubernetes reconciler: with
// target-burst-capacity -1 (wake's activator is always in the path) a
// revision active for a stable window is marked inactive at the first
// decision that wants 0 and goes to zero at a later one once inactive for
// scale-to-zero-pod-retention-period; the grace period does not delay it.
package knativecmp
