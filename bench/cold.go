package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// coldCase is one kind of function started from zero.
type coldCase struct {
	Name    string `json:"name"`
	Samples int    `json:"samples"`
	// The function's own start, exec to a TCP connect succeeding, measured
	// by starting the binary directly.
	ExecListenP50ms float64 `json:"exec_listen_p50_ms"`
	ExecListenP95ms float64 `json:"exec_listen_p95_ms"`
	// Time to first byte of the first request, through wake, from zero.
	TTFBP50ms float64 `json:"ttfb_p50_ms"`
	TTFBP95ms float64 `json:"ttfb_p95_ms"`
	TTFBMaxms float64 `json:"ttfb_max_ms"`
	// Wake's share: each sample's TTFB less the median exec to listen.
	WakeP50ms float64 `json:"wake_share_p50_ms"`
	WakeP95ms float64 `json:"wake_share_p95_ms"`
	Errors    int     `json:"errors"`
}

type coldResult struct {
	Cases []coldCase `json:"cases"`
	// From wake's own histogram wake_cold_start_duration_seconds: its mean
	// over every cold start of the scenario (arrival to first byte).
	MetricMeanms float64 `json:"metric_cold_start_mean_ms"`
	MetricCount  int     `json:"metric_cold_starts"`
}

func runCold(ctx context.Context, c *config, bins binaries) (*coldResult, error) {
	n := 50
	if c.quick {
		n = 10
	}
	cases := []struct {
		name string
		env  map[string]string
	}{
		{"go (testfn)", nil},
		{"500ms start (TESTFN_START_DELAY)", map[string]string{"TESTFN_START_DELAY": "500ms"}},
	}
	w, err := startWake(ctx, c, bins, "cold")
	if err != nil {
		return nil, err
	}
	defer w.close()
	var specs []fnSpec
	for ci, cs := range cases {
		for i := range n {
			specs = append(specs, fnSpec{name: fmt.Sprintf("cold%d-%d", ci, i), env: cs.env,
				annotations: map[string]string{"initial-scale": "0"}})
		}
	}
	if err := w.apply(ctx, manifest(bins.testfn, specs...)); err != nil {
		return nil, err
	}
	res := &coldResult{}
	client := &http.Client{Timeout: time.Minute}
	for ci, cs := range cases {
		var env []string
		for _, k := range sortedKeys(cs.env) {
			env = append(env, k+"="+cs.env[k])
		}
		own, err := execToListen(ctx, bins, n, env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cs.name, err)
		}
		ownP50 := percentile(own, 0.5)
		cc := coldCase{Name: cs.name, Samples: n, ExecListenP50ms: ms(ownP50), ExecListenP95ms: ms(percentile(own, 0.95))}
		var ttfb, share []time.Duration
		for i := range n {
			d, err := firstByte(ctx, client, w.http, host(fmt.Sprintf("cold%d-%d", ci, i)), "/")
			if err != nil {
				cc.Errors++
				fmt.Fprintf(os.Stderr, "  cold start %d: %v\n", i, err)
				continue
			}
			ttfb = append(ttfb, d)
			share = append(share, d-ownP50)
		}
		ttfb, share = sortedCopy(ttfb), sortedCopy(share)
		cc.TTFBP50ms, cc.TTFBP95ms, cc.TTFBMaxms = ms(percentile(ttfb, 0.5)), ms(percentile(ttfb, 0.95)), ms(percentile(ttfb, 1))
		cc.WakeP50ms, cc.WakeP95ms = ms(percentile(share, 0.5)), ms(percentile(share, 0.95))
		res.Cases = append(res.Cases, cc)
	}
	if sum, count, err := w.histogram(ctx, "wake_cold_start_duration_seconds"); err == nil && count > 0 {
		res.MetricMeanms, res.MetricCount = sum/float64(count)*1000, count
	}
	res.print()
	return res, nil
}

// execToListen starts testfn directly n times and returns, sorted, the time
// from exec to the first successful TCP connect of each.
func execToListen(ctx context.Context, bins binaries, n int, env []string) ([]time.Duration, error) {
	var out []time.Duration
	for range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bins.testfn)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("PORT=%d", port)}, env...)
		t0 := time.Now()
		p, err := start(cmd)
		if err != nil {
			return nil, err
		}
		at, err := waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
		p.stop(5 * time.Second)
		if err != nil {
			return nil, err
		}
		out = append(out, at.Sub(t0))
	}
	return sortedCopy(out), nil
}

// firstByte sends GET path to the function at hostName through the router at
// addr and returns the time until the response's head arrived. Anything but
// a 200 is an error.
func firstByte(ctx context.Context, client *http.Client, addr, hostName, path string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, err
	}
	req.Host = hostName
	t0 := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	d := time.Since(t0)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", hostName, res.Status)
	}
	return d, nil
}

// histogram sums a Prometheus histogram's _sum and _count over all labels
// from wake's /metrics.
func (w *wake) histogram(ctx context.Context, name string) (sum float64, count int, err error) {
	b, err := w.adminDo(ctx, http.MethodGet, "/metrics", "", nil)
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		metric, value, ok := cutMetric(line)
		if !ok {
			continue
		}
		switch metric {
		case name + "_sum":
			v, _ := strconv.ParseFloat(value, 64)
			sum += v
		case name + "_count":
			v, _ := strconv.ParseFloat(value, 64)
			count += int(v)
		}
	}
	return sum, count, nil
}

// cutMetric splits a Prometheus text line into the metric's name (labels
// dropped) and its value; comments and blank lines give ok false.
func cutMetric(line string) (name, value string, ok bool) {
	if line == "" || line[0] == '#' {
		return "", "", false
	}
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return "", "", false
	}
	name, value = line[:i], line[i+1:]
	if j := strings.IndexByte(name, '{'); j >= 0 {
		name = name[:j]
	}
	return strings.TrimSpace(name), value, true
}

func (r *coldResult) print() {
	fmt.Println()
	fmt.Println(r.table())
	if r.MetricCount > 0 {
		fmt.Printf("wake_cold_start_duration_seconds: %d cold starts, mean %.1f ms\n", r.MetricCount, r.MetricMeanms)
	}
}

func (r *coldResult) table() string {
	t := newTable("function", "cold starts", "exec→listen p50 ms", "p95 ms", "TTFB p50 ms", "p95 ms", "max ms", "wake's share p50 ms", "p95 ms", "errors")
	for _, c := range r.Cases {
		t.add(c.Name, fmt.Sprint(c.Samples), f1(c.ExecListenP50ms), f1(c.ExecListenP95ms),
			f1(c.TTFBP50ms), f1(c.TTFBP95ms), f1(c.TTFBMaxms), f1(c.WakeP50ms), f1(c.WakeP95ms), fmt.Sprint(c.Errors))
	}
	return t.String()
}

func f1(x float64) string { return fmt.Sprintf("%.1f", x) }
