package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const deleteManifests = `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - command: ["./hello"]
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata:
  name: nightly
  namespace: other
spec:
  schedule: "0 3 * * *"
  sink:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: hello
`

func TestDeleteFromManifests(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(file, []byte(deleteManifests), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
	}{
		{"file", []string{"delete", "-f", file}, ""},
		{"directory", []string{"delete", "-f", dir}, ""},
		{"stdin", []string{"delete", "-f", "-"}, deleteManifests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, server := newFakeAdmin(t)
			f.answers["DELETE "+v1+"/namespaces/default/functions/hello"] = ""
			f.answers["DELETE "+v1+"/namespaces/other/triggers/nightly"] = ""
			cmd := newRootCommand()
			var out strings.Builder
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetIn(strings.NewReader(tc.stdin))
			cmd.SetArgs(append(tc.args, "--server", server, "--token", "test-token-0123456789"))
			if err := cmd.Execute(); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			want := "function.wake.dev \"hello\" deleted\ntrigger.wake.dev \"nightly\" deleted\n"
			if diff := cmp.Diff(want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			var paths []string
			for _, r := range f.sent() {
				if r.Method != http.MethodDelete {
					t.Errorf("sent %s %s", r.Method, r.Path)
				}
				paths = append(paths, r.Path)
			}
			if diff := cmp.Diff([]string{v1 + "/namespaces/default/functions/hello", v1 + "/namespaces/other/triggers/nightly"}, paths); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeleteGoesOnAndFailsAtTheEnd(t *testing.T) {
	f, server := newFakeAdmin(t)
	f.answers["DELETE "+v1+"/namespaces/default/functions/bye"] = ""
	stdout, stderr, err := wakeSplit(t, server, "delete", "function/hello", "function/bye")
	if err == nil || stdout != "function.wake.dev \"bye\" deleted\n" || !strings.Contains(stderr, "/namespaces/default/functions/hello: not found") {
		t.Errorf("one missing, one there: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	stdout, _, err = wakeSplit(t, server, "delete", "functions", "hello", "bye", "--ignore-not-found")
	if err != nil || stdout != "function.wake.dev \"bye\" deleted\n" {
		t.Errorf("--ignore-not-found: %v\n%s", err, stdout)
	}
}

func TestDeleteBadInput(t *testing.T) {
	_, server := newFakeAdmin(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n  name: x\nspec:\n  nope: 1\n"), 0o600)
	other := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(other, []byte(strings.Replace(deleteManifests, "name: hello\nspec", "name: hello\n  namespace: prod\nspec", 1)), 0o600)
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"delete"}, "wake delete needs what to delete"},
		{[]string{"delete", "function"}, "wake delete function needs a name"},
		{[]string{"delete", "revision", "hello-00001"}, "a revision goes with its function"},
		{[]string{"delete", "widget", "x"}, `unknown resource type "widget"`},
		{[]string{"delete", "function", "x", "-f", bad}, "name objects or give -f, not both"},
		{[]string{"delete", "-f", bad}, bad + ": nothing deleted"},
		{[]string{"delete", "-f", other, "-n", "default"}, "function hello is in namespace prod, not default (-n): nothing deleted"},
		{[]string{"delete", "-f", empty}, "the manifests name no function or trigger"},
		{[]string{"delete", "-f", filepath.Join(t.TempDir(), "missing.yaml")}, "no such file"},
	} {
		if _, _, err := wakeSplit(t, server, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("wake %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
