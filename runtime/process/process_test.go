package process

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"
	testingclock "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

func TestScaleOneServesWithEnv(t *testing.T) {
	t.Setenv("WAKE_PROCESS_TEST_LEAKED", "secret")
	e := newEnv(t, Options{Env: []string{"PATH=/usr/bin:/bin", "BASE=from-options"}})
	rev := testRevision("hello-00001", "GREETING=hi", "FROM_PORT=port-$(PORT)", "PORT=overridden")
	rev.Spec.Containers[0].Ports = []api.ContainerPort{{ContainerPort: 8080}} // ignored locally
	e.deploy(t, rev, 1)

	s := e.rec.waitFor(t, "one ready instance", readyN(1))
	if s.Desired != 1 || s.Failure != nil {
		t.Errorf("state = %s, want desired 1 and no failure", describe(s))
	}
	ep := s.Ready[0]
	if !regexp.MustCompile(`^hello-00001-[a-z0-9]{5}$`).MatchString(ep.ID) {
		t.Errorf("instance ID %q, want hello-00001-xxxxx", ep.ID)
	}
	host, port, err := net.SplitHostPort(ep.Addr)
	if err != nil || host != "127.0.0.1" || port == "8080" {
		t.Errorf("endpoint %q, want 127.0.0.1 on a port of its own", ep.Addr)
	}
	if got := get(t, ep.Addr, "/"); got != "hello-00001 hi\n" {
		t.Errorf("GET / = %q", got)
	}
	for k, want := range map[string]string{
		"PORT":                     port,
		"K_SERVICE":                "hello",
		"K_CONFIGURATION":          "hello",
		"K_REVISION":               "hello-00001",
		"GREETING":                 "hi",
		"FROM_PORT":                "port-" + port,
		"BASE":                     "from-options",
		"WAKE_PROCESS_TEST_LEAKED": "", // wake's own environment is not passed on
	} {
		if got := strings.TrimSpace(get(t, ep.Addr, "/env?k="+k)); got != want {
			t.Errorf("$%s = %q, want %q", k, got, want)
		}
	}
}

func TestHTTPReadinessProbeHoldsBackUntilPassing(t *testing.T) {
	e := newEnv(t, Options{})
	const after = time.Second
	rev := testRevision("probe-00001", "TESTFN_READY_PATH=/ready", "TESTFN_READY_AFTER="+after.String())
	rev.Spec.Containers[0].ReadinessProbe = &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{
		Path:        "/ready",
		Port:        intstr.FromInt32(9999), // ignored locally
		HTTPHeaders: []api.HTTPHeader{{Name: "X-Probe", Value: "1"}},
	}}}
	e.deploy(t, rev, 1)
	s := e.rec.waitFor(t, "ready", readyN(1))
	if got := get(t, s.Ready[0].Addr, "/ready"); got != "ready\n" {
		t.Errorf("GET /ready = %q", got)
	}
	// The instance answered 503 for `after` once listening, which is after
	// it was reported starting: a TCP probe would have passed within ms.
	// (Half of it, as the States are stamped when delivered.)
	states, _ := e.rec.history()
	var starting, ready time.Time
	for _, s := range states {
		if starting.IsZero() && s.Starting == 1 {
			starting = s.at
		}
		if ready.IsZero() && len(s.Ready) == 1 {
			ready = s.at
		}
	}
	if d := ready.Sub(starting); d < after/2 {
		t.Errorf("ready %v after starting, before the probe could pass (%v)", d, after)
	}
}

func TestScaleThreeDistinctEndpoints(t *testing.T) {
	e := newEnv(t, Options{})
	e.deploy(t, testRevision("three-00001"), 3)
	s := e.rec.waitFor(t, "three ready", readyN(3))
	ids, addrs := map[string]bool{}, map[string]bool{}
	for _, ep := range s.Ready {
		ids[ep.ID], addrs[ep.Addr] = true, true
		if got := get(t, ep.Addr, "/"); got != "three-00001 \n" {
			t.Errorf("GET %s/ = %q", ep.Addr, got)
		}
	}
	if len(ids) != 3 || len(addrs) != 3 {
		t.Errorf("endpoints %v are not distinct", s.Ready)
	}
}

