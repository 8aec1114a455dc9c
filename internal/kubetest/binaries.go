package kubetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The binaries a control plane needs, all built by hack/kube-testenv.sh.
var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// setupCommand is what a developer runs to get the binaries.
const setupCommand = "hack/kube-testenv.sh (or make kube-testenv)"

// BinDir is the directory the binaries are taken from: $WAKE_KUBE_BIN, else
// the bin dir of hack/kube-testenv.sh's cache
// (${WAKE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wake/kube-testenv}/bin).
func BinDir() string {
	if d := os.Getenv("WAKE_KUBE_BIN"); d != "" {
		return d
	}
	cache := os.Getenv("WAKE_KUBE_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "wake", "kube-testenv")
	}
	return filepath.Join(cache, "bin")
}

// Required reports whether WAKE_KUBE_REQUIRED asks that tests fail, not
// skip, when the control plane cannot be had.
func Required() bool {
	v := os.Getenv("WAKE_KUBE_REQUIRED")
	return v != "" && v != "0" && v != "false"
}

// missingBinaries returns the components not found as executables in dir.
func missingBinaries(dir string) []string {
	var missing []string
	for _, c := range components {
		st, err := os.Stat(filepath.Join(dir, c))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, c)
		}
	}
	return missing
}

// Kubectl returns the path of the kubectl the script built, or "" when
// there is none.
func Kubectl() string {
	p := filepath.Join(BinDir(), "kubectl")
	if _, err := exec.LookPath(p); err != nil {
		return ""
	}
	return p
}

// skipOrFail skips the test, or fails it when WAKE_KUBE_REQUIRED is set.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("kubetest: %s (WAKE_KUBE_REQUIRED is set)", msg)
	}
	t.Skipf("kubetest: %s", msg)
}

// checkBinaries skips or fails t when a binary is missing.
func checkBinaries(t testing.TB, dir string) {
	t.Helper()
	if m := missingBinaries(dir); len(m) > 0 {
		skipOrFail(t, "no %s in %s: run %s", strings.Join(m, ", "), dir, setupCommand)
	}
}
