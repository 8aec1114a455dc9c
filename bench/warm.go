package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// warmRates are the constant rates of the warm path; 0 is the closed loop.
var warmRates = []int{500, 1000, 2000, 0}

// closedLoopClients is the closed loop's concurrency, like `wrk -c16`.
const closedLoopClients = 16

// warmTargets are compared in this order within each round.
var warmTargets = []string{"direct", "nginx", "wake"}

// warmRow is one target at one rate: the medians over the rounds.
type warmRow struct {
	Target   string  `json:"target"`
	Rate     int     `json:"rate"` // 0: closed loop, 16 clients
	Achieved float64 `json:"achieved_rps"`
	P50ms    float64 `json:"p50_ms"`
	P95ms    float64 `json:"p95_ms"`
	P99ms    float64 `json:"p99_ms"`
	Errors   int     `json:"errors"` // summed over the rounds
	// CPUPer1k is CPU-seconds per 1,000 requests of the proxy process
	// (nginx, wake serve), or of the function itself for direct.
	CPUPer1k float64 `json:"cpu_s_per_1k"`
	// Added latency over direct at the same rate, from the medians.
	AddedP50ms float64 `json:"added_p50_ms"`
	AddedP95ms float64 `json:"added_p95_ms"`
	AddedP99ms float64 `json:"added_p99_ms"`
}

type warmResult struct {
	Rounds         int       `json:"rounds"`
	PhaseSeconds   float64   `json:"phase_seconds"`
	Clients        int       `json:"closed_loop_clients"`
	Rows           []warmRow `json:"rows"`
	MaxNginxDirect float64   `json:"max_ratio_nginx_direct"`
	MaxWakeDirect  float64   `json:"max_ratio_wake_direct"`
	// The closed loop's ratios taken round by round, each against the
	// direct run of its own round, then the median: the rounds of a shared
	// machine drift together (direct's rps moves by a third between
	// rounds), which the ratio of the medians above mixes across rounds.
	RoundNginxDirect float64 `json:"max_round_ratio_nginx_direct"`
	RoundWakeDirect  float64 `json:"max_round_ratio_wake_direct"`
	RoundWakeNginx   float64 `json:"max_round_ratio_wake_nginx"`
}

// warmSample is one run of one target at one rate.
type warmSample struct {
	res loadResult
	cpu float64 // CPU-seconds per 1,000 requests
}

func runWarm(ctx context.Context, c *config, bins binaries) (*warmResult, error) {
	fn, direct, err := startFunction(ctx, bins)
	if err != nil {
		return nil, fmt.Errorf("direct function: %w", err)
	}
	defer fn.stop(5 * time.Second)
	ngx, nginxAddr, err := startNginx(ctx, filepath.Join(c.workDir, "nginx"), direct)
	if err != nil {
		return nil, err
	}
	defer ngx.stop(5 * time.Second)
	w, err := startWake(ctx, c, bins, "warm")
	if err != nil {
		return nil, err
	}
	defer w.close()
	spec := fnSpec{name: "warm", annotations: map[string]string{"min-scale": "1", "max-scale": "1", "initial-scale": "1"}}
	if err := w.apply(ctx, manifest(bins.testfn, spec)); err != nil {
		return nil, err
	}
	if err := w.waitReplicas(ctx, "warm-00001", 1, 30*time.Second); err != nil {
		return nil, err
	}

	type target struct {
		url, host string
		pid       int // whose CPU is counted
	}
	targets := map[string]target{
		"direct": {"http://" + direct + "/", "", fn.pid()},
		"nginx":  {"http://" + nginxAddr + "/", "", ngx.pid()},
		"wake":   {"http://" + w.http + "/", host("warm"), w.pid()},
	}
	phase := c.dur(5 * time.Second)
	fmt.Printf("warm path: %d round(s) of %s per target and rate, rates %v (0 = closed loop, %d clients)\n",
		c.rounds, phase, warmRates, closedLoopClients)
	// Warm every target up: connections, the instance's and proxies' caches.
	for _, name := range warmTargets {
		t := targets[name]
		if r := attack(ctx, loadSpec{url: t.url, host: t.host, rate: 500, duration: c.dur(2 * time.Second)}); r.Errors > 0 {
			return nil, fmt.Errorf("warm-up of %s: %d errors, first %s", name, r.Errors, r.FirstErr)
		}
	}

	samples := map[string]map[int][]warmSample{}
	for _, name := range warmTargets {
		samples[name] = map[int][]warmSample{}
	}
	for round := 1; round <= c.rounds; round++ {
		for _, rate := range warmRates {
			for _, name := range warmTargets {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				t := targets[name]
				before, err := cpuSeconds(t.pid)
				if err != nil {
					return nil, err
				}
				r := attack(ctx, loadSpec{url: t.url, host: t.host, rate: rate, workers: closedLoopClients, duration: phase})
				after, err := cpuSeconds(t.pid)
				if err != nil {
					return nil, err
				}
				s := warmSample{res: r, cpu: ratio(after-before, float64(r.Requests)/1000)}
				samples[name][rate] = append(samples[name][rate], s)
				fmt.Fprintf(os.Stderr, "  round %d %-6s rate %-5s %8.0f rps  p50 %6.3f ms  p99 %7.3f ms  errors %d\n",
					round, name, rateName(rate), r.Achieved, r.P50ms, r.P99ms, r.Errors)
			}
		}
	}
	res := &warmResult{Rounds: c.rounds, PhaseSeconds: phase.Seconds(), Clients: closedLoopClients}
	res.Rows = warmRows(samples)
	for _, row := range res.Rows {
		if row.Rate != 0 {
			continue
		}
		base := findRow(res.Rows, "direct", 0).Achieved
		switch row.Target {
		case "nginx":
			res.MaxNginxDirect = ratio(row.Achieved, base)
		case "wake":
			res.MaxWakeDirect = ratio(row.Achieved, base)
		}
	}
	res.RoundNginxDirect, res.RoundWakeDirect, res.RoundWakeNginx = roundRatios(samples["direct"][0], samples["nginx"][0], samples["wake"][0])
	res.print()
	return res, nil
}

