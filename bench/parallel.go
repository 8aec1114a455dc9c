package main

import (
	"context"
	"fmt"
)

// parallelRow is n functions at zero woken at once, one request each.
type parallelRow struct {
	Functions int     `json:"functions"`
	Errors    int     `json:"errors"`
	P50ms     float64 `json:"ttfb_p50_ms"`
	P95ms     float64 `json:"ttfb_p95_ms"`
	Maxms     float64 `json:"ttfb_max_ms"`
}

type parallelResult struct {
	Rows []parallelRow `json:"rows"`
}

// runParallel wakes 1, 10 and 100 functions (initial-scale 0) at once, each
// with one request, each count on a fresh wake serve.
func runParallel(ctx context.Context, c *config, bins binaries) (*parallelResult, error) {
	res := &parallelResult{}
	for _, n := range []int{1, 10, 100} {
		row, err := parallelOnce(ctx, c, bins, n)
		if err != nil {
			return res, fmt.Errorf("%d functions: %w", n, err)
		}
		res.Rows = append(res.Rows, row)
	}
	fmt.Println()
	fmt.Println(res.table())
	return res, nil
}

func parallelOnce(ctx context.Context, c *config, bins binaries, n int) (parallelRow, error) {
	w, err := startWake(ctx, c, bins, fmt.Sprintf("parallel%d", n))
	if err != nil {
		return parallelRow{}, err
	}
	defer w.close()
	specs := make([]fnSpec, n)
	for i := range specs {
		specs[i] = fnSpec{name: fmt.Sprintf("par-%d", i), annotations: map[string]string{"initial-scale": "0"}}
	}
	if err := w.apply(ctx, manifest(bins.testfn, specs...)); err != nil {
		return parallelRow{}, err
	}
	lat, errs, _ := fire(ctx, burstClient(n), w.http, n, func(i int) (string, string) { return host(fmt.Sprintf("par-%d", i)), "/" })
	s := sortedCopy(lat)
	return parallelRow{Functions: n, Errors: len(errs), P50ms: ms(percentile(s, 0.5)), P95ms: ms(percentile(s, 0.95)), Maxms: ms(percentile(s, 1))}, nil
}

func (r *parallelResult) table() string {
	t := newTable("functions woken at once", "TTFB p50 ms", "p95 ms", "max ms", "errors")
	for _, row := range r.Rows {
		t.add(fmt.Sprint(row.Functions), f1(row.P50ms), f1(row.P95ms), f1(row.Maxms), fmt.Sprint(row.Errors))
	}
	return t.String()
}
