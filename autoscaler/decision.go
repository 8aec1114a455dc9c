package autoscaler

import (
	"fmt"
	"strings"
	"time"
)

// Decision is one scaling decision with everything it was made from, so
// it can be explained: the observed averages, the wants they gave, the
// rules that moved the count afterwards (Steps), and the result. Reason
// renders it for people; it is formatted only when asked for, so deciding
// for 10,000 revisions every 2 seconds formats nothing.
type Decision struct {
	At         time.Time
	Activation bool // made on the Wake path, not at a tick
	Previous   int  // the count before
	Desired    int  // the count decided
	Ready      int  // instances ready at the last sample
	InFlight   int  // requests in flight and queued

	Metric                    string // api.MetricConcurrency or api.MetricRPS
	TargetValue               float64
	StableWindow, PanicWindow time.Duration
	Stable, Panic             float64       // averages of the metric over the windows
	StableSpan, PanicSpan     time.Duration // what the averages cover (less than the window for a new revision)
	StableWant, PanicWant     int           // ceil(average / TargetValue); on activation PanicWant is from the requests waiting (and Panic, with rps, their rate)
	MaxUp, MaxDown            int           // the rate limits of this step
	Panicking                 bool

	Steps        Step
	BeforeDelay  int // with StepScaleDownDelay: the count before the delay held it up
	InFlightNeed int // with StepInFlightFloor: what the requests in flight need
	// With StepBacklogPlan: the requests waiting beyond the ready slots,
	// the concurrency planned for them and the arrivals, and the arrival
	// rate and seconds per request it was planned from.
	Backlog                  int
	Planned                  float64
	ArrivalRate, RequestTime float64
	// PlanInWindows: the stable window still holds samples the backlog
	// plan lowered, so the averages are below the requests that were
	// present (the Knative comparison counts this as the plan's doing).
	PlanInWindows bool
	// With StepMinScaleSchedule: the min-scale-schedule entry (1-based)
	// holding the count up, and the count it holds.
	ScheduleEntry, ScheduleMin int
	// When the count would go to zero: how long the revision has been
	// active (it must be a stable window), inactive (0 at the decision
	// that made it so), and the inactive time needed
	// (scale-to-zero-pod-retention-period).
	ActiveFor, IdleFor, ZeroAfter time.Duration
}

// Step is a rule that changed a decision's count, or a transition it made.
type Step uint32

// Steps, in the order they apply (StepMinScaleSchedule, added last,
// applies with StepMinScale).
const (
	StepNoData Step = 1 << iota
	StepScaleUpRate
	StepScaleDownRate
	StepActivationScale
	StepPanicEnter
	StepPanicExit
	StepPanicHold
	StepScaleDownDelay
	StepInFlightFloor
	StepInitialScale
	StepMinScale
	StepUnreachable
	StepMaxScale
	StepNoScaleToZero
	StepInFlight
	StepIdleWait
	StepToZero
	StepMinScaleSchedule
	StepActiveWait
	StepBacklogPlan
)

