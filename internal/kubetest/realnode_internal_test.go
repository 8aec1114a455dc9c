package kubetest

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// Where the real node cannot start, the skip says what is missing and how
// to get it; without root it says that, and skips even under
// WAKE_KUBE_REQUIRED.
func TestRealNodeSaysWhatIsMissing(t *testing.T) {
	dir := t.TempDir() // a bin dir with no kubelet
	_, err := checkRealNodeHost(dir)
	if os.Geteuid() != 0 {
		if !errors.Is(err, errNotRoot) {
			t.Fatalf("as euid %d: got %v, want errNotRoot", os.Geteuid(), err)
		}
		return
	}
	if !errors.Is(err, errEnvironment) || errors.Is(err, errNotRoot) {
		t.Fatalf("got %v, want an errEnvironment that is not errNotRoot", err)
	}
	for _, want := range []string{"no kubelet in " + dir, setupCommand} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "/tmp/wake-kubetest-1/node", "/tmp/wake-kubetest-1/node"},
		{"space", `/tmp/a\040b`, "/tmp/a b"},
		{"backslash", `/tmp/a\134b`, `/tmp/a\b`},
		{"not octal", `/tmp/a\9`, `/tmp/a\9`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unescapeMount(tt.in); got != tt.want {
				t.Errorf("unescapeMount(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
