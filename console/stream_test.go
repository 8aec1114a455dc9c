package console

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
)

// event is one server-sent event.
type event struct{ name, data string }

// openStream reads a stream's events into a channel.
func (f *fixture) openStream(c *http.Client, query string) <-chan event {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/ui/api/stream"+query, nil)
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		f.t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan event, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var e event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				e.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.data = strings.TrimPrefix(line, "data: ")
			case line == "":
				out <- e
				e = event{}
			}
		}
	}()
	f.t.Cleanup(func() { cancel(); res.Body.Close() })
	return out
}

// next returns the next event named name, skipping others; a test that
// waits past a minute has failed (the stream sent nothing it expected).
func next(t *testing.T, events <-chan event, name string) event {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended before a %s event", name)
			}
			if e.name == name {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event", name)
		}
	}
}

// waitTickers waits until n tickers of the fake clock wait, so that a
// Step reaches them.
func (f *fixture) waitTickers(n int) {
	f.t.Helper()
	for start := time.Now(); f.clock.Waiters() < n; {
		if time.Since(start) > time.Minute {
			f.t.Fatalf("%d tickers wait, want %d", f.clock.Waiters(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStreamFollowsTheInstances(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	f.login(c)
	events := f.openStream(c, "")
	if e := next(t, events, "clock"); e.data != "1796551200000" {
		t.Errorf("clock event %q, want the fake clock's %d", e.data, t0.UnixMilli())
	}
	var ov overview
	if err := json.Unmarshal([]byte(next(t, events, "overview").data), &ov); err != nil {
		t.Fatal(err)
	}
	if len(ov.Functions) != 1 || ov.Functions[0].Instances != 0 || ov.Functions[0].Traffic[0].Percent != 100 || !ov.Requests {
		t.Fatalf("first overview %+v, want hello at 0 instances, 100%% to hello-00001", ov)
	}

	f.p.setReady(1)
	f.d.mu.Lock()
	f.d.colds = []activator.ColdStart{{Time: t0, Instance: "hello-00001-abcde", Queue: time.Millisecond, Start: 30 * time.Millisecond, Total: 31 * time.Millisecond}}
	f.d.mu.Unlock()
	f.waitTickers(2) // the sampler's and the stream's keep-alive
	f.clock.Step(DefaultInterval)
	if err := json.Unmarshal([]byte(next(t, events, "overview").data), &ov); err != nil {
		t.Fatal(err)
	}
	fv := ov.Functions[0]
	if fv.Instances != 1 || fv.LastColdStart == nil || fv.LastColdStart.Total != 31 || fv.LastColdStart.Revision != "hello-00001" {
		t.Errorf("after the wake the overview says %d instances, last cold start %+v; want 1 and the 31ms one", fv.Instances, fv.LastColdStart)
	}
	f.clock.Step(keepAlive)
	next(t, events, "clock")
}

func TestStreamSendsEachChartPointOnce(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	f.login(c)
	events := f.openStream(c, "?function=default/hello")
	var d detailView
	if err := json.Unmarshal([]byte(next(t, events, "detail").data), &d); err != nil {
		t.Fatal(err)
	}
	if d.Missing || len(d.Revisions) != 1 || len(d.Revisions[0].Autoscaling.Decisions) != 1 || len(d.Spec) != 1 {
		t.Fatalf("detail %+v: want hello's one revision with its decision and spec.traffic", d)
	}
	if d.Revisions[0].Autoscaling.Trace != nil {
		t.Errorf("the detail carries the trace %+v; it goes in points events only", d.Revisions[0].Autoscaling.Trace)
	}
	// The trace the autoscaler kept before the page opened comes with the
	// frame of the first detail; then each new point, once.
	var pts map[string][]api.ScalingPoint
	json.Unmarshal([]byte(next(t, events, "points").data), &pts)
	if p := pts["hello-00001"]; len(p) != 1 || p[0].Ready != 0 {
		t.Fatalf("first points %+v, want the trace so far: one at 0 ready", pts)
	}
	f.p.setReady(1)
	f.waitTickers(2) // the sampler's and the stream's keep-alive
	f.clock.Step(DefaultInterval)
	json.Unmarshal([]byte(next(t, events, "points").data), &pts)
	if p := pts["hello-00001"]; len(p) != 1 || p[0].Ready != 1 {
		t.Fatalf("second points %+v, want only the new one, at 1 ready", pts)
	}
	f.p.setReady(2)
	f.clock.Step(DefaultInterval)
	json.Unmarshal([]byte(next(t, events, "points").data), &pts)
	if p := pts["hello-00001"]; len(p) != 1 || p[0].Ready != 2 || p[0].Desired != 2 || p[0].Stable != 1 {
		t.Errorf("points %+v, want only the new one: 2 ready, 2 desired, stable 1", pts)
	}
}

func TestStreamOfAMissingFunction(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	f.login(c)
	var d detailView
	json.Unmarshal([]byte(next(t, f.openStream(c, "?function=default/nope"), "detail").data), &d)
	if !d.Missing || d.Name != "nope" {
		t.Errorf("detail of a missing function: %+v, want missing", d)
	}
	if res, body := f.do(c, http.MethodGet, "/ui/api/stream?function=nope", "", ""); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "NAMESPACE/NAME") {
		t.Errorf("a function without namespace: %d %s", res.StatusCode, body)
	}
}

func TestSamplerRunsOnlyWhileWatched(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	f.login(c)
	running := func() bool {
		f.c.hub.mu.Lock()
		defer f.c.hub.mu.Unlock()
		return f.c.hub.stop != nil
	}
	if running() {
		t.Fatal("the sampler runs with no page open")
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/ui/api/stream", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if !running() {
		t.Error("the sampler does not run with a page open")
	}
	cancel()
	res.Body.Close()
	for start := time.Now(); running(); time.Sleep(time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatal("the sampler still runs after the page closed")
		}
	}
}

func TestStreamFollowsChangesAtOnceButNotOftenerThanMinGap(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	f.login(c)
	events := f.openStream(c, "")
	instances := func() int32 {
		t.Helper()
		var ov overview
		if err := json.Unmarshal([]byte(next(t, events, "overview").data), &ov); err != nil {
			t.Fatal(err)
		}
		return ov.Functions[0].Instances
	}
	if n := instances(); n != 0 {
		t.Fatalf("first overview: %d instances", n)
	}
	// Told of a change: a frame without waiting for the ticker. The
	// clock is moved past MinGap first, as it would be in real time.
	f.clock.Step(MinGap)
	f.p.setReady(1)
	f.changes <- struct{}{}
	if n := instances(); n != 1 {
		t.Errorf("after a change: %d instances, want 1", n)
	}
	// A second change at once waits out MinGap, and no longer.
	f.p.setReady(2)
	f.changes <- struct{}{}
	f.waitTickers(3) // the sampler's ticker, the held change, the stream's keep-alive
	f.clock.Step(MinGap)
	if n := instances(); n != 2 {
		t.Errorf("after a second change: %d instances, want 2", n)
	}
}
