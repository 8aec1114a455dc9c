// Package delivery owns getting one CloudEvent to one sink over HTTP with
// Knative Eventing's delivery semantics: it encodes the event with the
// CloudEvents SDK (binary mode by default, structured on request), POSTs it,
// decides from the response whether to retry, waits out the backoff of a
// trigger's spec.delivery (Knative's DeliverySpec), and when the sink keeps
// refusing the event sends it to the dead-letter sink annotated with
// Knative's knativeerror* extension attributes.
//
// The retry loop is wake's own (not the SDK's), so that time is injected and
// every decision is visible in the Result. The Kafka and cron triggers call
// Deliverer.Deliver once per event; what to do with a Failed result (commit
// the offset or not) is theirs to decide.
package delivery
