// Package activator owns the hop from wake to an instance. Per revision it
// holds the ready endpoints and the requests in flight on each, enforces
// containerConcurrency, picks the least loaded instance, and queues a
// request (bounded, until its timeout) when no instance has room: at zero,
// it wakes the revision through the autoscaler and forwards the request the
// moment an instance is ready. It also counts concurrency for the
// autoscaler, and drains an instance before the runtime stops it.
package activator
