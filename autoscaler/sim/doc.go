// Package sim replays a request trace through the real autoscaler
// Decider on a simulated clock, with a model of instance start-up, and
// reports what it decided and what that cost: how long requests queued,
// how many instance-seconds ran, how often it scaled and panicked.
//
// It owns three things: reading traces (per-second concurrency or
// requests per second, or a log of requests, see Read), the model the
// Decider is run against (Run), and presenting the result (WriteReport,
// WriteJSON, WritePlot).
//
// The model, in one paragraph. Time advances in Ticks of 100ms; load is
// constant within a tick. The Decider is driven as the autoscaler's loop
// drives it: a sample every second (DefaultSampleInterval), a decision
// every two (DefaultDecisionInterval), and Activate, the wake path, when
// requests are queued — at most once a second. A sample reports what the
// activator would: concurrency is demand (in flight plus queued), because
// the activator counts requests while they wait. A new instance becomes
// ready after its start-up time; when the count falls, starting instances
// are cancelled first, then ready ones are removed at once (the runtime's
// drain of in-flight requests is not modelled). Capacity is ready ×
// containerConcurrency (no limit when it is 0), and demand beyond it is
// queued. By default the queue does not carry over: demand is what the
// trace says, whatever was served before. For a concurrency trace that is
// exact (a fixed number of clients each with one request outstanding wait
// rather than send more); for an rps trace it understates a backlog, which
// in a real system grows while capacity is short and takes time to drain.
// Options.ClientTimeout models that instead (Queue): requests wait first
// come first served until a slot frees or their client gives up, and the
// run counts lost requests and latency percentiles.
package sim