func TestScaleDownDrainsThenStops(t *testing.T) {
	e := newEnv(t, Options{})
	e.dr.delay = 300 * time.Millisecond
	rev := testRevision("drain-00001")
	e.deploy(t, rev, 2)
	s := e.rec.waitFor(t, "two ready", readyN(2))
	keep, victim := s.Ready[0], s.Ready[1] // the most recently started goes
	pid := e.pidOf(t, victim.ID)

	e.scale(t, rev.Key(), 1)
	s = e.rec.waitFor(t, "one ready", readyN(1))
	if diff := cmp.Diff([]runtime.Endpoint{keep}, s.Ready); diff != "" {
		t.Errorf("ready after scale-down (-want +got):\n%s", diff)
	}
	stop := e.stopped(t, victim.ID)
	if stop["reason"] != reasonScaleDown || stop["killed"] != false {
		t.Errorf("stop log = %v, want reason scale-down without SIGKILL", stop)
	}
	if alive(pid) {
		t.Errorf("victim %d still alive after it stopped", pid)
	}
	calls := e.dr.done()
	if len(calls) != 1 || calls[0].ep != victim {
		t.Fatalf("drain calls %+v, want one for %v", calls, victim)
	}
	if !calls[0].hiddenFirst || !calls[0].servedAfter {
		t.Errorf("drain %+v: want the endpoint reported gone before, and serving until the end of the drain", calls[0])
	}
	// The order: a State without the victim, then the drain, then exit.
	_, events := e.rec.history()
	shown, hidden, drain := -1, -1, -1
	for i, ev := range events {
		switch {
		case ev == "drain "+victim.ID:
			drain = i
		case !strings.HasPrefix(ev, "state "):
		case strings.Contains(ev, victim.ID):
			shown = i
		case shown >= 0 && hidden < 0:
			hidden = i
		}
	}
	if shown < 0 || hidden < 0 || drain < 0 || hidden > drain {
		t.Errorf("events %q: want a State without %s before its drain", events, victim.ID)
	}
}

func TestScaleDownStopsStartingFirst(t *testing.T) {
	e := newEnv(t, Options{})
	rev := testRevision("victims-00001", "TESTFN_READY_PATH=/ready", "TESTFN_READY_AFTER=2s")
	rev.Spec.Containers[0].ReadinessProbe = &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/ready"}}}
	e.deploy(t, rev, 1)
	s := e.rec.waitFor(t, "one ready", readyN(1))
	e.scale(t, rev.Key(), 2)
	e.rec.waitFor(t, "one starting", func(s runtime.State) bool { return s.Starting == 1 })
	eventually(t, "the second instance to start", func() bool { return len(e.pids()) == 2 })
	e.scale(t, rev.Key(), 1)
	e.rec.waitFor(t, "back to one", func(s runtime.State) bool { return s.Desired == 1 && s.Starting == 0 })
	var second string
	for _, l := range e.logs.FilterMessage("instance started").All() {
		if id := l.ContextMap()["instance"].(string); id != s.Ready[0].ID {
			second = id
		}
	}
	e.stopped(t, second)
	if got := e.rec.last().Ready; len(got) != 1 || got[0] != s.Ready[0] {
		t.Errorf("ready = %v, want the first instance kept", got)
	}
	if calls := e.dr.done(); len(calls) != 0 {
		t.Errorf("drained %+v: a starting instance has nothing to drain", calls)
	}
}

func TestScaleWhileStoppingNeitherOvershootsNorUndershoots(t *testing.T) {
	e := newEnv(t, Options{})
	e.dr.release = make(chan struct{})
	rev := testRevision("resize-00001")
	e.deploy(t, rev, 3)
	e.rec.waitFor(t, "three ready", readyN(3))
	e.scale(t, rev.Key(), 1)
	eventually(t, "two drains", func() bool {
		_, events := e.rec.history()
		n := 0
		for _, ev := range events {
			if strings.HasPrefix(ev, "drain ") {
				n++
			}
		}
		return n == 2
	})
	e.scale(t, rev.Key(), 2) // the two victims are still draining
	e.rec.waitFor(t, "two ready", readyN(2))
	if n := len(e.pids()); n != 4 {
		t.Errorf("%d instances started, want 4 (3, then 1 more)", n)
	}
	close(e.dr.release)
	eventually(t, "victims stopped", func() bool { return len(e.logs.FilterMessage("instance stopped").All()) == 2 })
	if s := e.rec.last(); len(s.Ready) != 2 || s.Starting != 0 || s.Desired != 2 {
		t.Errorf("state = %s, want 2 ready", describe(s))
	}
	states, _ := e.rec.history()
	for _, s := range states {
		if len(s.Ready)+s.Starting > s.Desired {
			t.Errorf("state %s counts more instances than desired", describe(s.State))
		}
	}
}

