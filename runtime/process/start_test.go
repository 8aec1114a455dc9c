package process

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// Real instances through startupProbe, readiness and warm-up.

func TestWarmupRunsBeforeTheInstanceTakesTraffic(t *testing.T) {
	e := newEnv(t, Options{})
	// The first 40 requests take 10 × 2ms; the warm-up sends all 40.
	rev := testRevision("warm-00001", "TESTFN_JIT_REQUESTS=40", "TESTFN_JIT_SLOWDOWN=10", "TESTFN_WORK=2ms", "TESTFN_LOG_REQUESTS=1")
	rev.Spec.Warmup = &api.Warmup{Path: "/warm", Requests: 40, Concurrency: 4}
	e.deploy(t, rev, 1)
	s := e.rec.waitFor(t, "one ready", readyN(1))
	if s.Warmup != nil || s.Failure != nil {
		t.Errorf("state %s, warm-up failure %v", describe(s), s.Warmup)
	}
	ep := s.Ready[0]
	resp, err := http.Get("http://" + ep.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Testfn-Slow"); got != "false" {
		t.Errorf("first request after ready: X-Testfn-Slow %q, want false (the warm-up took the slow path)", got)
	}
	st := ep.Started
	if st == nil {
		t.Fatal("no start times")
	}
	if !(!st.Scheduled.After(st.Forked) && !st.Forked.After(st.Up) && !st.Up.After(st.Ready) && !st.Ready.After(st.WarmedUp)) {
		t.Errorf("start times out of order: %+v", st)
	}
	// 40 slow requests of 20ms, 4 at a time: at least 200ms.
	if d := st.WarmedUp.Sub(st.Ready); d < 150*time.Millisecond {
		t.Errorf("warm-up took %v, want at least ~200ms", d)
	}
	t.Logf("start: forked+%v up+%v ready+%v warmed+%v", st.Forked.Sub(st.Scheduled), st.Up.Sub(st.Forked), st.Ready.Sub(st.Up), st.WarmedUp.Sub(st.Ready))
	// No State reported it ready while warming.
	states, _ := e.rec.history()
	for _, h := range states {
		for _, r := range h.Ready {
			if r.Started == nil || r.Started != st {
				t.Errorf("a State reported %s with start times %p, want %p", r.ID, r.Started, st)
			}
		}
	}
	logs := e.logs.FilterMessage("instance warmed up").All()
	if len(logs) != 1 || logs[0].ContextMap()["requests"] != int64(40) {
		t.Errorf("warmed-up logs: %v", logs)
	}
}

func TestStartTimesWithoutWarmup(t *testing.T) {
	e := newEnv(t, Options{})
	e.deploy(t, testRevision("plain-00001"), 1)
	st := e.rec.waitFor(t, "one ready", readyN(1)).Ready[0].Started
	if st == nil || st.Scheduled.IsZero() || st.Forked.IsZero() || st.Up.IsZero() || !st.WarmedUp.Equal(st.Ready) || st.Up.After(st.Ready) {
		t.Errorf("start times %+v", st)
	}
}

func TestFailedWarmupBlocksAndReplaces(t *testing.T) {
	e := newEnv(t, Options{})
	rev := testRevision("block-00001", "TESTFN_FAIL_PATH=/warm")
	rev.Spec.Warmup = &api.Warmup{Path: "/warm", Requests: 5}
	e.deploy(t, rev, 1)
	s := e.rec.waitFor(t, "a second warm-up failure", func(s runtime.State) bool {
		return s.Failure != nil && s.Failure.Restarts >= 2
	})
	const want = "warm-up request 1 of 5: GET /warm: status 500"
	if s.Warmup == nil || s.Warmup.Reason != runtime.ReasonWarmupFailed || s.Warmup.Message != want {
		t.Errorf("State.Warmup = %+v, want %s %q", s.Warmup, runtime.ReasonWarmupFailed, want)
	}
	states, _ := e.rec.history()
	sawReason := false
	for _, h := range states {
		if len(h.Ready) > 0 {
			t.Errorf("an instance whose warm-up failed took traffic: %s", describe(h.State))
		}
		if h.Failure != nil && h.Failure.Reason == runtime.ReasonWarmupFailed && strings.HasPrefix(h.Failure.Message, want) {
			sawReason = true
		}
	}
	if !sawReason {
		t.Error("no State had Failure WarmupFailed with the request that failed")
	}
	id := e.logs.FilterMessage("instance started").All()[0].ContextMap()["instance"].(string)
	if stop := e.stopped(t, id); stop["reason"] != reasonWarmupFailed {
		t.Errorf("stop log %v, want reason %s", stop, reasonWarmupFailed)
	}
	if n := e.logs.FilterMessage("instance warm-up failed").Len(); n < 2 {
		t.Errorf("%d warm-up failure logs, want one per instance", n)
	}
}

