package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// gauge reads one unlabelled sample from a /metrics body.
func gauge(t *testing.T, body, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// seriesOf counts the /metrics lines that carry revision's label.
func seriesOf(body, revision string) int {
	return strings.Count(body, `revision="`+revision+`"`)
}

// A user ships revision after revision, each serving requests; once a
// revision has lost its traffic and gone to zero it is retired: it costs
// no goroutine and no series, and wake get revisions says when Knative's
// defaults will collect it. A tag that names it again brings it back.
func TestRetiredRevisionsCostNoGoroutineNorSeries(t *testing.T) {
	w := startWake(t, "", "--scale-to-zero-grace-period", "1s", "--revision-gc-interval", "300ms")
	m := marker(t)
	f := fn{name: "churn", marker: m, annotations: map[string]string{api.AnnotationWindow: "2s"}}
	serve := func(i int) {
		f.env = map[string]string{"V": strconv.Itoa(i)}
		w.apply(f.yaml())
		name := fmt.Sprintf("churn-%05d", i)
		eventually(t, 30*time.Second, name+" serving", func() bool {
			res, err := w.get("churn.default.localhost", "/")
			return err == nil && res.code == 200 && strings.HasPrefix(res.body, name+" ")
		})
	}
	atRest := func(what string) {
		eventually(t, 60*time.Second, what, func() bool {
			for _, r := range w.revisions("churn") {
				if r.Status.ActualReplicas != 0 || r.Status.DesiredReplicas != 0 {
					return false
				}
			}
			return len(processesWith(m)) == 0
		})
	}

	serve(1)
	atRest("the first revision at zero")
	base := w.metrics()
	baseGoroutines := gauge(t, base, "go_goroutines")
	if seriesOf(base, "churn-00001") == 0 {
		t.Fatalf("a revision that served has no series, so the test proves nothing:\n%s", base)
	}

	const n = 8
	for i := 2; i <= n+1; i++ {
		serve(i)
	}
	atRest("every revision at zero")
	latest := fmt.Sprintf("churn-%05d", n+1)
	var body string
	eventually(t, 30*time.Second, "the retired revisions' series gone", func() bool {
		body = w.metrics()
		for i := 1; i <= n; i++ {
			if seriesOf(body, fmt.Sprintf("churn-%05d", i)) > 0 {
				return false
			}
		}
		return true
	})
	if got, before := seriesOf(body, latest), seriesOf(base, "churn-00001"); got > before {
		t.Errorf("the routed revision has %d series, one revision had %d at the start", got, before)
	}
	// Goroutines come and go with connections; a revision that kept one
	// would leave n more.
	if got := gauge(t, body, "go_goroutines"); got > baseGoroutines+float64(n)/2 {
		t.Errorf("%d goroutines after %d revisions retired, %d with one revision", int(got), n, int(baseGoroutines))
	}

	// Knative's defaults keep them all (48h, 20 non-active): the GC
	// column says when each would go.
	out := w.mustCLI("get", "revisions", "churn")
	for i := 1; i <= n; i++ {
		line := lineOf(t, out, fmt.Sprintf("churn-%05d", i))
		if !strings.HasSuffix(strings.TrimSpace(line), "in 47h") {
			t.Errorf("a retired revision's GC column is not 'in 47h':\n%s", out)
		}
	}
	if line := lineOf(t, out, latest); !strings.HasSuffix(strings.TrimSpace(line), " -") {
		t.Errorf("the routed revision's GC column is not '-':\n%s", out)
	}

	// A tag names churn-00003 again: it answers, from zero.
	f.traffic = "    - latestRevision: true\n      percent: 100\n    - revisionName: churn-00003\n      tag: old\n"
	w.apply(f.yaml())
	if res := w.mustGet("old-churn.default.localhost", "/"); res.code != 200 {
		t.Fatalf("the revived revision answered %d %s", res.code, res.body)
	}
}

func lineOf(t *testing.T, out, name string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	t.Fatalf("no line for %s in:\n%s", name, out)
	return ""
}

// With a function's own settings (collect after a second, keep none),
// the collector deletes its stale non-active revision from the store and
// wake get revisions stops listing it; a tagged revision, a no-gc one and
// the latest stay, after a restart too.
func TestRevisionGCDeletesStaleRevisions(t *testing.T) {
	state := t.TempDir()
	w := startWake(t, state, "--revision-gc-interval", "300ms")
	manifest := func(i int, retain, templateAnnotations, traffic string) string {
		return fmt.Sprintf(`apiVersion: wake.dev/v1
kind: Function
metadata:
  name: gc
  annotations:
    %s: %q
    %s: %q
    %s: "0"
    %s: "disabled"
spec:
  template:
    metadata:
      annotations:
        %s: "0"%s
    spec:
      containers:
        - command: [%q]
          env: [{name: V, value: "%d"}]
%s`, api.AnnotationRetainSinceCreateTime, retain, api.AnnotationRetainSinceLastActiveTime, retain,
			api.AnnotationMinNonActiveRevisions, api.AnnotationMaxNonActiveRevisions,
			api.AnnotationInitialScale, templateAnnotations, testfnBin, i, traffic)
	}
	// Kept while the function's retain settings are disabled, then
	// collected a second after they say so.
	w.apply(manifest(1, "disabled", "", ""))
	w.apply(manifest(2, "disabled", "", ""))
	w.apply(manifest(3, "disabled", "\n        "+api.AnnotationNoGC+`: "true"`, ""))
	eventually(t, 30*time.Second, "a sweep keeping gc-00001 for good", func() bool {
		f := strings.Fields(lineOf(t, w.mustCLI("get", "revisions", "gc"), "gc-00001"))
		return f[len(f)-1] == "never"
	})
	w.apply(manifest(4, "1s", "", "  traffic:\n    - latestRevision: true\n      percent: 100\n    - revisionName: gc-00002\n      tag: keep\n"))

	eventually(t, 30*time.Second, "gc-00001 collected", func() bool {
		return !strings.Contains(w.mustCLI("get", "revisions", "gc", "-o", "name"), "gc-00001")
	})
	out := w.mustCLI("get", "revisions", "gc")
	for name, want := range map[string]string{"gc-00002": "-", "gc-00003": "never", "gc-00004": "-"} {
		if got := strings.Fields(lineOf(t, out, name)); got[len(got)-1] != want {
			t.Errorf("%s's GC column is %q, want %q:\n%s", name, got[len(got)-1], want, out)
		}
	}
	rev := w.revision("gc", "gc-00003")
	if rev.Labels[controlplane.LabelRoutingState] != controlplane.RoutingStateReserve ||
		rev.Annotations[controlplane.AnnotationRoutingStateModified] == "" {
		t.Errorf("gc-00003 carries no reserve routing state: %v %v", rev.Labels, rev.Annotations)
	}

	// Gone from the store: a restart does not bring it back.
	if err := w.stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	w2 := startWake(t, state, "--revision-gc-interval", "300ms")
	got := w2.mustCLI("get", "revisions", "gc", "-o", "name")
	want := "revision.wake.dev/gc-00002\nrevision.wake.dev/gc-00003\nrevision.wake.dev/gc-00004\n"
	if got != want {
		t.Errorf("after a restart, revisions:\n%s\nwant:\n%s", got, want)
	}
	if res := w2.mustGet("keep-gc.default.localhost", "/"); res.code != 200 {
		t.Errorf("the tagged revision answered %d %s after the restart", res.code, res.body)
	}
}
