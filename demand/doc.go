// Package demand carries what the gateways see to the autoscaler leader
// when wake runs on Kubernetes, where the activator and the autoscaler
// live in different processes.
//
// It owns both ends of that link and the wire format between them:
//
//   - Reporter runs in every gateway. Every half second it pushes the
//     activator's counts per revision (concurrency, in flight, queued,
//     requests, ready), the instances the gateway still uses and the
//     outcomes of its requests so far (answered, errors, a sparse latency
//     histogram), and it is the activator's Waker: a request queued at
//     zero wakes the revision through the leader, at most one wake-up per
//     revision in flight.
//   - Collector runs in the controller leader. It keeps each live
//     gateway's latest report and serves the sums as the autoscaler's
//     Sample, forwards wake-ups to the autoscaler, and is the Kubernetes
//     runtime's Drainer: an instance's pod goes only once every live
//     gateway has reported that it stopped using it. Apart from those it
//     sums the outcomes every gateway reported since the leader started,
//     live or gone, as the control plane's Outcomes for the rollouts'
//     analysis: a sum that never decreases, even when a gateway restarts.
//
// Both ends authenticate with a token the controllers and the gateways
// share (a Secret in Kubernetes): the Reporter sends it as a bearer token
// read from a TokenFile, reread as the mounted Secret rotates, and a Guard
// in front of the collector refuses, counts and logs any report or
// wake-up without an accepted one, before it records or wakes anything.
//
// In embedded mode (wake serve) none of this runs: the autoscaler samples
// the activator in process.
package demand
