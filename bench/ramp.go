package main

import (
	"context"
	"fmt"
	"time"
)

// rampRates are the steps, each held for the step duration, from zero.
var rampRates = []int{50, 100, 200, 400}

// rampRow is one step of the ramp.
type rampRow struct {
	Rate      int     `json:"rate"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	Achieved  float64 `json:"achieved_rps"`
	P50ms     float64 `json:"p50_ms"`
	P95ms     float64 `json:"p95_ms"`
	P99ms     float64 `json:"p99_ms"`
	Instances int     `json:"instances_at_end"`
}

type rampResult struct {
	StepSeconds float64   `json:"step_seconds"`
	Rows        []rampRow `json:"rows"`
}

// runRamp steps a constant rate up from zero against a function with
// containerConcurrency 10 and a 20 ms handler.
func runRamp(ctx context.Context, c *config, bins binaries) (*rampResult, error) {
	w, err := startWake(ctx, c, bins, "ramp")
	if err != nil {
		return nil, err
	}
	defer w.close()
	spec := fnSpec{name: "ramp", cc: 10, annotations: map[string]string{"initial-scale": "0"}}
	if err := w.apply(ctx, manifest(bins.testfn, spec)); err != nil {
		return nil, err
	}
	step := c.dur(10 * time.Second)
	res := &rampResult{StepSeconds: step.Seconds()}
	for _, rate := range rampRates {
		r := attack(ctx, loadSpec{url: "http://" + w.http + "/sleep?ms=20", host: host("ramp"), rate: rate, duration: step})
		row := rampRow{Rate: rate, Requests: r.Requests, Errors: r.Errors, Achieved: r.Achieved, P50ms: r.P50ms, P95ms: r.P95ms, P99ms: r.P99ms}
		if st, err := w.revision(ctx, "ramp-00001"); err == nil {
			row.Instances = st.Status.ActualReplicas
		}
		res.Rows = append(res.Rows, row)
	}
	fmt.Println()
	fmt.Println(res.table())
	return res, nil
}

func (r *rampResult) table() string {
	t := newTable("step rps", "requests", "achieved rps", "p50 ms", "p95 ms", "p99 ms", "errors", "instances at end")
	for _, row := range r.Rows {
		t.add(fmt.Sprint(row.Rate), fmt.Sprint(row.Requests), fmt.Sprintf("%.0f", row.Achieved), f1(row.P50ms), f1(row.P95ms), f1(row.P99ms), fmt.Sprint(row.Errors), fmt.Sprint(row.Instances))
	}
	return t.String()
}
