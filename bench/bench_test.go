package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{"median of even is the lower by nearest rank", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p95 of 1..100", ms(hundred...), 0.95, 95 * time.Millisecond},
		{"max", ms(1, 5, 9), 1, 9 * time.Millisecond},
		{"q 0 is the min", ms(3, 4), 0, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.q); got != tt.want {
			t.Errorf("%s: percentile(%v, %v) = %v, want %v", tt.name, tt.sorted, tt.q, got, tt.want)
		}
	}
}

func TestMedianAndRatio(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median of 3,1,2 = %v, want 2", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median of 4,1,2,3 = %v, want 2.5", got)
	}
	if got := median(nil); got != 0 {
		t.Errorf("median of none = %v, want 0", got)
	}
	if got := ratio(5000, 10000); got != 0.5 {
		t.Errorf("ratio(5000, 10000) = %v, want 0.5", got)
	}
	if got := ratio(1, 0); got != 0 {
		t.Errorf("ratio(1, 0) = %v, want 0 (no Inf in JSON)", got)
	}
}

func TestWarmRows(t *testing.T) {
	s := func(rps, p50 float64, cpu float64) warmSample {
		return warmSample{res: loadResult{Achieved: rps, P50ms: p50, P95ms: 2 * p50, P99ms: 3 * p50}, cpu: cpu}
	}
	samples := map[string]map[int][]warmSample{
		"direct": {0: {s(10000, 1, 0.1), s(12000, 0.5, 0.2), s(11000, 2, 0.3)}},
		"wake":   {0: {s(5000, 2, 0.5), s(6000, 1.5, 0.4), s(5500, 3, 0.6)}},
	}
	rows := warmRows(samples)
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2: %+v", len(rows), rows)
	}
	d, w := findRow(rows, "direct", 0), findRow(rows, "wake", 0)
	if d.Achieved != 11000 || d.P50ms != 1 || d.CPUPer1k != 0.2 {
		t.Errorf("direct = %+v, want medians 11000 rps, p50 1 ms, 0.2 CPU s/1k", d)
	}
	if w.Achieved != 5500 || w.P50ms != 2 || w.AddedP50ms != 1 || w.AddedP99ms != 3 {
		t.Errorf("wake = %+v, want 5500 rps, p50 2 ms, +1 ms at p50, +3 ms at p99", w)
	}
	if d.AddedP50ms != 0 {
		t.Errorf("direct adds %v ms to itself, want 0", d.AddedP50ms)
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "1234 (my (odd) cmd) S 99 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 8 0 100 1000000 300 18446744073709551615\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != 99 || st.utime != 250 || st.stime != 75 {
		t.Errorf("parseStat = %+v, want ppid 99, utime 250, stime 75", st)
	}
	for _, bad := range []string{"", "1 (x) S 1", "1 x S"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestParseRSS(t *testing.T) {
	status := "Name:\twake\nVmPeak:\t  900 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n"
	got, err := parseRSS([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(51234 * 1024); got != want {
		t.Errorf("parseRSS = %d, want %d", got, want)
	}
	if _, err := parseRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("parseRSS without VmRSS: no error")
	}
}

func TestCutMetric(t *testing.T) {
	tests := []struct{ line, name, value string }{
		{`wake_cold_start_duration_seconds_sum{function="a",namespace="default",revision="a-00001"} 0.25`, "wake_cold_start_duration_seconds_sum", "0.25"},
		{"wake_cold_starts_total 3", "wake_cold_starts_total", "3"},
	}
	for _, tt := range tests {
		name, value, ok := cutMetric(tt.line)
		if !ok || name != tt.name || value != tt.value {
			t.Errorf("cutMetric(%q) = %q, %q, %v; want %q, %q", tt.line, name, value, ok, tt.name, tt.value)
		}
	}
	if _, _, ok := cutMetric("# HELP x y"); ok {
		t.Error("a comment parsed as a metric")
	}
}

func TestReportJSON(t *testing.T) {
	r := report{Date: time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC), Machine: machine{CPUs: 2, CPUModel: "AMD EPYC", Kernel: "6.1", GoVersion: "go1.26"},
		Warm: &warmResult{Rounds: 3, Rows: []warmRow{{Target: "wake", Rate: 0, Achieved: 8000}}, MaxWakeDirect: 0.5}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"date":"2026-11-23T14:00:00Z"`, `"nproc":2`, `"cpu_model":"AMD EPYC"`, `"max_ratio_wake_direct":0.5`, `"achieved_rps":8000`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
	for _, absent := range []string{`"cold"`, `"density"`} {
		if strings.Contains(string(b), absent) {
			t.Errorf("JSON has %s for a scenario not run:\n%s", absent, b)
		}
	}
	var back report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Warm == nil || back.Warm.Rows[0].Achieved != 8000 {
		t.Errorf("round trip lost the warm rows: %+v", back.Warm)
	}
}

func TestTable(t *testing.T) {
	tb := newTable("a", "exec→listen")
	tb.add("long cell", "1")
	want := "| a         | exec→listen |\n| --------- | ----------- |\n| long cell | 1           |\n"
	if got := tb.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestManifest(t *testing.T) {
	m := manifest("/bin/testfn",
		fnSpec{name: "a", cc: 1, annotations: map[string]string{"min-scale": "1", "initial-scale": "0"}},
		fnSpec{name: "b", env: map[string]string{"TESTFN_START_DELAY": "500ms"}})
	for _, want := range []string{"name: a\n", "autoscaling.knative.dev/initial-scale: \"0\"\n        autoscaling.knative.dev/min-scale: \"1\"",
		"containerConcurrency: 1", "---\n", "name: TESTFN_START_DELAY\n              value: \"500ms\""} {
		if !strings.Contains(m, want) {
			t.Errorf("manifest lacks %q:\n%s", want, m)
		}
	}
}

// Each round's ratio is against its own direct run: a round where the
// machine was fast for all three does not skew the others.
func TestRoundRatios(t *testing.T) {
	s := func(rps ...float64) []warmSample {
		out := make([]warmSample, len(rps))
		for i, r := range rps {
			out[i].res.Achieved = r
		}
		return out
	}
	direct, nginx, wake := s(100, 200, 100), s(60, 120, 70), s(65, 110, 60)
	nd, wd, wn := roundRatios(direct, nginx, wake)
	if nd != 0.6 || wd != 0.6 || wn < 0.91 || wn > 0.92 {
		t.Errorf("roundRatios = %v, %v, %v; want 0.6, 0.6 and wake/nginx 65/60, 110/120, 60/70 → 0.917", nd, wd, wn)
	}
	if nd, wd, wn := roundRatios(nil, nil, nil); nd != 0 || wd != 0 || wn != 0 {
		t.Errorf("no rounds: %v, %v, %v; want zeros", nd, wd, wn)
	}
}
