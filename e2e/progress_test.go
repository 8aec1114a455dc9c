package e2e

import (
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// TestFunctionThatNeverListensFailsAtItsDeadline: a function whose
// process runs but never listens on $PORT. `wake apply` says what it waits
// for while it waits, then fails at the revision's progress deadline with
// the reason and where its whole output is; the process is stopped, and a
// request gets a 503 naming the failure at once rather than waiting its
// timeoutSeconds.
func TestFunctionThatNeverListensFailsAtItsDeadline(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	m := marker(t)
	file := writeManifest(t, fn{name: "deaf", marker: m, timeout: 120,
		annotations: map[string]string{api.AnnotationProgressDeadline: "8s"},
		env:         map[string]string{"TESTFN_START_DELAY": "1h"}}.yaml())
	out, stderr, err := w.cli("apply", "-f", file, "--timeout", "60s")
	if err == nil {
		t.Fatalf("wake apply of a function that never listens succeeded:\n%s", out)
	}
	for _, want := range []string{"deaf: revision deaf-00001 not ready after ", ": instance deaf-00001-", "nothing accepting connections on PORT=", "(progress deadline 8s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("wake apply's progress lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"deaf-00001 failed: ProgressDeadlineExceeded: not ready within its progress deadline of 8s", "wake logs deaf --revision deaf-00001"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("wake apply's failure lacks %q:\n%s", want, stderr)
		}
	}
	r := w.revision("deaf", "deaf-00001")
	if c := api.GetCondition(r.Status.Conditions, api.ConditionReady); c == nil || c.Status != api.ConditionFalse || c.Reason != "ProgressDeadlineExceeded" {
		t.Errorf("Ready condition %+v, want False ProgressDeadlineExceeded", c)
	}
	eventually(t, 10*time.Second, "the instance that never listened to be stopped", func() bool {
		return len(processesWith(m)) == 0
	})
	start := time.Now()
	resp := w.mustGet("deaf.default.localhost", "/")
	// timeoutSeconds is 120: an answer within a fraction of it was not
	// held waiting for an instance.
	if took := time.Since(start); resp.code != 503 || !strings.Contains(resp.body, "ProgressDeadlineExceeded") || took > 30*time.Second {
		t.Errorf("request after the deadline: %d %q after %v, want a 503 naming ProgressDeadlineExceeded at once", resp.code, resp.body, took)
	}
}