// roundRatios are the medians of the closed loop's per-round ratios:
// nginx/direct, wake/direct and wake/nginx.
func roundRatios(direct, nginx, wake []warmSample) (nd, wd, wn float64) {
	var nds, wds, wns []float64
	for i := range min(len(direct), len(nginx), len(wake)) {
		d, n, w := direct[i].res.Achieved, nginx[i].res.Achieved, wake[i].res.Achieved
		nds, wds, wns = append(nds, ratio(n, d)), append(wds, ratio(w, d)), append(wns, ratio(w, n))
	}
	if len(nds) == 0 {
		return 0, 0, 0
	}
	return median(nds), median(wds), median(wns)
}

// warmRows takes the median of each metric over the rounds, per target and
// rate, and the latency each target adds to direct's.
func warmRows(samples map[string]map[int][]warmSample) []warmRow {
	var rows []warmRow
	for _, rate := range warmRates {
		for _, name := range warmTargets {
			ss := samples[name][rate]
			if len(ss) == 0 {
				continue
			}
			pick := func(f func(warmSample) float64) float64 {
				xs := make([]float64, len(ss))
				for i, s := range ss {
					xs[i] = f(s)
				}
				return median(xs)
			}
			row := warmRow{Target: name, Rate: rate,
				Achieved: pick(func(s warmSample) float64 { return s.res.Achieved }),
				P50ms:    pick(func(s warmSample) float64 { return s.res.P50ms }),
				P95ms:    pick(func(s warmSample) float64 { return s.res.P95ms }),
				P99ms:    pick(func(s warmSample) float64 { return s.res.P99ms }),
				CPUPer1k: pick(func(s warmSample) float64 { return s.cpu }),
			}
			for _, s := range ss {
				row.Errors += s.res.Errors
			}
			rows = append(rows, row)
		}
	}
	for i := range rows {
		d := findRow(rows, "direct", rows[i].Rate)
		rows[i].AddedP50ms = rows[i].P50ms - d.P50ms
		rows[i].AddedP95ms = rows[i].P95ms - d.P95ms
		rows[i].AddedP99ms = rows[i].P99ms - d.P99ms
	}
	return rows
}

func findRow(rows []warmRow, target string, rate int) warmRow {
	for _, r := range rows {
		if r.Target == target && r.Rate == rate {
			return r
		}
	}
	return warmRow{}
}

func rateName(rate int) string {
	if rate == 0 {
		return "max"
	}
	return fmt.Sprint(rate)
}

func (r *warmResult) print() {
	fmt.Printf("\nwarm path: medians of %d round(s) of %.0fs; max = closed loop, %d clients\n\n", r.Rounds, r.PhaseSeconds, r.Clients)
	fmt.Println(r.table())
	fmt.Printf("max throughput: nginx/direct %.2f, wake/direct %.2f\n", r.MaxNginxDirect, r.MaxWakeDirect)
	fmt.Printf("round by round (medians): nginx/direct %.2f, wake/direct %.2f, wake/nginx %.2f\n",
		r.RoundNginxDirect, r.RoundWakeDirect, r.RoundWakeNginx)
}

// table is the warm path as a Markdown table.
func (r *warmResult) table() string {
	t := newTable("rate", "target", "achieved rps", "p50 ms", "p95 ms", "p99 ms", "+p50 ms", "+p95 ms", "+p99 ms", "CPU s/1k req", "errors")
	for _, row := range r.Rows {
		t.add(rateName(row.Rate), row.Target, fmt.Sprintf("%.0f", row.Achieved),
			f3(row.P50ms), f3(row.P95ms), f3(row.P99ms),
			signed(row.AddedP50ms, row.Target), signed(row.AddedP95ms, row.Target), signed(row.AddedP99ms, row.Target),
			f3(row.CPUPer1k), fmt.Sprint(row.Errors))
	}
	return t.String()
}

func f3(x float64) string { return fmt.Sprintf("%.3f", x) }

// signed shows an added latency with its sign; direct is the baseline.
func signed(x float64, target string) string {
	if target == "direct" {
		return "-"
	}
	return fmt.Sprintf("%+.3f", x)
}
