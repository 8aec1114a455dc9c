package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const helloManifest = `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - command: ["./hello"]
`

func TestApplyWaitsForNothingUnchanged(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fn.yaml")
	if err := os.WriteFile(file, []byte(helloManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, status string
		wantGets     int // calls to read the revision and function while waiting
	}{
		{"ready: nothing to wait for", "True", 0},
		{"still deploying: waited for", "Unknown", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, server := newFakeAdmin(t)
			fn := strings.Replace(helloFn, `"conditions": [{"type": "Ready", "status": "True"}]`,
				`"conditions": [{"type": "Ready", "status": "`+tc.status+`"}]`, 1)
			f.answers["POST "+v1+"/apply"] = `{"functions": [` + fn + `], "triggers": [], "unchanged": ["default/hello"]}`
			f.answers["GET "+v1+"/namespaces/default/revisions/hello-00002"] = revisionJSON("hello-00002", "default", "hello", 1)
			f.answers["GET "+v1+"/namespaces/default/functions/hello"] = helloFn
			out, err := wake(t, server, "apply", "-f", file)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.HasPrefix(out, "function default/hello unchanged\n") {
				t.Errorf("printed %q", out)
			}
			gets := 0
			for _, r := range f.sent() {
				if r.Method == "GET" {
					gets++
				}
			}
			if gets != tc.wantGets {
				t.Errorf("%d GETs while waiting, want %d", gets, tc.wantGets)
			}
		})
	}
}
