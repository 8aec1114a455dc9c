// Package activator owns the hop from wake to an instance. Per revision it
// holds the ready endpoints and the requests in flight on each, enforces
// containerConcurrency, picks the least loaded instance, and queues a
// request (bounded, until its timeout) when no instance has room: at zero,
// it wakes the revision through the autoscaler and forwards the request the
// moment an instance is ready. It also counts concurrency for the
// autoscaler, and drains an instance before the runtime stops it.
//
// A request that waited is told how (Server-Timing's wake-queue,
// wake-start, wake-ready and wake-warmup, and Wake-Cold-Start), each
// revision keeps its latest wake-ups from zero (ColdStarts), and counts
// its requests, errors and warm latencies for rollout analysis (Outcomes)
// with atomics only.
package activator
