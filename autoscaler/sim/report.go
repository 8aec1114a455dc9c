package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteReport writes the result for people: the settings, the decisions
// as a table, and the summary. Numbers have fixed precision, so the same
// run gives the same bytes on any machine (the golden tests rely on it).
func WriteReport(w io.Writer, r *Result) error {
	b := bufio.NewWriter(w)
	writeSettings(b, r)
	fmt.Fprintln(b)
	fmt.Fprintf(b, "%8s %7s %7s %5s %8s %8s %5s  %s\n", "TIME", "LOAD", "QUEUE", "READY", "STARTING", "DESIRED", "PANIC", "REASON")
	for _, d := range r.Decisions {
		panicking := "-"
		if d.Panicking {
			panicking = "yes"
		}
		fmt.Fprintf(b, "%8s %7.1f %7.1f %5d %8d %8s %5s  %s\n", clock(d.At), d.Load, d.Queue, d.Ready, d.Starting,
			fmt.Sprintf("%d→%d", d.Previous, d.Desired), panicking, d.Reason)
	}
	fmt.Fprintln(b)
	writeSummary(b, r)
	return b.Flush()
}

func writeSettings(b *bufio.Writer, r *Result) {
	fmt.Fprintf(b, "trace       %s (%s): %s, %.0f requests", r.Trace, r.Format, clock(r.Duration), r.Requests)
	if r.ServiceTime > 0 {
		fmt.Fprintf(b, ", service time %v", r.ServiceTime)
	}
	fmt.Fprintln(b)
	revision := fmt.Sprintf("existing, at min-scale %d", r.Spec.MinScale)
	if r.NewRevision {
		revision = fmt.Sprintf("new, starting %d", max(r.Spec.InitialScale, r.Spec.MinScale))
	}
	if r.Warm > 0 {
		revision += fmt.Sprintf(", %d warm", r.Warm)
	}
	fmt.Fprintf(b, "revision    %s; containerConcurrency %s; start-up %s\n", revision, limitText(r), startupText(r))
	if r.ClientTimeout > 0 {
		fmt.Fprintf(b, "requests    queue carried over, first come first served; clients give up after %v\n", r.ClientTimeout)
	}
	s := r.Spec
	fmt.Fprintf(b, "autoscaler  %s target %.4g × %.4g%% = %.4g per instance; stable window %v, panic window %v, panic threshold %.4g%%\n",
		s.Metric, s.Target, s.TargetValue/s.Target*100, s.TargetValue, s.StableWindow, s.PanicWindow, s.PanicThreshold*100)
	fmt.Fprintf(b, "            max-scale-up-rate %.4g, max-scale-down-rate %.4g, scale-down-delay %v; min-scale %d, max-scale %d, activation-scale %d\n",
		s.MaxScaleUpRate, s.MaxScaleDownRate, s.ScaleDownDelay, s.MinScale, s.MaxScale, s.ActivationScale)
	if s.ScaleToZero {
		fmt.Fprintf(b, "            scale to zero after about %v idle (stable window + retention, at the next decision; as Knative with the activator in the path)\n", s.ScaleToZeroAfter())
	} else {
		fmt.Fprintln(b, "            scale to zero disabled")
	}
}

func writeSummary(b *bufio.Writer, r *Result) {
	s := r.Summary
	wait := ""
	if r.Requests > 0 {
		wait = fmt.Sprintf(" (mean wait %.3fs per request)", s.QueuedRequestSeconds/r.Requests)
	}
	lines := []struct{ name, value string }{
		{"simulated", clock(r.Duration)},
		{"peak load", fmt.Sprintf("%.1f requests", s.PeakLoad)},
		{"peak queue", fmt.Sprintf("%.1f requests", s.PeakQueue)},
		{"queued request-seconds", fmt.Sprintf("%.1f%s", s.QueuedRequestSeconds, wait)},
		{"time with requests queued", clock(s.TimeQueueing)},
		{"instance-seconds", fmt.Sprintf("%.1f", s.InstanceSeconds)},
		{"peak instances", fmt.Sprint(s.PeakInstances)},
		{"time at zero instances", clock(s.TimeAtZero)},
		{"scale events", fmt.Sprintf("%d (%d up, %d down)", s.ScaleEvents(), s.ScaleUps, s.ScaleDowns)},
		{"activations", fmt.Sprintf("%d (%d from zero)", s.Activations, s.ColdStarts)},
		{"time in panic", clock(s.TimeInPanic)},
		{"decisions", fmt.Sprint(s.Decisions)},
	}
	if r.ClientTimeout > 0 {
		lines = append(lines, []struct{ name, value string }{
			{"requests served", fmt.Sprintf("%.0f", s.Served)},
			{"requests lost", fmt.Sprintf("%.0f (client gave up after %v)", s.Lost, r.ClientTimeout)},
			{"latency p50, p99", fmt.Sprintf("%s, %s", clock(s.LatencyP50), clock(s.LatencyP99))},
		}...)
	}
	fmt.Fprintln(b, "summary")
	for _, l := range lines {
		fmt.Fprintf(b, "  %-26s %s\n", l.name, l.value)
	}
}