// Reason explains the decision in one line, e.g.
//
//	panic: 6s avg 480 / target 70 = 7 wanted, 3 ready → 7
//	stable: 1m0s avg 12.4 / target 70 = 1 wanted, 2 ready; max-scale-down-rate 2 allows no fewer than 1 → 1
func (d Decision) Reason() string {
	var b strings.Builder
	switch {
	case d.Steps&StepNoData != 0:
		fmt.Fprintf(&b, "no data yet, keeping %d", d.Desired)
		return b.String()
	case d.Activation:
		if d.Metric == "rps" {
			fmt.Fprintf(&b, "activation: %d waiting, arriving at %.4g/s / target %.4g = %d wanted, %d ready",
				d.InFlight, d.Panic, d.TargetValue, d.PanicWant, d.Ready)
		} else {
			fmt.Fprintf(&b, "activation: %d waiting / target %.4g = %d wanted, %d ready", d.InFlight, d.TargetValue, d.PanicWant, d.Ready)
		}
	case d.Panicking && d.PanicWant >= d.StableWant:
		fmt.Fprintf(&b, "panic: %v avg %.4g / target %.4g = %d wanted, %d ready", roundSpan(d.PanicSpan), d.Panic, d.TargetValue, d.PanicWant, d.Ready)
	default:
		mode := "stable"
		if d.Panicking {
			mode = "panic"
		}
		fmt.Fprintf(&b, "%s: %v avg %.4g / target %.4g = %d wanted, %d ready", mode, roundSpan(d.StableSpan), d.Stable, d.TargetValue, d.StableWant, d.Ready)
	}
	if d.Metric != "" && d.Metric != "concurrency" {
		fmt.Fprintf(&b, " (%s)", d.Metric)
	}
	notes := []struct {
		step Step
		text func() string
	}{
		{StepScaleUpRate, func() string { return fmt.Sprintf("max-scale-up-rate allows at most %d", d.MaxUp) }},
		{StepScaleDownRate, func() string { return fmt.Sprintf("max-scale-down-rate allows no fewer than %d", d.MaxDown) }},
		{StepActivationScale, func() string { return "raised to activation-scale" }},
		{StepPanicEnter, func() string {
			if d.Activation {
				return "entered panic"
			}
			return fmt.Sprintf("entered panic (%v avg %.4g wants %d)", roundSpan(d.PanicSpan), d.Panic, d.PanicWant)
		}},
		{StepPanicExit, func() string {
			return fmt.Sprintf("left panic after a %v stable window below the threshold", d.StableWindow)
		}},
		{StepPanicHold, func() string { return "no scale-down while panicking" }},
		{StepScaleDownDelay, func() string { return fmt.Sprintf("scale-down-delay holds %d (wanted %d)", d.Desired, d.BeforeDelay) }},
		{StepInFlightFloor, func() string {
			return fmt.Sprintf("%d in flight now need %d, no fewer", d.InFlight, d.InFlightNeed)
		}},
		{StepBacklogPlan, func() string {
			return fmt.Sprintf("backlog of %d planned as %.4g in flight (%.4g/s arriving, %.3gs each, plus its drain)",
				d.Backlog, d.Planned, d.ArrivalRate, d.RequestTime)
		}},
		{StepInitialScale, func() string { return "initial-scale not yet reached" }},
		{StepMinScale, func() string { return "min-scale" }},
		{StepMinScaleSchedule, func() string {
			return fmt.Sprintf("min-scale-schedule entry %d holds ≥ %d", d.ScheduleEntry, d.ScheduleMin)
		}},
		{StepUnreachable, func() string { return "no route reaches it: min-scale (and its schedule) does not hold" }},
		{StepMaxScale, func() string { return "max-scale" }},
		{StepNoScaleToZero, func() string { return "scale to zero is disabled, keeping 1" }},
		{StepInFlight, func() string { return fmt.Sprintf("%d in flight, keeping 1", d.InFlight) }},
		{StepActiveWait, func() string {
			return fmt.Sprintf("active %v of the %v stable window, keeping 1", d.ActiveFor.Round(time.Second), d.StableWindow)
		}},
		{StepIdleWait, func() string {
			return fmt.Sprintf("inactive %v of the %v retention, keeping 1", d.IdleFor.Round(time.Second), d.ZeroAfter)
		}},
		{StepToZero, func() string {
			if d.ZeroAfter == 0 {
				return "inactive: to zero"
			}
			return fmt.Sprintf("inactive %v ≥ %v retention: to zero", d.IdleFor.Round(time.Second), d.ZeroAfter)
		}},
	}
	for _, n := range notes {
		if d.Steps&n.step != 0 {
			b.WriteString("; ")
			b.WriteString(n.text())
		}
	}
	fmt.Fprintf(&b, " → %d", d.Desired)
	return b.String()
}

// Changed reports whether the decision moved the count or the panic mode:
// the decisions worth keeping in a revision's history and logging at info.
func (d Decision) Changed() bool {
	return d.Desired != d.Previous || d.Steps&(StepPanicEnter|StepPanicExit) != 0
}

// roundSpan shows an averaging span the way a person reads it: whole
// seconds, or tenths under a second.
func roundSpan(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
