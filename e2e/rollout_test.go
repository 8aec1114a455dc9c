package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// rolloutManifest is function "canary" at version v, rolling out over 12s
// in steps of 4s (1%, 34%, 67%, 100%). env adds to the instance's
// environment. Every version simulates a JIT (its first 30 requests are
// slow) and warms up with 30 requests, so no user request meets the slow
// path: the new revision is warm before it gets traffic.
func rolloutManifest(v string, env map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: canary
  annotations:
    serving.knative.dev/rollout-duration: 12s
    wake.dev/rollout-min-step: 4s
    wake.dev/rollout-min-requests: "10"
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
    spec:
      warmup: {path: "/env?k=GREETING", requests: 30, concurrency: 4}
      containers:
        - command: [%q]
          args: ["marker=rollout"]
          env:
            - {name: GREETING, value: %q}
            - {name: TESTFN_JIT_REQUESTS, value: "30"}
`, testfnBin, v)
	for k, val := range env {
		fmt.Fprintf(&b, "            - {name: %s, value: %q}\n", k, val)
	}
	return b.String()
}

// rolloutStatus reads the function's rollout through the admin API.
func rolloutStatus(t *testing.T, w *server) *api.RolloutStatus {
	t.Helper()
	res, err := w.adminGet("/apis/wake.dev/v1/namespaces/default/functions/canary/rollout")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil
	}
	st := &api.RolloutStatus{}
	if err := json.NewDecoder(res.Body).Decode(st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitRollout waits until the rollout of canary to revision rev reaches
// phase, and returns it.
func waitRollout(t *testing.T, w *server, rev, phase string, timeout time.Duration) *api.RolloutStatus {
	t.Helper()
	var st *api.RolloutStatus
	eventually(t, timeout, "rollout of "+rev+" "+phase, func() bool {
		st = rolloutStatus(t, w)
		return st != nil && st.Canary == rev && st.Phase == phase
	})
	return st
}

// servedBy counts the answers of outs by the revision that gave them, and
// the non-200s.
func servedBy(outs []outcome, label string) (byRev map[string]int, failed int) {
	byRev = map[string]int{}
	for _, o := range outs {
		if o.label != label {
			continue
		}
		if o.code != http.StatusOK {
			failed++
			continue
		}
		byRev[strings.Fields(o.body)[0]]++
	}
	return byRev, failed
}

func TestRolloutStepsAnalysesAndRollsBack(t *testing.T) {
	w := startWake(t, "")
	w.apply(rolloutManifest("one", nil))
	l := startLoad(t, w, loadSpec{host: "canary.default.localhost", path: "/", workers: 6})

	// A healthy canary takes all the traffic in steps.
	l.setLabel("two")
	w.apply(rolloutManifest("two", nil))
	st := waitRollout(t, w, "canary-00002", api.RolloutProgressing, 30*time.Second)
	if st.Stable != "canary-00001" || st.StepPercent != 33 {
		t.Fatalf("rollout %+v, want steps of 33%% from canary-00001", st)
	}
	st = waitRollout(t, w, "canary-00002", api.RolloutSucceeded, 40*time.Second)
	byRev, failed := servedBy(l.snapshot(), "two")
	t.Logf("healthy canary: %d steps, served during the rollout %v, %d failed; analyses:", st.Step, byRev, failed)
	for _, a := range st.Analyses {
		t.Logf("  step %d %s: canary %d req p95 %v, stable %d req p95 %v: %s", a.Step, a.Verdict,
			a.Canary.Requests, a.Canary.P95.Duration, a.Stable.Requests, a.Stable.P95.Duration, a.Message)
	}
	if failed > 0 || byRev["canary-00001"] == 0 || byRev["canary-00002"] == 0 {
		t.Errorf("during the rollout: %v and %d failed; want both revisions serving and no failure", byRev, failed)
	}
	for _, o := range l.snapshot() {
		if o.label == "two" && o.code == http.StatusOK && strings.Contains(o.body, "canary-00002") && o.latency() > time.Second {
			t.Errorf("a canary request took %v: was it served by an instance that was not warmed up?", o.latency())
		}
	}

	// A canary failing 30% of its requests is rolled back at its first step.
	l.setLabel("three")
	w.apply(rolloutManifest("three", map[string]string{"TESTFN_ERROR_PERCENT": "30"}))
	st = waitRollout(t, w, "canary-00003", api.RolloutRolledBack, 40*time.Second)
	t.Logf("failing canary: %s", st.Message)
	if st.Step != 1 || !strings.Contains(st.Message, "error rate") {
		t.Errorf("rolled back at step %d for %q; want step 1, for the error rate", st.Step, st.Message)
	}
	l.setLabel("after-three")
	time.Sleep(time.Second)
	if byRev, _ := servedBy(l.snapshot(), "after-three"); byRev["canary-00003"] > 0 || byRev["canary-00002"] == 0 {
		t.Errorf("after the rollback: %v, want everything on canary-00002", byRev)
	}

	// A canary 20× slower is rolled back for its latency.
	l.setLabel("four")
	w.apply(rolloutManifest("four", map[string]string{"TESTFN_WORK": "100ms"}))
	st = waitRollout(t, w, "canary-00004", api.RolloutRolledBack, 40*time.Second)
	t.Logf("slow canary: %s", st.Message)
	if !strings.Contains(st.Message, "p95 latency") {
		t.Errorf("rolled back for %q, want the p95 latency", st.Message)
	}
	out := w.mustCLI("describe", "function", "canary")
	if !strings.Contains(out, "RolledBack") {
		t.Errorf("wake describe function does not show the rollback:\n%s", out)
	}

	// Pause, pin by header, abort.
	l.setLabel("five")
	w.apply(rolloutManifest("five", nil))
	waitRollout(t, w, "canary-00005", api.RolloutProgressing, 30*time.Second)
	if out := w.mustCLI("rollout", "pause", "canary"); !strings.Contains(out, "Paused") {
		t.Errorf("wake rollout pause: %q", out)
	}
	for _, pin := range []struct{ tag, rev string }{{"canary", "canary-00005"}, {"stable", "canary-00002"}} {
		for range 10 {
			if rev, _ := w.getWith("canary.default.localhost", map[string]string{"Wake-Revision-Tag": pin.tag}); rev != pin.rev {
				t.Fatalf("pinned to %s: %s, want %s", pin.tag, rev, pin.rev)
			}
		}
	}
	status := w.mustCLI("rollout", "status", "canary")
	t.Logf("wake rollout status:\n%s", status)
	if !strings.Contains(status, "Paused") || !strings.Contains(status, "canary-00005") {
		t.Errorf("wake rollout status does not show the paused rollout:\n%s", status)
	}
	w.mustCLI("rollout", "abort", "canary")
	if st := rolloutStatus(t, w); st.Phase != api.RolloutAborted {
		t.Errorf("after abort: %s", st.Phase)
	}
	if _, errOut, err := w.cli("rollout", "pause", "canary"); err == nil || !strings.Contains(errOut, "no rollout in progress") {
		t.Errorf("pausing an aborted rollout: %v %q, want a clear refusal", err, errOut)
	}

	tl := count(l.sent.Load(), l.stop())
	t.Logf("load: %d sent, %d ok, %d 5xx (the failing canary's), %d transport errors, %d lost", tl.sent, tl.ok, tl.serverErrors, tl.errors, tl.lost)
	if tl.errors > 0 || tl.lost > 0 {
		t.Errorf("requests failed without an answer: %v %v", tl.errs, tl.non2xx)
	}
}