// limitText is the containerConcurrency as people read it.
func limitText(r *Result) string {
	if r.ContainerConcurrency == 0 {
		return "no limit"
	}
	return fmt.Sprint(r.ContainerConcurrency)
}

// startupText is the start-up times as --startup takes them.
func startupText(r *Result) string {
	s := make([]string, len(r.Startup))
	for i, d := range r.Startup {
		s[i] = d.String()
	}
	return strings.Join(s, ",")
}

// clock writes a time in the run as seconds with the Tick's precision.
func clock(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// WriteJSON writes the result as one JSON object, times in seconds.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(toJSON(r))
}

type jsonResult struct {
	Trace                string         `json:"trace"`
	Format               Format         `json:"format"`
	ServiceTime          float64        `json:"serviceTimeSeconds,omitempty"`
	Requests             float64        `json:"requests"`
	Settings             jsonSettings   `json:"settings"`
	ContainerConcurrency int            `json:"containerConcurrency"`
	Startup              []float64      `json:"startupSeconds"`
	NewRevision          bool           `json:"newRevision"`
	Warm                 int            `json:"warm,omitempty"`
	ClientTimeout        float64        `json:"clientTimeoutSeconds,omitempty"`
	Duration             float64        `json:"durationSeconds"`
	Decisions            []jsonDecision `json:"decisions"`
	Timeline             []jsonPoint    `json:"timeline"`
	Summary              jsonSummary    `json:"summary"`
}

type jsonSettings struct {
	Metric                string  `json:"metric"`
	Target                float64 `json:"target"`
	TargetValue           float64 `json:"targetPerInstance"`
	StableWindow          float64 `json:"stableWindowSeconds"`
	PanicWindow           float64 `json:"panicWindowSeconds"`
	PanicThresholdPercent float64 `json:"panicThresholdPercentage"`
	MaxScaleUpRate        float64 `json:"maxScaleUpRate"`
	MaxScaleDownRate      float64 `json:"maxScaleDownRate"`
	ScaleDownDelay        float64 `json:"scaleDownDelaySeconds"`
	InitialScale          int     `json:"initialScale"`
	MinScale              int     `json:"minScale"`
	MaxScale              int     `json:"maxScale"`
	ActivationScale       int     `json:"activationScale"`
	ScaleToZero           bool    `json:"scaleToZero"`
	ZeroAfter             float64 `json:"zeroAfterIdleSeconds"`
}

type jsonDecision struct {
	At         float64 `json:"at"`
	Load       float64 `json:"load"`
	Queue      float64 `json:"queue"`
	Ready      int     `json:"ready"`
	Starting   int     `json:"starting"`
	Previous   int     `json:"previous"`
	Desired    int     `json:"desired"`
	Activation bool    `json:"activation"`
	Panicking  bool    `json:"panicking"`
	Stable     float64 `json:"stable"`
	Panic      float64 `json:"panic"`
	Reason     string  `json:"reason"`
}

type jsonPoint struct {
	At        float64 `json:"at"`
	Load      float64 `json:"load"`
	Queue     float64 `json:"queue"`
	Ready     int     `json:"ready"`
	Starting  int     `json:"starting"`
	Desired   int     `json:"desired"`
	Panicking bool    `json:"panicking"`
}

