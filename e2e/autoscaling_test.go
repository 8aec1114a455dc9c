package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// readyInstances reads a revision's ready count straight from the admin
// API: cheap enough to poll during a load test, unlike the CLI.
func (s *server) readyInstances(name string) (int, error) {
	res, err := s.adminGet("/apis/wake.dev/v1/namespaces/default/revisions/" + name)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var rev api.Revision
	if err := json.NewDecoder(res.Body).Decode(&rev); err != nil {
		return 0, err
	}
	return int(rev.Status.ActualReplicas), nil
}

// A burst against containerConcurrency 1 scales out in panic mode without
// failing a request, and the revision goes back to zero once it stops.
// Not parallel: 50 clients and ~70 instances are this machine's share.
func TestBurstScalesOutThenBackToZero(t *testing.T) {
	w := startWake(t, "", "--scale-to-zero-grace-period", "1s")
	m := marker(t)
	w.apply(fn{name: "load", marker: m, cc: 1, annotations: map[string]string{api.AnnotationWindow: "6s"}}.yaml())

	var peak, peakInFlight atomic.Int64
	polling := make(chan struct{})
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for {
			if n, err := w.readyInstances("load-00001"); err == nil && int64(n) > peak.Load() {
				peak.Store(int64(n))
			}
			select {
			case <-polling:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	// 50 closed-loop clients for 10s; a request is never cut off, so each
	// one sent must be answered.
	end := time.Now().Add(10 * time.Second)
	var mu sync.Mutex
	codes := map[int]int{}
	errs := map[string]int{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for time.Now().Before(end) {
				r, err := w.get("load.default.localhost", "/sleep?ms=100")
				mu.Lock()
				if err != nil {
					errs[err.Error()]++
				} else {
					codes[r.code]++
				}
				mu.Unlock()
				if n, _ := strconv.Atoi(r.header.Get("X-Testfn-Inflight")); int64(n) > peakInFlight.Load() {
					peakInFlight.Store(int64(n))
				}
			}
		})
	}
	wg.Wait()
	close(polling)
	<-pollDone

	total := 0
	for _, n := range codes {
		total += n
	}
	t.Logf("%d requests in 10s, codes %v, peak %d ready instances", total, codes, peak.Load())
	if len(errs) > 0 || codes[200] != total || total == 0 {
		t.Errorf("requests failed: codes %v, errors %v; want every one 200", codes, errs)
	}
	if peak.Load() < 30 {
		t.Errorf("peak of %d ready instances under 50 concurrent clients with containerConcurrency 1, want at least 30", peak.Load())
	}
	if peakInFlight.Load() > 1 {
		t.Errorf("an instance held %d requests at once, want at most containerConcurrency 1", peakInFlight.Load())
	}

	desc := w.mustCLI("describe", "revision", "load-00001")
	if !strings.Contains(desc, "entered panic") {
		t.Errorf("wake describe revision does not show the burst's panic:\n%s", desc)
	}
	// The trace behind the console's chart: the same burst, point by point.
	res, err := w.adminGet("/apis/wake.dev/v1/namespaces/default/revisions/load-00001?decisions=true")
	if err != nil {
		t.Fatal(err)
	}
	var rev api.Revision
	err = json.NewDecoder(res.Body).Decode(&rev)
	res.Body.Close()
	if err != nil || rev.Status.Autoscaling == nil {
		t.Fatalf("revision with decisions: %v, %+v", err, rev.Status)
	}
	var panicked bool
	var peakDesired, peakReady int32
	for _, p := range rev.Status.Autoscaling.Trace {
		panicked = panicked || p.Panicking
		peakDesired, peakReady = max(peakDesired, p.Desired), max(peakReady, p.Ready)
	}
	t.Logf("trace: %d points, peak desired %d, peak ready %d, panic %v", len(rev.Status.Autoscaling.Trace), peakDesired, peakReady, panicked)
	if !panicked || peakDesired < 30 || peakReady < 30 {
		t.Errorf("the trace (%d points) has panic %v, peak desired %d, peak ready %d; want the burst's panic and at least 30 of each",
			len(rev.Status.Autoscaling.Trace), panicked, peakDesired, peakReady)
	}
	if wide := w.mustCLI("get", "revisions", "load", "-o", "wide"); !strings.Contains(wide, "PANIC") || !strings.Contains(wide, "concurrency") {
		t.Errorf("wake get revisions -o wide lacks the autoscaler's columns:\n%s", wide)
	}

	eventually(t, 60*time.Second, "load-00001 back at zero with no process left", func() bool {
		r := w.revision("load", "load-00001")
		return r.Status.ActualReplicas == 0 && r.Status.DesiredReplicas == 0 && len(processesWith(m)) == 0
	})
}