func TestCrashLeavesReadyAtOnceAndIsReplaced(t *testing.T) {
	e := newEnv(t, Options{})
	e.deploy(t, testRevision("crash-00001"), 1)
	first := e.rec.waitFor(t, "ready", readyN(1)).Ready[0]
	_, _ = tryGet(first.Addr, "/exit?code=3")

	s := e.rec.waitFor(t, "a crash reported", func(s runtime.State) bool { return s.Failure != nil })
	if s.Failure.Reason != runtime.ReasonCrashed || !strings.Contains(s.Failure.Message, "exited with status 3") || s.Failure.Restarts != 1 {
		t.Errorf("failure = %+v, want Crashed, status 3, 1 restart", s.Failure)
	}
	if got := s.Failure.RetryAt.Sub(s.Failure.At); got != backoffInitial {
		t.Errorf("retry after %v, want %v", got, backoffInitial)
	}
	states, _ := e.rec.history()
	for i, s := range states {
		if i > 0 && has(states[i-1].State, first.ID) && !has(s.State, first.ID) {
			if s.Failure != nil {
				t.Errorf("first State without the crashed instance already has a failure (%s): it must leave Ready before anything else", describe(s.State))
			}
			break
		}
	}
	s = e.rec.waitFor(t, "a replacement", readyN(1))
	if s.Ready[0].ID == first.ID || s.Failure != nil {
		t.Errorf("state after crash = %s, want a new instance and no failure", describe(s))
	}
	if stop := e.stopped(t, first.ID); stop["reason"] != reasonCrashed {
		t.Errorf("stop log = %v, want reason crashed", stop)
	}
}

func TestExitAtStartBacksOff(t *testing.T) {
	e := newEnv(t, Options{})
	e.deploy(t, testRevision("loop-00001", "TESTFN_EXIT_AT_START=2"), 1)
	s := e.rec.waitFor(t, "a failure", func(s runtime.State) bool { return s.Failure != nil })
	f := s.Failure
	if f.Reason != runtime.ReasonExitedBeforeReady || f.Restarts != 1 ||
		!strings.HasPrefix(f.Message, "exited with status 2 before becoming ready; last output: ") ||
		!strings.Contains(f.Message, "testfn: exiting at start as asked") {
		t.Errorf("failure = %+v, want ExitedBeforeReady with the status and the last output", f)
	}
	s = e.rec.waitFor(t, "crash loop", func(s runtime.State) bool {
		return s.Failure != nil && s.Failure.Reason == runtime.ReasonCrashLoopBackOff
	})
	f2 := s.Failure
	if f2.Restarts != 2 || f2.Message != f.Message || f2.RetryAt.Sub(f2.At) != 2*backoffInitial {
		t.Errorf("failure = %+v, want 2 restarts, the same message, a retry after 2s", f2)
	}
	for _, s := range func() []stamped { st, _ := e.rec.history(); return st }() {
		if len(s.Ready) > 0 {
			t.Errorf("state %s: an instance that exits at start was ready", describe(s.State))
		}
	}
}

func TestExecFailed(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, command, want string
	}{
		{"absolute path missing", "/nonexistent/wake-fn", "no such file or directory"},
		{"not in PATH", "wake-no-such-command", "executable file not found"},
		{"not executable", notExec, "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			rev := testRevision("exec-00001")
			rev.Spec.Containers[0].Command = []string{tc.command}
			e.deploy(t, rev, 1)
			s := e.rec.waitFor(t, "a failure", func(s runtime.State) bool { return s.Failure != nil })
			if s.Failure.Reason != runtime.ReasonExecFailed || !strings.Contains(s.Failure.Message, tc.command) ||
				!strings.Contains(s.Failure.Message, tc.want) {
				t.Errorf("failure = %+v, want ExecFailed naming %s and %q", s.Failure, tc.command, tc.want)
			}
			if s.Starting != 0 {
				t.Errorf("state = %s, want nothing starting while backing off", describe(s))
			}
		})
	}
}

