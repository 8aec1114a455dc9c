package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// badManifests are a directory's files as a new user might write them
// (issue 21), each with the lines `wake apply -f DIR` must print for it.
var badManifests = []struct {
	file, manifest string
	want           []string
}{{
	file: "a-unknown.yaml",
	manifest: `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: Hello_World
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/max-scale: "-3"
    spec:
      containerConcurrency: 5000
      timeoutSeconds: 0
      replicas: 3
      containers:
        - command: ["./hello"]
  traffic:
    - latestRevision: true
      percent: 140
`,
	// The unknown field hides none of the others.
	want: []string{
		":4: metadata.name: must be a DNS-1035 label",
		`:9: spec.template.metadata.annotations[autoscaling.knative.dev/max-scale]: must be a whole number of instances, 0 or more, got "-3"`,
		":11: spec.template.spec.containerConcurrency: must be between 0 and 1000, got 5000",
		":12: spec.template.spec.timeoutSeconds: must be between 1 and 3600, got 0",
		":13: spec.template.spec.replicas: unknown field",
		":18: spec.traffic[0].percent: must be between 0 and 100, got 140",
	},
}, {
	file:     "b-empty.yaml",
	manifest: "# to do\n---\n",
	want:     []string{": no objects passed to apply"},
}, {
	// The quote left open on line 4 runs on to the next one, on line 9;
	// yaml.v3 said "line 3: did not find expected key".
	file: "c-quote.yaml",
	manifest: `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: "quote
spec:
  template:
    spec:
      containers:
        - command: ["./hello"]
`,
	want: []string{`:4: the string opened with " at line 4, column 9 runs on to line 9, where the YAML breaks; is its closing " missing?`},
}, {
	file:     "d-tab.yaml",
	manifest: "apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n\tname: tab\n",
	want:     []string{":4: tab character used for indentation at line 4, column 1; YAML indents with spaces"},
}, {
	// The template's spec: two spaces short.
	file: "e-indent.yaml",
	manifest: `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: indent
spec:
  template:
    metadata:
      annotations: {autoscaling.knative.dev/max-scale: "3"}
  spec:
    containers:
      - command: ["./hello"]
`,
	want: []string{":9: spec.spec: unknown field; it is indented under spec: did you mean it one level deeper, under template (spec.template.spec)?"},
}, {
	file: "f-window.yaml",
	manifest: `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: window
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/window: "30"
    spec:
      containers:
        - command: ["./hello"]
`,
	want: []string{`:9: spec.template.metadata.annotations[autoscaling.knative.dev/window]: must be a duration with a unit, such as "30s", got "30"`},
}}

// goodManifest is a directory's one good file: it must not be applied
// while another file is bad.
const goodManifest = `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: good
spec:
  template:
    spec:
      containers:
        - command: ["TESTFN"]
`

// TestManifestErrors: `wake apply -f DIR` on a directory of bad files
// prints every problem of every file, each with its file and line, exits
// non-zero, and applies none of the files, not even the good one.
func TestManifestErrors(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	dir := t.TempDir()
	write := func(name, manifest string) string {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	write("0-good.yaml", strings.Replace(goodManifest, "TESTFN", testfnBin, 1)) // first: applying file by file would apply it
	for _, m := range badManifests {
		write(m.file, m.manifest)
	}

	_, stderr, err := w.cli("apply", "-f", dir)
	if err == nil {
		t.Fatalf("wake apply -f DIR with bad files succeeded:\n%s", stderr)
	}
	for _, m := range badManifests {
		for _, want := range m.want {
			if want = filepath.Join(dir, m.file) + want; !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q", want)
			}
		}
	}
	if want := "6 of 7 files have problems: nothing was applied"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q", want)
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr)
	}
	if names := functionNames(t, w); len(names) > 0 {
		t.Errorf("functions %v were applied; want none while any file is bad", names)
	}

	// Once every file is good, the directory applies as a whole.
	for _, m := range badManifests {
		if err := os.Remove(filepath.Join(dir, m.file)); err != nil {
			t.Fatal(err)
		}
	}
	write("1-also-good.yaml", strings.Replace(strings.Replace(goodManifest, "TESTFN", testfnBin, 1), "name: good", "name: also-good", 1))
	w.mustCLI("apply", "-f", dir, "--no-wait")
	if names := functionNames(t, w); strings.Join(names, " ") != "also-good good" {
		t.Errorf("functions %v, want also-good and good", names)
	}
}

// functionNames lists the functions wake serve has, sorted.
func functionNames(t *testing.T, w *server) []string {
	t.Helper()
	res, err := w.adminDo(http.MethodGet, "/apis/wake.dev/v1/functions", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var list api.FunctionList
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("listing functions: %v: %s", err, body)
	}
	var names []string
	for _, fn := range list.Items {
		names = append(names, fn.Name)
	}
	sort.Strings(names)
	return names
}

// TestServeManifestErrors: `wake serve -f DIR` checks every file before it
// applies any, as wake apply does: it refuses to start, naming every
// problem of every bad file, and stores nothing.
func TestServeManifestErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := strings.Replace(goodManifest, "TESTFN", testfnBin, 1)
	files := map[string]string{"0-good.yaml": good}
	for _, m := range badManifests {
		files[m.file] = m.manifest
	}
	for name, manifest := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	state := t.TempDir()
	cmd := exec.CommandContext(ctx, wakeBin, "serve", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--state-dir", state, "-f", dir)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("wake serve -f DIR with bad files started:\n%s", out)
	}
	for _, m := range badManifests {
		for _, want := range m.want {
			if want = filepath.Join(dir, m.file) + want; !strings.Contains(string(out), want) {
				t.Errorf("wake serve's output lacks %q", want)
			}
		}
	}
	if want := "6 of 7 files have problems, nothing was applied"; !strings.Contains(string(out), want) {
		t.Errorf("wake serve's output lacks %q", want)
	}
	if t.Failed() {
		t.Logf("wake serve said:\n%s", out)
	}
	if names := functionNames(t, startWake(t, state)); len(names) > 0 {
		t.Errorf("functions %v were stored; want none while any file is bad", names)
	}
}
