// Package autoscaler decides how many instances each revision should have
// and asks the runtime for that count.
//
// It owns three things, from the inside out:
//
//   - window: 1-second buckets of time-weighted concurrency, averaged over a
//     revision's autoscaling window.
//   - Decider: one revision's scaling decision as pure state and math over
//     times passed in (no goroutines, no clock reads), so it is tested in
//     simulated time: Knative's KPA, held to Knative's own code by
//     autoscaler/knativecmp (a module of its own), with wake's listed
//     deviations, among them the plan for a backlog held on ready
//     instances (backlog.go).
//   - Autoscaler: the loop that samples the activator's counts, runs every
//     revision's Decider on an injected clock, reacts to Wake at once on the
//     cold-start path, and calls the Scaler when a decision changes.
//
// The activator counts; the runtime starts and stops instances; this
// package only decides.
package autoscaler