// TestProgressDeadline drives a start that never becomes ready on the
// injected clock: after progressAfter the revision reports what the
// instance waits for; at the revision's progress deadline the instance is
// stopped and the revision fails with ProgressDeadlineExceeded, backing
// off so that requests get a 503 at once.
func TestProgressDeadline(t *testing.T) {
	for _, tc := range []struct {
		name, waits string
		env         []string
		probe       *api.Probe
	}{
		{name: "deaf", waits: "nothing accepting connections on PORT=", env: []string{"TESTFN_START_DELAY=1h"}},
		{name: "unready", waits: "GET /ready answered 503", env: []string{"TESTFN_READY_PATH=/ready", "TESTFN_READY_AFTER=1h"},
			probe: &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/ready"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			e := newEnv(t, Options{Clock: clk, ProgressDeadline: time.Hour})
			rev := testRevision(tc.name+"-00001", tc.env...)
			rev.Annotations = map[string]string{api.AnnotationProgressDeadline: "20s"}
			rev.Spec.Containers[0].ReadinessProbe = tc.probe
			e.deploy(t, rev, 1)
			s := stepUntil(t, clk, e.rec, "progress", func(s runtime.State) bool { return strings.Contains(s.Progress, tc.waits) })
			if s.Failure != nil || !strings.Contains(s.Progress, "(progress deadline 20s)") || !strings.Contains(s.Progress, "instance "+tc.name+"-00001-") {
				t.Errorf("state while starting = %+v, want a progress naming the instance and its deadline", s)
			}
			s = stepUntil(t, clk, e.rec, "the deadline", func(s runtime.State) bool { return s.Failure != nil })
			f := s.Failure
			if f.Reason != runtime.ReasonProgressDeadline || !strings.Contains(f.Message, "not ready within its progress deadline of 20s ("+api.AnnotationProgressDeadline+")") ||
				!strings.Contains(f.Message, tc.waits) {
				t.Errorf("failure = %+v, want ProgressDeadlineExceeded saying what it waited for", f)
			}
			if f.RetryAt.Sub(f.At) != progressRetry || !f.Backoff(f.At) || s.Progress != "" {
				t.Errorf("after the deadline: %+v, progress %q; want a %v backoff and no progress", f, s.Progress, progressRetry)
			}
			id := e.logs.FilterMessage("instance started").All()[0].ContextMap()["instance"].(string)
			if stop := e.stopped(t, id); stop["reason"] != reasonDeadline {
				t.Errorf("stop log = %v", stop)
			}
		})
	}
}

// stepUntil steps clk a second at a time until the latest State satisfies
// ok, giving the runtime's goroutines a moment after each step.
func stepUntil(t *testing.T, clk *testingclock.FakeClock, rec *recorder, what string, ok func(runtime.State) bool) runtime.State {
	t.Helper()
	for range 600 {
		if s := rec.last(); ok(s) {
			return s
		}
		rec.mu.Lock()
		ch := rec.changed
		rec.mu.Unlock()
		clk.Step(time.Second)
		select {
		case <-ch:
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no %s after 600 steps of a second; last state %s", what, describe(rec.last()))
	return runtime.State{}
}

func TestIgnoredSIGTERMGetsSIGKILLAfterGrace(t *testing.T) {
	e := newEnv(t, Options{TerminationGracePeriod: 300 * time.Millisecond})
	rev := testRevision("stubborn-00001", "TESTFN_IGNORE_TERM=1")
	e.deploy(t, rev, 1)
	ep := e.rec.waitFor(t, "ready", readyN(1)).Ready[0]
	pid := e.pidOf(t, ep.ID)
	e.scale(t, rev.Key(), 0)
	if stop := e.stopped(t, ep.ID); stop["killed"] != true || stop["reason"] != reasonScaleDown {
		t.Errorf("stop log = %v, want killed after the grace period", stop)
	}
	if alive(pid) {
		t.Errorf("process %d survived SIGKILL", pid)
	}
}

func TestObserverMayCallBack(t *testing.T) {
	var e *env
	rev := testRevision("callback-00001")
	obs := observerFunc(func(k api.RevisionKey, s runtime.State) {
		e.rec.Update(k, s)
		// Back into the runtime, from Update, and slowly.
		ctx := context.Background()
		_ = e.rt.Deploy(ctx, rev)
		_ = e.rt.Scale(ctx, api.RevisionKey{Namespace: "default", Name: "other-00001"}, 1)
		_ = e.rt.Logs(ctx, k, runtime.LogOptions{Tail: 1}, io.Discard)
		time.Sleep(5 * time.Millisecond)
	})
	e = newEnv(t, Options{Observer: obs})
	key := rev.Key()
	e.deploy(t, rev, 2)
	e.rec.waitFor(t, "two ready", readyN(2))
	e.scale(t, key, 0)
	e.rec.waitFor(t, "none", func(s runtime.State) bool { return s.Desired == 0 && len(s.Ready) == 0 })
}

type observerFunc func(api.RevisionKey, runtime.State)

func (f observerFunc) Update(k api.RevisionKey, s runtime.State) { f(k, s) }

func TestRemove(t *testing.T) {
	e := newEnv(t, Options{})
	rev := testRevision("gone-00001")
	e.deploy(t, rev, 2)
	e.rec.waitFor(t, "two ready", readyN(2))
	ctx := context.Background()
	if err := e.rt.Remove(ctx, rev.Key()); err != nil {
		t.Fatal(err)
	}
	for _, pid := range e.pids() {
		if alive(pid) {
			t.Errorf("process %d alive after Remove returned", pid)
		}
	}
	if n := len(e.dr.done()); n != 2 {
		t.Errorf("%d drains, want 2", n)
	}
	if s := e.rec.last(); s.Desired != 0 || len(s.Ready) != 0 || s.Starting != 0 {
		t.Errorf("last state %s, want empty", describe(s))
	}
	if _, err := os.Stat(filepath.Join(e.dir, "logs", "default", "gone-00001")); !os.IsNotExist(err) {
		t.Errorf("logs not deleted: %v", err)
	}
	if err := e.rt.Scale(ctx, rev.Key(), 1); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("Scale after Remove = %v, want ErrUnknownRevision", err)
	}
	if err := e.rt.Logs(ctx, rev.Key(), runtime.LogOptions{}, &strings.Builder{}); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("Logs after Remove = %v, want ErrUnknownRevision", err)
	}
	if err := e.rt.Remove(ctx, rev.Key()); err != nil {
		t.Errorf("second Remove = %v, want nil", err)
	}
	// Deployed again, it runs again.
	e.deploy(t, rev, 1)
	e.rec.waitFor(t, "ready again", readyN(1))
}

