package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// densityBatch is how many functions one apply request carries.
const densityBatch = 500

// densityRow is n idle functions deployed on one wake serve.
type densityRow struct {
	Functions    int     `json:"functions"`
	RSSBeforeMiB float64 `json:"rss_before_mib"`
	RSSAfterMiB  float64 `json:"rss_after_mib"`
	KiBPerFn     float64 `json:"kib_per_function"`
	ApplyPerFnms float64 `json:"apply_ms_per_function"`
	ApplySeconds float64 `json:"apply_seconds"`
	// The last batch's time per function: apply cost as the count grows.
	LastBatchPerFnms float64 `json:"last_batch_ms_per_function"`
	NotFoundP50ms    float64 `json:"not_found_p50_ms"`
	NotFoundP99ms    float64 `json:"not_found_p99_ms"`
	Processes        int     `json:"instance_processes"` // children of wake serve: 0 when idle costs no process
}

type densityResult struct {
	Rows []densityRow `json:"rows"`
	// The router micro-benchmark is the reference for the lookup itself:
	// `go test -bench . ./router` (make bench-micro) at 10,000 functions.
	RouterBenchmark string `json:"router_benchmark"`
}

func runDensity(ctx context.Context, c *config, bins binaries) (*densityResult, error) {
	counts := []int{1000, 10000}
	if c.quick {
		counts = []int{1000}
	}
	res := &densityResult{RouterBenchmark: "go test -run '^$' -bench . ./router (make bench-micro)"}
	for _, n := range counts {
		row, err := densityOnce(ctx, c, bins, n)
		if err != nil {
			return res, fmt.Errorf("%d functions: %w", n, err)
		}
		res.Rows = append(res.Rows, row)
	}
	fmt.Println()
	fmt.Println(res.table())
	return res, nil
}

func densityOnce(ctx context.Context, c *config, bins binaries, n int) (densityRow, error) {
	row := densityRow{Functions: n}
	w, err := startWake(ctx, c, bins, fmt.Sprintf("density%d", n))
	if err != nil {
		return row, err
	}
	defer w.close()
	before, err := rssBytes(w.pid())
	if err != nil {
		return row, err
	}
	row.RSSBeforeMiB = mib(before)
	t0 := time.Now()
	for i := 0; i < n; i += densityBatch {
		specs := make([]fnSpec, 0, densityBatch)
		for j := i; j < min(i+densityBatch, n); j++ {
			specs = append(specs, fnSpec{name: fmt.Sprintf("idle-%d", j), annotations: map[string]string{"initial-scale": "0"}})
		}
		tb := time.Now()
		if err := w.apply(ctx, manifest(bins.testfn, specs...)); err != nil {
			return row, err
		}
		row.LastBatchPerFnms = ms(time.Since(tb)) / float64(len(specs))
		fmt.Fprintf(os.Stderr, "  applied %d of %d functions in %s\n", min(i+densityBatch, n), n, time.Since(t0).Round(time.Millisecond))
	}
	applied := time.Since(t0)
	row.ApplySeconds = applied.Seconds()
	row.ApplyPerFnms = ms(applied) / float64(n)
	// Let the reconciler settle before measuring what idle functions cost.
	time.Sleep(3 * time.Second)
	r := attack(ctx, loadSpec{url: "http://" + w.http + "/", host: host("nobody-has-this"), rate: 500, duration: c.dur(3 * time.Second), okCode: 404})
	if r.Errors > 0 {
		return row, fmt.Errorf("unknown host: %d requests did not get a 404, first: %s", r.Errors, r.FirstErr)
	}
	row.NotFoundP50ms, row.NotFoundP99ms = r.P50ms, r.P99ms
	after, err := rssBytes(w.pid())
	if err != nil {
		return row, err
	}
	row.RSSAfterMiB = mib(after)
	row.KiBPerFn = float64(after-before) / 1024 / float64(n)
	row.Processes = len(children(w.pid()))
	return row, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func (r *densityResult) table() string {
	t := newTable("idle functions", "apply s", "apply ms/function", "last batch ms/function", "RSS before MiB", "RSS after MiB", "KiB/function", "404 p50 ms", "404 p99 ms", "instance processes")
	for _, row := range r.Rows {
		t.add(fmt.Sprint(row.Functions), fmt.Sprintf("%.1f", row.ApplySeconds), fmt.Sprintf("%.2f", row.ApplyPerFnms), fmt.Sprintf("%.2f", row.LastBatchPerFnms),
			f1(row.RSSBeforeMiB), f1(row.RSSAfterMiB), f1(row.KiBPerFn), f3(row.NotFoundP50ms), f3(row.NotFoundP99ms), fmt.Sprint(row.Processes))
	}
	return t.String()
}
