package e2e

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// revisions returns `wake get revisions -o json` for a function.
func (s *server) revisions(function string) []api.Revision {
	s.t.Helper()
	var list api.RevisionList
	if err := json.Unmarshal([]byte(s.mustCLI("get", "revisions", function, "-o", "json")), &list); err != nil {
		s.t.Fatal(err)
	}
	if list.APIVersion != api.APIVersion || list.Kind != api.KindRevisionList {
		s.t.Fatalf("wake get revisions -o json gave %s %s, want %s %s", list.APIVersion, list.Kind, api.APIVersion, api.KindRevisionList)
	}
	return list.Items
}

func (s *server) revision(function, name string) api.Revision {
	s.t.Helper()
	for _, r := range s.revisions(function) {
		if r.Name == name {
			return r
		}
	}
	s.t.Fatalf("revision %s of %s not found", name, function)
	return api.Revision{}
}

func TestFirstRequestWakesFunctionFromZero(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	m := marker(t)
	w.apply(fn{name: "hello", marker: m, annotations: map[string]string{api.AnnotationInitialScale: "0"},
		env: map[string]string{"GREETING": "hi"}}.yaml())
	if r := w.revision("hello", "hello-00001"); r.Status.ActualReplicas != 0 || len(processesWith(m)) != 0 {
		t.Fatalf("with initial-scale 0, hello-00001 runs %d instances (%d processes), want none", r.Status.ActualReplicas, len(processesWith(m)))
	}

	res := w.mustGet("hello.default.localhost", "/")
	if res.code != 200 || res.body != "hello-00001 hi\n" {
		t.Fatalf("first request: %d %q, want 200 %q", res.code, res.body, "hello-00001 hi\n")
	}
	if r := w.revision("hello", "hello-00001"); r.Status.ActualReplicas != 1 {
		t.Errorf("after the first request hello-00001 has %d ready instances, want 1", r.Status.ActualReplicas)
	}
	metrics := w.metrics()
	for _, want := range []string{
		`wake_cold_starts_total{function="hello",namespace="default",revision="hello-00001"} 1`,
		`wake_requests_total{code="200",function="hello",namespace="default",revision="hello-00001"} 1`,
		`wake_cold_start_duration_seconds_count{function="hello",namespace="default",revision="hello-00001"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestManyConcurrentRequestsAtZeroAreAllAnswered(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	w.apply(fn{name: "burst", marker: marker(t), annotations: map[string]string{api.AnnotationInitialScale: "0"},
		env: map[string]string{"TESTFN_START_DELAY": "300ms"}}.yaml())
	codes := fire(200, func(int) (int, error) {
		r, err := w.get("burst.default.localhost", "/sleep?ms=20")
		return r.code, err
	})
	if codes[200] != 200 {
		t.Errorf("200 concurrent requests at zero got %v, want all 200", codes)
	}
}

func TestContainerConcurrencyOneIsNeverExceeded(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	w.apply(fn{name: "single", marker: marker(t), cc: 1, annotations: map[string]string{api.AnnotationMaxScale: "4"}}.yaml())
	var mu sync.Mutex
	peak := 0
	codes := fire(50, func(int) (int, error) {
		r, err := w.get("single.default.localhost", "/sleep?ms=50")
		if err == nil {
			n, _ := strconv.Atoi(r.header.Get("X-Testfn-Inflight"))
			mu.Lock()
			peak = max(peak, n)
			mu.Unlock()
		}
		return r.code, err
	})
	if codes[200] != 50 {
		t.Errorf("50 concurrent requests got %v, want all 200", codes)
	}
	if peak != 1 {
		t.Errorf("an instance held %d requests at once, want at most containerConcurrency 1", peak)
	}
}

func TestIdleFunctionScalesToZeroAndLeavesNoProcess(t *testing.T) {
	t.Parallel()
	w := startWake(t, "", "--scale-to-zero-grace-period", "1s")
	m := marker(t)
	w.apply(fn{name: "idle", marker: m, annotations: map[string]string{api.AnnotationWindow: "2s"}}.yaml())
	if res := w.mustGet("idle.default.localhost", "/"); res.code != 200 {
		t.Fatalf("request: %d %s", res.code, res.body)
	}
	if len(processesWith(m)) == 0 {
		t.Fatal("no instance process is running after a request")
	}
	eventually(t, 30*time.Second, "idle revision at zero with no process left", func() bool {
		r := w.revision("idle", "idle-00001")
		return r.Status.ActualReplicas == 0 && r.Status.DesiredReplicas == 0 && len(processesWith(m)) == 0
	})
	// And it wakes again.
	if res := w.mustGet("idle.default.localhost", "/"); res.code != 200 {
		t.Fatalf("request after scale to zero: %d %s", res.code, res.body)
	}
}

// fire sends n requests at once and counts their status codes (0 for a
// transport error).
func fire(n int, send func(i int) (int, error)) map[int]int {
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			code, err := send(i)
			if err != nil {
				code = 0
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return codes
}

func (s *server) metrics() string {
	s.t.Helper()
	res, err := s.adminGet("/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}
