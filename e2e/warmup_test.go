package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// withSpec adds lines (indented for spec.template.spec) to a manifest
// written by fn.yaml.
func withSpec(manifest, lines string) string {
	return strings.Replace(manifest, "    spec:\n", "    spec:\n"+lines, 1)
}

// withContainer adds lines (indented for the container) after its args.
func withContainer(manifest, lines string) string {
	re := regexp.MustCompile(`(?m)^(          args: .*\n)`)
	return re.ReplaceAllLiteralString(manifest, re.FindString(manifest)+lines)
}

// condition returns the revision's condition of type typ, or nil.
func (s *server) condition(function, revision, typ string) *api.Condition {
	r := s.revision(function, revision)
	return api.GetCondition(r.Status.Conditions, typ)
}

// jitRun is what one function's user requests saw after a wake-up.
type jitRun struct {
	first     time.Duration // the request that woke it from zero
	latencies []time.Duration
	slow      int // requests that took the slow (not yet compiled) path
	firstSlow int // 1-based index of the first slow one, 0 for none
}

// A function whose first 100 requests run 20× slower (a JIT compiler not
// warmed up yet) is woken from zero twice: with a warm-up of 100 requests
// no user request meets the slow path; without one, the first users pay.
func TestWarmupTakesTheSlowRequests(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	env := map[string]string{"TESTFN_JIT_REQUESTS": "100", "TESTFN_JIT_SLOWDOWN": "20", "TESTFN_WORK": "5ms"}
	zero := map[string]string{api.AnnotationInitialScale: "0"}
	w.apply(withSpec(fn{name: "jit-warm", marker: marker(t), annotations: zero, env: env}.yaml(),
		"      warmup:\n        requests: 100\n        concurrency: 4\n"))
	w.apply(fn{name: "jit-cold", marker: marker(t), annotations: zero, env: env}.yaml())

	const requests = 40
	run := func(name string) jitRun {
		var r jitRun
		for i := 1; i <= requests; i++ {
			start := time.Now()
			res := w.mustGet(name+".default.localhost", "/")
			d := time.Since(start)
			if res.code != 200 {
				t.Fatalf("%s request %d: %d %q", name, i, res.code, res.body)
			}
			if i == 1 {
				r.first = d
				t.Logf("%s: the first request's Server-Timing %q", name, res.header.Values("Server-Timing"))
				continue // its latency is the wake-up's; counted as slow or not below
			}
			r.latencies = append(r.latencies, d)
			if res.header.Get("X-Testfn-Slow") == "true" {
				r.slow++
				if r.firstSlow == 0 {
					r.firstSlow = i
				}
			}
		}
		return r
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	warm, cold := run("jit-warm"), run("jit-cold")
	for _, c := range []struct {
		name string
		r    jitRun
	}{{"with warm-up", warm}, {"without", cold}} {
		t.Logf("%s: wake-up request %v; then %d of %d requests slow (first at #%d), median %v, max %v",
			c.name, c.r.first.Round(time.Millisecond), c.r.slow, len(c.r.latencies), c.r.firstSlow,
			median(c.r.latencies).Round(100*time.Microsecond), slices.Max(c.r.latencies).Round(100*time.Microsecond))
	}
	if warm.slow != 0 {
		t.Errorf("with a warm-up of 100 requests, %d user requests took the slow path", warm.slow)
	}
	if cold.slow != requests-1 {
		t.Errorf("without warm-up, %d of %d user requests after the first took the slow path; want all (the first 100 are slow)", cold.slow, requests-1)
	}
	if mw, mc := median(warm.latencies), median(cold.latencies); mc < 3*mw {
		t.Errorf("median latency %v with warm-up, %v without: want the slow path to show (20×)", mw, mc)
	}
}

// A warm-up that fails under onFailure block: no user request reaches the
// unwarmed instance, and the revision says why.
func TestWarmupFailureBlocks(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	// The Knative way: the warm-up in an annotation.
	f := fn{name: "warm-block", marker: marker(t), timeout: 5,
		annotations: map[string]string{api.AnnotationWarmup: `{"path": "/warm", "requests": 5}`},
		env:         map[string]string{"TESTFN_FAIL_PATH": "/warm", "TESTFN_LOG_REQUESTS": "1"}}
	w.mustCLI("apply", "-f", writeManifest(t, f.yaml()), "--no-wait")

	const want = "warm-up request 1 of 5: GET /warm: status 500"
	var c *api.Condition
	eventually(t, 60*time.Second, "the revision shows WarmedUp False", func() bool {
		c = w.condition("warm-block", "warm-block-00001", "WarmedUp")
		return c != nil
	})
	if c.Status != api.ConditionFalse || c.Reason != "WarmupFailed" || c.Message != want {
		t.Errorf("WarmedUp condition %s %s %q, want False WarmupFailed %q", c.Status, c.Reason, c.Message, want)
	}
	ready := w.condition("warm-block", "warm-block-00001", api.ConditionReady)
	t.Logf("Ready condition: %s %s %q", ready.Status, ready.Reason, ready.Message)
	if ready.Status != api.ConditionFalse {
		t.Errorf("Ready %s: a revision whose instances all fail their warm-up is not ready", ready.Status)
	}

	start := time.Now()
	res := w.mustGet("warm-block.default.localhost", "/")
	t.Logf("a user request: %d after %v: %q", res.code, time.Since(start).Round(time.Millisecond), strings.TrimSpace(res.body))
	if res.code != 503 && res.code != 504 {
		t.Errorf("a user request got %d, want 503 or 504", res.code)
	}
	if res.header.Get("X-Testfn-Pid") != "" {
		t.Error("a user request was served by an instance that failed its warm-up")
	}
	logs := w.mustCLI("logs", "warm-block")
	if !strings.Contains(logs, "request GET /warm") {
		t.Errorf("instance logs show no warm-up request:\n%s", logs)
	}
	if strings.Contains(logs, "request GET / ") {
		t.Errorf("an instance served a user request:\n%s", logs)
	}
	yaml := w.mustCLI("get", "revisions", "warm-block", "-o", "yaml")
	if !strings.Contains(yaml, "type: WarmedUp") || !strings.Contains(yaml, want) {
		t.Errorf("wake get revisions -o yaml lacks the WarmedUp condition:\n%s", yaml)
	}
}

// onFailure serve: the instance takes traffic anyway, and the revision
// shows the failure.
func TestWarmupFailureServes(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	w.apply(withSpec(fn{name: "warm-serve", marker: marker(t), env: map[string]string{"TESTFN_FAIL_PATH": "/warm"}}.yaml(),
		"      warmup:\n        path: /warm\n        requests: 5\n        onFailure: serve\n"))
	res := w.mustGet("warm-serve.default.localhost", "/")
	if res.code != 200 {
		t.Errorf("a user request: %d %q, want 200", res.code, res.body)
	}
	if c := w.condition("warm-serve", "warm-serve-00001", api.ConditionReady); c == nil || c.Status != api.ConditionTrue {
		t.Errorf("Ready %+v, want True", c)
	}
	c := w.condition("warm-serve", "warm-serve-00001", "WarmedUp")
	if c == nil || c.Status != api.ConditionFalse || c.Reason != "WarmupFailed" || !strings.Contains(c.Message, "status 500") {
		t.Errorf("WarmedUp %+v, want False WarmupFailed with the status", c)
	}
}

// A startupProbe that never passes: each instance is killed after
// failureThreshold periods and replaced, and the revision says why.
func TestStartupProbeNeverPasses(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	f := fn{name: "never-up", marker: marker(t), env: map[string]string{"TESTFN_FAIL_PATH": "/started"}}
	manifest := withContainer(f.yaml(), "          startupProbe:\n            httpGet:\n              path: /started\n"+
		"            periodSeconds: 1\n            failureThreshold: 2\n")
	w.mustCLI("apply", "-f", writeManifest(t, manifest), "--no-wait")

	const want = "startup probe failed 2 times in a row: HTTP probe GET /started: status 500"
	reasons := map[string]bool{}
	var ready *api.Condition
	eventually(t, 60*time.Second, "two instances failing their startup probe", func() bool {
		ready = w.condition("never-up", "never-up-00001", api.ConditionReady)
		if ready != nil && ready.Status == api.ConditionFalse {
			reasons[ready.Reason] = true
		}
		return strings.Count(w.output.String(), "startup-probe") >= 2
	})
	t.Logf("Ready reasons seen: %v; last: %s %q", reasons, ready.Reason, ready.Message)
	// The first failure makes Ready False with its reason (wake serve logs
	// the transition); from the second on it reads CrashLoopBackOff, with
	// the same message.
	if !regexp.MustCompile(`revision readiness.*never-up-00001.*StartupProbeFailed`).MatchString(w.output.String()) {
		t.Errorf("wake serve logged no readiness change to StartupProbeFailed (reasons polled: %v)", reasons)
	}
	if !strings.HasPrefix(ready.Message, want) {
		t.Errorf("Ready message %q, want it to start with %q", ready.Message, want)
	}
	started := strings.Count(w.output.String(), "instance started")
	if started < 2 {
		t.Errorf("%d instances started, want the failing one replaced", started)
	}
}
