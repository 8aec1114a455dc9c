package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// dashboardMetric finds wake's series in a dashboard's PromQL.
var dashboardMetric = regexp.MustCompile(`\bwake_[a-z_]+`)

// TestDashboardMetricsAreOnMetrics: every series the Grafana dashboards in
// manifests/dashboards query is on a running wake serve's /metrics, once
// the platform has done what the panels show: a cold start, requests, the
// autoscaler at work, a Kafka trigger delivering to a flaky function with
// retries (and so lag), and a pre-warmed cron trigger. (manifests' own
// test checks the names against the source; this one against what a
// Prometheus scrape really gets.)
func TestDashboardMetricsAreOnMetrics(t *testing.T) {
	t.Parallel()
	want := map[string]bool{}
	paths, _ := filepath.Glob(filepath.Join("..", "manifests", "dashboards", "*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range dashboardMetric.FindAllString(string(b), -1) {
			want[name] = true
		}
	}
	if len(want) == 0 {
		t.Fatalf("no wake_ metric in %v", paths)
	}

	broker := freeAddr(t)
	w := startWake(t, "", "--kafka-embedded", broker)
	events := filepath.Join(t.TempDir(), "events")
	w.apply(fn{name: "flaky", marker: marker(t), annotations: map[string]string{api.AnnotationInitialScale: "0"},
		env: map[string]string{"TESTFN_EVENTS_FILE": events, "TESTFN_FAIL_PERCENT": "30"}}.yaml() +
		"---\n" + kafkaTrigger("jobs", broker, "jobs", "function: flaky", "  delivery:\n    retry: 3\n    backoffDelay: PT0.01S\n") +
		`---
apiVersion: wake.dev/v1
kind: Trigger
metadata:
  name: tick
  annotations:
    wake.dev/prewarm: "1s"
spec:
  cron:
    schedule: "*/2 * * * * *"
  sink:
    function: flaky
`)
	produce(t, broker, "jobs", 0, 200, 10)
	// A request that waits for an instance: the cold-start series exist
	// from a revision's first wake-up from zero (flaky may never have one:
	// the cron trigger's pre-warm can start it before any event waits).
	w.apply(fn{name: "cold", marker: marker(t), annotations: map[string]string{api.AnnotationInitialScale: "0"}}.yaml(), "--no-wait")
	if r := w.mustGet("cold.default.localhost", "/"); r.code != 200 {
		t.Fatalf("cold start: %d %s", r.code, r.body)
	}

	var missing []string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		scrape := w.metrics()
		missing = missing[:0]
		for name := range want {
			// A series, or a histogram's family (its _bucket, _sum and
			// _count series are checked by name where queried).
			if !strings.Contains(scrape, "\n"+name+"{") && !strings.Contains(scrape, "\n"+name+" ") &&
				!strings.Contains(scrape, "# TYPE "+name+" histogram\n") {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("the dashboards query series /metrics does not have: %s", strings.Join(missing, ", "))
	}
}
