package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// TestKubectlHabits runs what a kubectl or kn user types first (issue 21)
// against a real wake serve: the version, get's outputs, selectors and
// watch, describe, and delete -f.
func TestKubectlHabits(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	m := marker(t)
	helloFile := writeManifest(t, fn{name: "hello", marker: m}.yaml())
	w.mustCLI("apply", "-f", helloFile)
	w.apply(fn{name: "bye", marker: m}.yaml())
	w.apply(fmt.Sprintf(`apiVersion: wake.dev/v1
kind: Function
metadata:
  name: warm
  labels:
    app: shop
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
    spec:
      containers:
        - command: [%q]
          args: ["marker=%s", "hello world"]
`, testfnBin, m))

	t.Run("wake version shows the client's and the server's", func(t *testing.T) {
		out := w.mustCLI("version")
		if out != "Client Version: dev\nServer Version: dev\n" {
			t.Errorf("wake version:\n%s", out)
		}
	})

	t.Run("wake serve --help lists no client flags", func(t *testing.T) {
		out, err := exec.Command(wakeBin, "serve", "--help").CombinedOutput()
		if err != nil || strings.Contains(string(out), "--server") || strings.Contains(string(out), "--token") {
			t.Errorf("wake serve --help (%v):\n%s", err, out)
		}
	})

	t.Run("-o name, TYPE/NAME and comma lists", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"get", "functions", "-o", "name"}, "function.wake.dev/bye\nfunction.wake.dev/hello\nfunction.wake.dev/warm\n"},
			{[]string{"get", "function/hello", "revision/bye-00001", "-o", "name"}, "function.wake.dev/hello\nrevision.wake.dev/bye-00001\n"},
			{[]string{"get", "functions,revisions", "-o", "name", "-l", "app=shop"}, "function.wake.dev/warm\n"},
			{[]string{"get", "revisions", "-l", "serving.knative.dev/service=bye", "-o", "name"}, "revision.wake.dev/bye-00001\n"},
			{[]string{"get", "functions", "-o", "jsonpath={.items[*].metadata.name}"}, "bye hello warm"},
			{[]string{"get", "rev", "warm-00001", "-o", "jsonpath={.status.actualReplicas}"}, "1"},
		} {
			if got := w.mustCLI(tc.args...); got != tc.want {
				t.Errorf("wake %s:\n%s\nwant:\n%s", strings.Join(tc.args, " "), got, tc.want)
			}
		}
		out := w.mustCLI("get", "functions,revisions")
		if !strings.Contains(out, "function.wake.dev/hello") || !strings.Contains(out, "\n\nNAME ") || !strings.Contains(out, "revision.wake.dev/hello-00001") {
			t.Errorf("wake get functions,revisions: want a table a kind, objects named with their kind:\n%s", out)
		}
	})

	t.Run("one named revision is the object, not a list", func(t *testing.T) {
		var r api.Revision
		if err := json.Unmarshal([]byte(w.mustCLI("get", "revisions", "hello-00001", "-o", "json")), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind != api.KindRevision || r.Name != "hello-00001" {
			t.Errorf("wake get revisions hello-00001 -o json: %s %s", r.Kind, r.Name)
		}
		if yaml := w.mustCLI("get", "revision/hello-00001", "-o", "yaml"); !strings.HasPrefix(yaml, "kind: Revision\n") {
			t.Errorf("-o yaml:\n%s", yaml)
		}
	})

	t.Run("tables: NAMESPACE only with -A, --no-headers, nothing found", func(t *testing.T) {
		if out := w.mustCLI("get", "functions"); !strings.HasPrefix(out, "NAME ") {
			t.Errorf("wake get functions:\n%s", out)
		}
		if out := w.mustCLI("get", "functions", "-A"); !strings.HasPrefix(out, "NAMESPACE   NAME ") || !strings.Contains(out, "\ndefault     bye ") {
			t.Errorf("wake get functions -A:\n%s", out)
		}
		if out := w.mustCLI("get", "revisions", "--no-headers", "-l", "serving.knative.dev/service=hello"); !strings.HasPrefix(out, "hello-00001 ") ||
			strings.Count(out, "\n") != 1 {
			t.Errorf("wake get revisions --no-headers:\n%s", out)
		}
		stdout, stderr, err := w.cli("get", "functions", "-n", "nosuchns")
		if err != nil || stdout != "" || stderr != "No resources found in nosuchns namespace.\n" {
			t.Errorf("wake get functions -n nosuchns: %v\nstdout: %q\nstderr: %q", err, stdout, stderr)
		}
	})

	t.Run("describe: no trailing spaces, the command quoted, min-scale never goes to zero", func(t *testing.T) {
		out := w.mustCLI("describe", "revision", "warm-00001")
		for _, line := range strings.Split(out, "\n") {
			if strings.TrimRight(line, " \t") != line {
				t.Errorf("trailing spaces: %q", line)
			}
		}
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`\nCommand: +` + regexp.QuoteMeta(fmt.Sprintf("%s marker=%s 'hello world'\n", testfnBin, m))),
			regexp.MustCompile(`\n  To zero: +never \(min-scale 1\)\n`),
		} {
			if !want.MatchString(out) {
				t.Errorf("no %s in wake describe revision warm-00001:\n%s", want, out)
			}
		}
	})

	t.Run("get -w prints a new revision as it comes, and ends on Ctrl-C", func(t *testing.T) {
		cmd := exec.Command(wakeBin, "get", "revisions", "-w", "-l", "serving.knative.dev/service=bye", "--server", "http://"+w.admin)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "WAKE_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "WAKE_STATE_DIR="+w.stateDir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		waitFor := func(prefix string) {
			t.Helper()
			deadline := time.After(30 * time.Second)
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("wake get -w ended before printing %s: %s", prefix, stderr.String())
					}
					if strings.HasPrefix(line, prefix) {
						return
					}
				case <-deadline:
					t.Fatalf("wake get -w did not print %s within 30s: %s", prefix, stderr.String())
				}
			}
		}
		waitFor("NAME ")
		waitFor("bye-00001 ")
		w.apply(fn{name: "bye", marker: m, env: map[string]string{"GREETING": "again"}}.yaml())
		waitFor("bye-00002 ")
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("wake get -w after Ctrl-C: %v (want exit 0)\n%s", err, stderr.String())
		}
	})

	t.Run("delete -f deletes what the manifest names", func(t *testing.T) {
		out := w.mustCLI("delete", "-f", helloFile)
		if out != `function.wake.dev "hello" deleted`+"\n" {
			t.Errorf("wake delete -f:\n%s", out)
		}
		if _, _, err := w.cli("get", "function/hello"); err == nil {
			t.Error("hello is still there")
		}
		_, stderr, err := w.cli("delete", "-f", helloFile)
		if err == nil || !strings.Contains(stderr, "not found") {
			t.Errorf("deleting it again: %v\n%s", err, stderr)
		}
		if out, _, err := w.cli("delete", "-f", helloFile, "--ignore-not-found"); err != nil || out != "" {
			t.Errorf("--ignore-not-found: %v\n%s", err, out)
		}
	})
}
