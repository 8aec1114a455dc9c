package kubetest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Kubectl runs the kubectl built by hack/kube-testenv.sh against this
// control plane (--kubeconfig e.Kubeconfig) and returns its stdout; it
// fails t, with stderr, when kubectl fails, and skips t (fails it under
// WAKE_KUBE_REQUIRED) when there is no kubectl. stdin, when not nil, is
// written to kubectl's input, for `apply -f -`.
//
//	env.Kubectl(t, manifest, "apply", "-n", ns, "-f", "-")
func (e *Env) Kubectl(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	bin := Kubectl()
	if bin == "" {
		skipOrFail(t, "no kubectl in %s: run %s", BinDir(), setupCommand)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + e.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubetest: kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