func TestDeployRejectsWhatCannotRun(t *testing.T) {
	e := newEnv(t, Options{})
	for _, tc := range []struct {
		name   string
		mutate func(*api.Revision)
		want   string
	}{
		{"no command or image", func(r *api.Revision) { r.Spec.Containers[0].Command = nil }, "a command or an image is required"},
		{"no container", func(r *api.Revision) { r.Spec.Containers = nil }, "spec.containers"},
		{"bad name", func(r *api.Revision) { r.Name = "../etc" }, "metadata.name"},
		{"no namespace", func(r *api.Revision) { r.Namespace = "" }, "metadata.namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rev := testRevision("bad-00001")
			tc.mutate(rev)
			err := e.rt.Deploy(context.Background(), rev)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Deploy = %v, want an error about %s", err, tc.want)
			}
		})
	}
	if err := e.rt.Scale(context.Background(), api.RevisionKey{Namespace: "default", Name: "nope-00001"}, 1); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("Scale of an unknown revision = %v, want ErrUnknownRevision", err)
	}
}

// TestBackoffScheduleOnFakeClock drives the restart backoff with the
// injected clock: a command that cannot run fails at once, so every retry
// waits only on the clock.
func TestBackoffScheduleOnFakeClock(t *testing.T) {
	clk := &timerClock{FakeClock: testingclock.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), timers: make(chan time.Duration, 1)}
	e := newEnv(t, Options{Clock: clk})
	rev := testRevision("backoff-00001")
	rev.Spec.Containers[0].Command = []string{"/nonexistent/wake-fn"}
	e.deploy(t, rev, 1)
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second} {
		restarts := i + 1
		s := e.rec.waitFor(t, "failure "+strconv.Itoa(restarts), func(s runtime.State) bool {
			return s.Failure != nil && s.Failure.Restarts == restarts
		})
		wantReason := runtime.ReasonCrashLoopBackOff
		if restarts == 1 {
			wantReason = runtime.ReasonExecFailed
		}
		f := s.Failure
		if f.Reason != wantReason || !f.At.Equal(clk.Now()) || f.RetryAt.Sub(f.At) != want {
			t.Fatalf("failure %d = %+v, want %s retrying after %v", restarts, f, wantReason, want)
		}
		if got := <-clk.timers; got != want {
			t.Fatalf("backoff timer %v, want %v", got, want)
		}
		clk.Step(want)
	}
}