func TestFailedWarmupServesWhenAsked(t *testing.T) {
	e := newEnv(t, Options{})
	rev := testRevision("serve-00001", "TESTFN_FAIL_PATH=/warm")
	rev.Spec.Warmup = &api.Warmup{Path: "/warm", Requests: 5, OnFailure: api.WarmupServe}
	e.deploy(t, rev, 1)
	s := e.rec.waitFor(t, "one ready", readyN(1))
	if s.Failure != nil || s.Warmup == nil || s.Warmup.Reason != runtime.ReasonWarmupFailed {
		t.Errorf("state %s, warm-up %+v; want no failure, a warm-up failure", describe(s), s.Warmup)
	}
	get(t, s.Ready[0].Addr, "/")
}

func TestStartupProbeFailureReplacesTheInstance(t *testing.T) {
	e := newEnv(t, Options{})
	rev := testRevision("startup-00001", "TESTFN_FAIL_PATH=/started")
	rev.Spec.Containers[0].StartupProbe = &api.Probe{PeriodSeconds: 1, FailureThreshold: 2,
		ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/started", Port: intstr.FromInt32(1)}}}
	e.deploy(t, rev, 1)
	s := e.rec.waitFor(t, "a startup probe failure", func(s runtime.State) bool { return s.Failure != nil })
	const want = "startup probe failed 2 times in a row: HTTP probe GET /started: status 500"
	if s.Failure.Reason != runtime.ReasonStartupProbe || !strings.HasPrefix(s.Failure.Message, want) {
		t.Errorf("failure %s %q, want %s %q", s.Failure.Reason, s.Failure.Message, runtime.ReasonStartupProbe, want)
	}
	if d := s.Failure.At.Sub(e.startedAt(t)); d < 1500*time.Millisecond {
		t.Errorf("failed %v after the start; the probe allows 2 periods of 1s", d)
	}
	id := e.logs.FilterMessage("instance started").All()[0].ContextMap()["instance"].(string)
	if stop := e.stopped(t, id); stop["reason"] != reasonStartupProbe {
		t.Errorf("stop log %v, want reason %s", stop, reasonStartupProbe)
	}
	e.rec.waitFor(t, "a replacement", func(s runtime.State) bool { return s.Starting == 1 && s.Failure != nil })
}

func TestStartupProbeHoldsReadinessBack(t *testing.T) {
	e := newEnv(t, Options{})
	const after = 700 * time.Millisecond
	rev := testRevision("slowstart-00001", "TESTFN_READY_PATH=/started", "TESTFN_READY_AFTER="+after.String())
	rev.Spec.Containers[0].StartupProbe = &api.Probe{PeriodSeconds: 1, FailureThreshold: 10,
		ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/started"}}}
	e.deploy(t, rev, 1)
	st := e.rec.waitFor(t, "one ready", readyN(1)).Ready[0].Started
	// The readiness probe (a TCP connect) would pass within ms of
	// listening; it waited for the startup probe.
	if d := st.Up.Sub(st.Forked); d < after {
		t.Errorf("up %v after the fork, before the startup probe could pass (%v)", d, after)
	}
	if st.Ready.Before(st.Up) {
		t.Errorf("ready before up: %+v", st)
	}
}

// startedAt returns when the first instance was started, by its log line.
func (e *env) startedAt(t *testing.T) time.Time {
	t.Helper()
	all := e.logs.FilterMessage("instance started").All()
	if len(all) == 0 {
		t.Fatal("no instance started")
	}
	return all[0].Time
}
