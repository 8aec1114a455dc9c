package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// wakeTimings parses wake's Server-Timing entries (wake-queue;dur=1.2, …)
// into milliseconds.
func wakeTimings(values []string) map[string]float64 {
	re := regexp.MustCompile(`^wake-([a-z]+);dur=(\d+\.\d)$`)
	got := map[string]float64{}
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			if m := re.FindStringSubmatch(strings.TrimSpace(e)); m != nil {
				got[m[1]], _ = strconv.ParseFloat(m[2], 64)
			}
		}
	}
	return got
}

// A function at zero that takes 300 ms to listen and 200 ms more to pass
// its readiness probe: the request that wakes it is told where its wait
// went, the next one, warm, is told nothing, and the wake-up shows in the
// metrics and in `wake describe`.
func TestColdStartBreakdown(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	m := marker(t)
	w.apply(fn{name: "sleepy", marker: m, probePath: "/ready",
		annotations: map[string]string{api.AnnotationInitialScale: "0"},
		env:         map[string]string{"TESTFN_START_DELAY": "300ms", "TESTFN_READY_PATH": "/ready", "TESTFN_READY_AFTER": "200ms"},
	}.yaml())

	start := time.Now()
	res := w.mustGet("sleepy.default.localhost", "/")
	took := float64(time.Since(start)) / float64(time.Millisecond)
	if res.code != 200 {
		t.Fatalf("first request: %d %q", res.code, res.body)
	}
	if got := res.header.Get("Wake-Cold-Start"); got != "true" {
		t.Errorf("first request: Wake-Cold-Start %q, want true", got)
	}
	timings := wakeTimings(res.header.Values("Server-Timing"))
	t.Logf("first request took %.1f ms; Server-Timing %q", took, res.header.Values("Server-Timing"))
	var sum float64
	for _, phase := range []string{"queue", "start", "ready", "warmup"} {
		d, ok := timings[phase]
		if !ok {
			t.Errorf("Server-Timing %q lacks wake-%s", res.header.Values("Server-Timing"), phase)
		}
		sum += d
	}
	// The process sleeps 300 ms before listening (start), then its
	// readiness path answers 503 for 200 ms (ready).
	if timings["start"] < 250 || timings["ready"] < 150 {
		t.Errorf("start %.1f ms and ready %.1f ms, want start at least the 300 ms the function sleeps and ready at least the 200 ms its probe answers 503",
			timings["start"], timings["ready"])
	}
	// The phases are the wait: all of the request's time but the forward
	// itself (a loopback round trip).
	if sum > took+0.5 || took-sum > 100 {
		t.Errorf("phases sum to %.1f ms, the request took %.1f ms: want the sum within 100 ms below", sum, took)
	}

	warm := w.mustGet("sleepy.default.localhost", "/")
	if warm.code != 200 || warm.header.Get("Wake-Cold-Start") != "" || len(warm.header.Values("Server-Timing")) != 0 {
		t.Errorf("warm request: %d, Wake-Cold-Start %q, Server-Timing %q; want neither", warm.code,
			warm.header.Get("Wake-Cold-Start"), warm.header.Values("Server-Timing"))
	}

	metrics := w.metrics()
	for _, phase := range []string{"queue", "start", "ready", "warmup"} {
		want := `wake_cold_start_phase_seconds_count{function="sleepy",namespace="default",phase="` + phase + `",revision="sleepy-00001"} 1`
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	out := w.mustCLI("describe", "revision", "sleepy-00001")
	t.Logf("wake describe revision sleepy-00001:\n%s", out)
	_, table, ok := strings.Cut(out, "Cold starts")
	if !ok {
		t.Fatalf("wake describe has no Cold starts section:\n%s", out)
	}
	rows := strings.Split(strings.TrimSpace(table), "\n")
	if len(rows) != 3 || !strings.Contains(rows[1], "QUEUE") || strings.Count(rows[2], "ms") != 5 {
		t.Errorf("Cold starts section: want a header and one row with five durations, got:\n%s", table)
	}
	startCol := strconv.FormatFloat(timings["start"], 'f', 1, 64) + "ms"
	if !strings.Contains(rows[len(rows)-1], startCol) {
		t.Errorf("the cold start row lacks the start phase the response gave (%s):\n%s", startCol, table)
	}
}
