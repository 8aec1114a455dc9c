// Package triggers runs wake's triggers in one server: for each stored
// api.Trigger it keeps either a Kafka consumer (eventing/kafka) or a cron
// schedule (eventing/cron), turns what they produce into CloudEvents, and
// hands each to a delivery.Deliverer built from the trigger's
// spec.delivery, under the trigger's rate limit.
//
// Events for a function sink go to the function's URL on wake's own
// router (the HTTP client dials the router for every host under wake's
// domain), so an event wakes a function at zero, follows traffic weights
// and counts for the autoscaler like any request.
//
// The Runner owns the live side of a trigger's status: delivered,
// dead-lettered, failed and retried counts, the rate limit in force, the
// Kafka lag and the cron fire times; and the metrics
// wake_trigger_events_total{trigger,outcome},
// wake_trigger_retries_total{trigger},
// wake_trigger_delivery_seconds{trigger} and
// wake_trigger_prewarms_total{trigger}.
//
// A cron trigger whose sink is a function wakes it ahead of each fire
// through a Prewarmer (the control plane), by the trigger's
// wake.dev/prewarm lead or the Prewarmer's default, so scheduled events do
// not meet a cold start.
package triggers
