package sim

import (
	"time"

	"github.com/wakefn/wake/autoscaler"
)

// Result is what a simulation decided and what it cost.
type Result struct {
	Trace       string // the trace's name
	Format      Format
	ServiceTime time.Duration // as the trace used it; 0 for a request log
	Requests    float64       // requests in the trace
	// Spec is the revision's settings as the Decider used them.
	Spec                 autoscaler.Spec
	ContainerConcurrency int
	Startup              []time.Duration
	NewRevision          bool
	Warm                 int           // instances ready at time 0 (Options.Warm)
	ClientTimeout        time.Duration // Options.ClientTimeout
	Duration             time.Duration // simulated: the trace, then Options.After
	// Decisions are those that changed the count or the panic mode (every
	// one with Options.AllDecisions), in order.
	Decisions []Decision
	// Timeline has a Point per simulated second, for plots.
	Timeline []Point
	Summary  Summary
}

// Decision is one Decider decision and the state it was made in.
type Decision struct {
	At         time.Duration // since the trace began
	Load       float64       // requests in flight plus queued at that moment
	Queue      float64       // of which queued
	Ready      int           // instances ready, before the decision took effect
	Starting   int           // instances starting, before it took effect
	Previous   int           // the count before
	Desired    int           // the count decided
	Activation bool          // made on the wake path, for queued requests
	Panicking  bool
	Stable     float64 // the metric's average over the stable window
	Panic      float64 // ... and over the panic window
	Reason     string  // the Decider's own explanation
}

// Point is one simulated second, [At, At+1s): the load averaged over it,
// and the instances as they were at its start, once the decisions made
// then took effect.
type Point struct {
	At        time.Duration
	Load      float64 // mean requests in flight plus queued
	Queue     float64 // mean requests queued
	Ready     int
	Starting  int
	Desired   int
	Panicking bool
}

// Summary is what the whole run cost.
type Summary struct {
	PeakLoad  float64 // most requests in flight plus queued, in one tick
	PeakQueue float64 // most requests queued, in one tick
	// QueuedRequestSeconds is the queue integrated over time: a request
	// queued for 2s adds 2. Divided by Result.Requests it is the mean wait.
	QueuedRequestSeconds float64
	// InstanceSeconds is instances integrated over time, from when each was
	// asked for (a starting instance costs too) to when it was removed.
	InstanceSeconds float64
	PeakInstances   int           // most instances ready or starting at once
	TimeQueueing    time.Duration // time some request was queued
	TimeAtZero      time.Duration // time with no instance ready or starting
	TimeInPanic     time.Duration
	Decisions       int // decisions made, on the tick and on the wake path
	ScaleUps        int // decisions that raised the count
	ScaleDowns      int // decisions that lowered it
	Activations     int // decisions made on the wake path
	ColdStarts      int // activations with no instance ready or starting
	// With Options.ClientTimeout: requests served and lost (their client
	// gave up waiting; those still waiting at the end are neither), and
	// the median and 99th percentile of the served ones' time from
	// arrival to answer.
	Served, Lost           float64
	LatencyP50, LatencyP99 time.Duration
}

// ScaleEvents is the decisions that changed the count.
func (s Summary) ScaleEvents() int { return s.ScaleUps + s.ScaleDowns }