type jsonSummary struct {
	PeakLoad             float64 `json:"peakLoad"`
	PeakQueue            float64 `json:"peakQueue"`
	QueuedRequestSeconds float64 `json:"queuedRequestSeconds"`
	InstanceSeconds      float64 `json:"instanceSeconds"`
	PeakInstances        int     `json:"peakInstances"`
	TimeQueueing         float64 `json:"timeQueueingSeconds"`
	TimeAtZero           float64 `json:"timeAtZeroSeconds"`
	TimeInPanic          float64 `json:"timeInPanicSeconds"`
	Decisions            int     `json:"decisions"`
	ScaleEvents          int     `json:"scaleEvents"`
	ScaleUps             int     `json:"scaleUps"`
	ScaleDowns           int     `json:"scaleDowns"`
	Activations          int     `json:"activations"`
	ColdStarts           int     `json:"coldStarts"`
	Served               float64 `json:"served,omitempty"`
	Lost                 float64 `json:"lost,omitempty"`
	LatencyP50           float64 `json:"latencyP50Seconds,omitempty"`
	LatencyP99           float64 `json:"latencyP99Seconds,omitempty"`
}

func toJSON(r *Result) jsonResult {
	s := r.Spec
	out := jsonResult{
		Trace: r.Trace, Format: r.Format, ServiceTime: r.ServiceTime.Seconds(), Requests: r.Requests,
		Settings: jsonSettings{
			Metric: s.Metric, Target: s.Target, TargetValue: s.TargetValue,
			StableWindow: s.StableWindow.Seconds(), PanicWindow: s.PanicWindow.Seconds(),
			PanicThresholdPercent: s.PanicThreshold * 100, MaxScaleUpRate: s.MaxScaleUpRate,
			MaxScaleDownRate: s.MaxScaleDownRate, ScaleDownDelay: s.ScaleDownDelay.Seconds(),
			InitialScale: s.InitialScale, MinScale: s.MinScale, MaxScale: s.MaxScale,
			ActivationScale: s.ActivationScale, ScaleToZero: s.ScaleToZero, ZeroAfter: s.ScaleToZeroAfter().Seconds(),
		},
		ContainerConcurrency: r.ContainerConcurrency, NewRevision: r.NewRevision, Duration: r.Duration.Seconds(),
		Warm: r.Warm, ClientTimeout: r.ClientTimeout.Seconds(),
		Decisions: make([]jsonDecision, len(r.Decisions)), Timeline: make([]jsonPoint, len(r.Timeline)),
	}
	for _, st := range r.Startup {
		out.Startup = append(out.Startup, st.Seconds())
	}
	for i, d := range r.Decisions {
		out.Decisions[i] = jsonDecision{At: d.At.Seconds(), Load: d.Load, Queue: d.Queue, Ready: d.Ready,
			Starting: d.Starting, Previous: d.Previous, Desired: d.Desired, Activation: d.Activation,
			Panicking: d.Panicking, Stable: d.Stable, Panic: d.Panic, Reason: d.Reason}
	}
	for i, p := range r.Timeline {
		out.Timeline[i] = jsonPoint{At: p.At.Seconds(), Load: p.Load, Queue: p.Queue, Ready: p.Ready,
			Starting: p.Starting, Desired: p.Desired, Panicking: p.Panicking}
	}
	sum := r.Summary
	out.Summary = jsonSummary{PeakLoad: sum.PeakLoad, PeakQueue: sum.PeakQueue,
		QueuedRequestSeconds: sum.QueuedRequestSeconds, InstanceSeconds: sum.InstanceSeconds,
		PeakInstances: sum.PeakInstances, TimeQueueing: sum.TimeQueueing.Seconds(),
		TimeAtZero: sum.TimeAtZero.Seconds(), TimeInPanic: sum.TimeInPanic.Seconds(),
		Decisions: sum.Decisions, ScaleEvents: sum.ScaleEvents(), ScaleUps: sum.ScaleUps,
		ScaleDowns: sum.ScaleDowns, Activations: sum.Activations, ColdStarts: sum.ColdStarts,
		Served: sum.Served, Lost: sum.Lost, LatencyP50: sum.LatencyP50.Seconds(), LatencyP99: sum.LatencyP99.Seconds()}
	return out
}
