package main

import (
	"context"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// loadSpec is one load phase: a constant rate, or a closed loop.
type loadSpec struct {
	url      string // http://ADDR/PATH
	host     string // Host header; "" for the URL's
	rate     int    // requests per second; 0: closed loop with workers
	workers  int    // closed loop: this many clients, each sending its next request when answered (like wrk -c)
	duration time.Duration
	timeout  time.Duration // per request; 0 means 30s
	okCode   int           // the status that counts as success; 0 means any 2xx
}

// loadResult is what a phase measured. Latencies are exact percentiles of
// every sample (nearest rank), not estimates.
type loadResult struct {
	Rate      int     `json:"rate"` // 0 for the closed loop
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"` // transport errors and non-2xx
	Achieved  float64 `json:"achieved_rps"`
	P50ms     float64 `json:"p50_ms"`
	P95ms     float64 `json:"p95_ms"`
	P99ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	FirstErr  string  `json:"first_error,omitempty"`
	latencies []time.Duration
}

// attack runs one phase with vegeta and collects every result. Connections
// are kept alive, as a client of a function would.
func attack(ctx context.Context, s loadSpec) loadResult {
	timeout := s.timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Timeout(timeout), vegeta.Connections(10000), vegeta.MaxBody(1 << 16)}
	var rate vegeta.Rate
	if s.rate > 0 {
		rate = vegeta.Rate{Freq: s.rate, Per: time.Second}
		opts = append(opts, vegeta.Workers(32))
	} else {
		opts = append(opts, vegeta.Workers(uint64(s.workers)), vegeta.MaxWorkers(uint64(s.workers)))
	}
	atk := vegeta.NewAttacker(opts...)
	hdr := http.Header{}
	if s.host != "" {
		hdr.Set("Host", s.host)
	}
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: s.url, Header: hdr})
	res := loadResult{Rate: s.rate}
	var first, last time.Time
	results := atk.Attack(tr, rate, s.duration, "bench")
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	for r := range results {
		res.Requests++
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if end := r.End(); end.After(last) {
			last = end
		}
		// vegeta sets Error for any status of 400 or more, an expected 404 included.
		if !s.ok(r.Code) || (r.Error != "" && s.okCode == 0) {
			res.Errors++
			if res.FirstErr == "" {
				res.FirstErr = r.Error
				if res.FirstErr == "" {
					res.FirstErr = http.StatusText(int(r.Code))
				}
			}
			continue
		}
		res.latencies = append(res.latencies, r.Latency)
	}
	if span := last.Sub(first).Seconds(); span > 0 {
		res.Achieved = float64(res.Requests-res.Errors) / span
	}
	res.summarize()
	return res
}

// summarize fills the percentiles from the latencies.
func (r *loadResult) summarize() {
	s := sortedCopy(r.latencies)
	r.P50ms = ms(percentile(s, 0.50))
	r.P95ms = ms(percentile(s, 0.95))
	r.P99ms = ms(percentile(s, 0.99))
	r.MaxMs = ms(percentile(s, 1))
}

func (s loadSpec) ok(code uint16) bool {
	if s.okCode != 0 {
		return int(code) == s.okCode
	}
	return code/100 == 2
}
