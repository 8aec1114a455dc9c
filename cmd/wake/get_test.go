package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
)

// Canned functions and revisions of two namespaces, as wake serve answers.
var (
	helloFn = `{"metadata": {"name": "hello", "namespace": "default", "labels": {"app": "shop"}, "creationTimestamp": "` + created + `"},
  "spec": {"template": {"spec": {"containers": [{"command": ["./hello"]}]}}},
  "status": {"url": "http://hello.default.localhost:8080", "latestCreatedRevisionName": "hello-00002", "latestReadyRevisionName": "hello-00002",
    "conditions": [{"type": "Ready", "status": "True"}],
    "traffic": [{"revisionName": "hello-00001", "percent": 90}, {"revisionName": "hello-00002", "percent": 10, "tag": "canary"}]}}`
	byeFn = `{"metadata": {"name": "bye", "namespace": "default", "labels": {"app": "blog"}, "creationTimestamp": "` + created + `"},
  "spec": {"template": {"spec": {"containers": [{"command": ["./bye"]}]}}},
  "status": {"url": "http://bye.default.localhost:8080", "latestCreatedRevisionName": "bye-00001",
    "conditions": [{"type": "Ready", "status": "Unknown", "reason": "Deploying"}]}}`
	otherFn = `{"metadata": {"name": "hello", "namespace": "other", "creationTimestamp": "` + created + `"},
  "spec": {"template": {"spec": {"containers": [{"command": ["./hello"]}]}}},
  "status": {"url": "http://hello.other.localhost:8080", "latestCreatedRevisionName": "hello-00001", "latestReadyRevisionName": "hello-00001",
    "conditions": [{"type": "Ready", "status": "True"}]}}`
)

func revisionJSON(name, namespace, function string, ready int) string {
	return `{"metadata": {"name": "` + name + `", "namespace": "` + namespace + `", "creationTimestamp": "` + created + `",
  "labels": {"wake.dev/function": "` + function + `", "serving.knative.dev/service": "` + function + `"}},
  "spec": {"containers": [{"command": ["./` + function + `"]}]},
  "status": {"conditions": [{"type": "Ready", "status": "True"}], "desiredReplicas": ` + strconv.Itoa(ready) + `, "actualReplicas": ` + strconv.Itoa(ready) + `}}`
}

func list(kind string, items ...string) string {
	return `{"apiVersion": "wake.dev/v1", "kind": "` + kind + `", "items": [` + strings.Join(items, ",") + `]}`
}

// newFakeServing answers wake get's calls for functions, revisions and
// triggers of the namespaces default and other (and none in nosuchns).
func newFakeServing(t *testing.T) (*fakeAdmin, string) {
	t.Helper()
	f, server := newFakeAdmin(t) // triggers
	revs := []string{revisionJSON("hello-00001", "default", "hello", 1), revisionJSON("hello-00002", "default", "hello", 0),
		revisionJSON("bye-00001", "default", "bye", 0)}
	otherRev := revisionJSON("hello-00001", "other", "hello", 0)
	for path, answer := range map[string]string{
		"/functions":                                list("FunctionList", byeFn, helloFn, otherFn),
		"/namespaces/default/functions":             list("FunctionList", byeFn, helloFn),
		"/namespaces/other/functions":               list("FunctionList", otherFn),
		"/namespaces/nosuchns/functions":            list("FunctionList"),
		"/revisions":                                list("RevisionList", append(revs, otherRev)...),
		"/namespaces/default/revisions":             list("RevisionList", revs...),
		"/namespaces/other/revisions":               list("RevisionList", otherRev),
		"/namespaces/nosuchns/revisions":            list("RevisionList"),
		"/namespaces/nosuchns/triggers":             list("TriggerList"),
		"/namespaces/default/functions/hello":       helloFn,
		"/namespaces/default/revisions/hello-00001": revs[0],
		"/namespaces/other/triggers":                list("TriggerList"),
	} {
		f.answers["GET "+v1+path] = answer
	}
	return f, server
}

// wakeSplit runs the CLI against server and returns its stdout and
// stderr apart.
func wakeSplit(t *testing.T, server string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetArgs(append(args, "--server", server, "--token", "test-token-0123456789"))
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestGetKubectlHabits(t *testing.T) {
	_, server := newFakeServing(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no NAMESPACE column without -A", []string{"get", "functions"}, `
NAME    URL                                   LATEST CREATED   LATEST READY   READY     REASON
bye     http://bye.default.localhost:8080     bye-00001                       Unknown   Deploying
hello   http://hello.default.localhost:8080   hello-00002      hello-00002    True
`},
		{"NAMESPACE column with -A", []string{"get", "fn", "-A"}, `
NAMESPACE   NAME    URL                                   LATEST CREATED   LATEST READY   READY     REASON
default     bye     http://bye.default.localhost:8080     bye-00001                       Unknown   Deploying
default     hello   http://hello.default.localhost:8080   hello-00002      hello-00002    True
other       hello   http://hello.other.localhost:8080     hello-00001      hello-00001    True
`},
		{"--no-headers", []string{"get", "revisions", "--no-headers"}, `
hello-00001   hello   90%           True   1   1   2h   -   -
hello-00002   hello   10% #canary   True   0   0   2h   -   -
bye-00001     bye     -             True   0   0   2h   -   -
`},
		{"-o name", []string{"get", "functions", "-o", "name"}, `
function.wake.dev/bye
function.wake.dev/hello
`},
		{"-l selector", []string{"get", "functions", "-l", "app=shop", "-o", "name"}, `
function.wake.dev/hello
`},
		{"-l set selector", []string{"get", "revisions", "-l", "serving.knative.dev/service in (bye)", "-o", "name"}, `
revision.wake.dev/bye-00001
`},
		{"-l matching nothing", []string{"get", "functions", "--selector", "app=none", "-o", "name"}, ``},
		{"-o jsonpath on a list", []string{"get", "functions", "-o", "jsonpath={.items[*].metadata.name}"}, `bye hello`},
		{"-o jsonpath on one object, with numbers", []string{"get", "revision", "hello-00001", "-o", "jsonpath={.metadata.name} {.status.desiredReplicas}"},
			`hello-00001 1`},
		{"-o jsonpath with range", []string{"get", "fn", "-A", "-o", `jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}`}, `
default/bye
default/hello
other/hello
`},
		{"comma list: a table a type, kinds shown", []string{"get", "functions,revisions", "-n", "other"}, `
NAME                      URL                                 LATEST CREATED   LATEST READY   READY   REASON
function.wake.dev/hello   http://hello.other.localhost:8080   hello-00001      hello-00001    True

NAME                            FUNCTION   TRAFFIC   READY   DESIRED   ACTUAL   AGE   REASON   GC
revision.wake.dev/hello-00001   hello      -         True    0         0        2h    -        -
`},
		{"TYPE/NAME", []string{"get", "function/bye", "rev/hello-00002", "-o", "name"}, `
function.wake.dev/bye
revision.wake.dev/hello-00002
`},
		{"TYPE/NAME as -o name prints it", []string{"get", "function.wake.dev/hello", "-o", "name"}, `
function.wake.dev/hello
`},
		{"a revision's NAME may be its function's", []string{"get", "revisions", "hello", "-o", "name"}, `
revision.wake.dev/hello-00001
revision.wake.dev/hello-00002
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, stderr, err := wakeSplit(t, server, tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if diff := cmp.Diff(strings.TrimPrefix(tc.want, "\n"), got); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			for _, line := range strings.Split(got, "\n") {
				if strings.TrimRight(line, " ") != line {
					t.Errorf("trailing spaces: %q", line)
				}
			}
		})
	}
}

func TestGetOneObjectIsNotAList(t *testing.T) {
	_, server := newFakeServing(t)
	for _, tc := range []struct {
		args     []string
		wantKind string
	}{
		{[]string{"get", "revisions", "hello-00001", "-o", "json"}, api.KindRevision},
		{[]string{"get", "revision/hello-00001", "-o", "yaml"}, api.KindRevision},
		{[]string{"get", "functions", "hello", "-o", "json"}, api.KindFunction},
		{[]string{"get", "trigger/orders", "-o", "json"}, api.KindTrigger},
		{[]string{"get", "revisions", "hello", "-o", "json"}, api.KindRevisionList}, // a function's: a list
		{[]string{"get", "functions", "-o", "json"}, api.KindFunctionList},
		{[]string{"get", "functions", "hello", "bye", "-o", "json"}, api.KindFunctionList},
		{[]string{"get", "functions", "hello", "-A", "-o", "json"}, api.KindFunctionList}, // in two namespaces
		{[]string{"get", "functions,triggers", "-o", "json"}, "List"},
	} {
		out, stderr, err := wakeSplit(t, server, tc.args...)
		if err != nil {
			t.Fatalf("wake %s: %v\n%s", strings.Join(tc.args, " "), err, stderr)
		}
		var got struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if tc.args[len(tc.args)-1] == "yaml" {
			got.Kind = strings.TrimPrefix(strings.SplitN(out[strings.Index(out, "kind: "):], "\n", 2)[0], "kind: ")
		} else if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("wake %s: %v\n%s", strings.Join(tc.args, " "), err, out)
		}
		if got.Kind != tc.wantKind {
			t.Errorf("wake %s printed a %s, want a %s", strings.Join(tc.args, " "), got.Kind, tc.wantKind)
		}
	}
}

func TestGetNothingFound(t *testing.T) {
	_, server := newFakeServing(t)
	for _, tc := range []struct {
		args       []string
		wantStderr string
	}{
		{[]string{"get", "functions", "-n", "nosuchns"}, "No resources found in nosuchns namespace.\n"},
		{[]string{"get", "revisions,functions", "-n", "nosuchns"}, "No resources found in nosuchns namespace.\n"},
		{[]string{"get", "triggers", "-n", "nosuchns", "-o", "wide"}, "No resources found in nosuchns namespace.\n"},
		{[]string{"get", "functions", "-l", "app=none", "-A"}, "No resources found\n"},
		{[]string{"get", "functions", "-l", "app=none", "-o", "name"}, ""}, // kubectl: only tables say so
	} {
		out, stderr, err := wakeSplit(t, server, tc.args...)
		if err != nil || out != "" || stderr != tc.wantStderr {
			t.Errorf("wake %s: stdout %q, stderr %q, error %v; want only %q on stderr", strings.Join(tc.args, " "), out, stderr, err, tc.wantStderr)
		}
	}
	out, _, err := wakeSplit(t, server, "get", "functions", "-n", "nosuchns", "-o", "json")
	if err != nil || !strings.Contains(out, `"items": []`) {
		t.Errorf("-o json of nothing is an empty list: %v\n%s", err, out)
	}
}

func TestGetBadInput(t *testing.T) {
	_, server := newFakeServing(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get"}, "wake get needs a resource type"},
		{[]string{"get", "widgets"}, `unknown resource type "widgets": use functions, revisions or triggers`},
		{[]string{"get", "functions,widgets"}, `unknown resource type "widgets"`},
		{[]string{"get", "functions,revisions", "hello"}, "names need one resource type"},
		{[]string{"get", "functions", "function/hello"}, "with TYPE/NAME, name no type beside it"},
		{[]string{"get", "function/"}, `"function/": want TYPE/NAME`},
		{[]string{"get", "functions", "-o", "jsonpath"}, "-o jsonpath needs a template"},
		{[]string{"get", "functions", "-o", "jsonpath={.items[*"}, "-o jsonpath: template"},
		{[]string{"get", "functions", "-o", "xml"}, `must be table, wide, json, yaml, name or jsonpath=TEMPLATE, got "xml"`},
		{[]string{"get", "functions", "-l", "app in shop"}, `-l "app in shop"`},
		{[]string{"get", "functions", "hello", "-l", "app=shop"}, "name objects or select them by label, not both"},
		{[]string{"get", "functions,revisions", "-w"}, "-w: watch one resource type at a time"},
		{[]string{"get", "functions", "nope"}, "no function named nope in namespace default"},
		{[]string{"get", "revisions", "nope", "-A"}, "no revision or function named nope in any namespace"},
	} {
		if _, _, err := wakeSplit(t, server, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("wake %s: error %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	// What is found is printed before the names that were not are
	// reported, as kubectl does.
	out, _, err := wakeSplit(t, server, "get", "functions", "hello", "nope", "-o", "name")
	if out != "function.wake.dev/hello\n" || err == nil || !strings.Contains(err.Error(), "no function named nope") {
		t.Errorf("one found, one not: %q, %v", out, err)
	}
}

// TestGetWatch drives wake get -w with a hand-made ticker: each tick is a
// poll, and the next tick is taken only once the poll before has printed.
func TestGetWatch(t *testing.T) {
	f, server := newFakeServing(t)
	c := &client{server: server}
	c.auth.flag = "test-token-0123456789"
	rev := func(name string, ready int) string { return revisionJSON(name, "default", "hello", ready) }
	setRevisions := func(items ...string) {
		f.mu.Lock()
		f.answers["GET "+v1+"/namespaces/default/revisions"] = list("RevisionList", items...)
		f.mu.Unlock()
	}
	for _, events := range []bool{false, true} {
		setRevisions(rev("hello-00001", 1))
		o := &getOptions{namespace: "default", output: "table", watchEvents: events}
		if err := o.complete(); err != nil {
			t.Fatal(err)
		}
		reqs, _ := parseGetArgs([]string{"revisions"})
		ctx, cancel := context.WithCancel(context.Background())
		ticks := make(chan time.Time)
		var out, errOut bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- watchGet(ctx, &out, &errOut, c, o, reqs[0], ticks) }()
		// A tick is taken once the poll before it has printed, and the
		// poll it starts sees what was set before it was sent: set, tick,
		// tick makes sure a poll saw the state.
		step := func(items ...string) {
			setRevisions(items...)
			ticks <- time.Now()
			ticks <- time.Now()
		}
		step(rev("hello-00001", 1)) // as at the start: nothing printed again
		step(rev("hello-00001", 1), rev("hello-00002", 0))
		step(rev("hello-00001", 0), rev("hello-00002", 1))
		step(rev("hello-00002", 1))
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("watch ended with %v", err)
		}
		// A wider cell widens its column from the row it comes in, as
		// kubectl's rows do.
		want := `
NAME          FUNCTION   TRAFFIC   READY   DESIRED   ACTUAL   AGE   REASON   GC
hello-00001   hello      90%       True    1         1        2h    -        -
hello-00002   hello      10% #canary   True    0         0        2h    -        -
hello-00001   hello      90%           True    0         0        2h    -        -
hello-00002   hello      10% #canary   True    1         1        2h    -        -
hello-00001   hello      90%           True    0         0        2h    -        -
`
		if events {
			want = `
EVENT      NAME          FUNCTION   TRAFFIC   READY   DESIRED   ACTUAL   AGE   REASON   GC
ADDED      hello-00001   hello      90%       True    1         1        2h    -        -
ADDED      hello-00002   hello      10% #canary   True    0         0        2h    -        -
MODIFIED   hello-00001   hello      90%           True    0         0        2h    -        -
MODIFIED   hello-00002   hello      10% #canary   True    1         1        2h    -        -
DELETED    hello-00001   hello      90%           True    0         0        2h    -        -
`
		}
		if diff := cmp.Diff(strings.TrimPrefix(want, "\n"), out.String()); diff != "" {
			t.Errorf("--output-watch-events=%v: output (-want +got):\n%s", events, diff)
		}
	}

	// Nothing there at first, then a revision: -o name prints it as it
	// comes.
	setRevisions()
	o := &getOptions{namespace: "default", output: "name"}
	o.complete()
	reqs, _ := parseGetArgs([]string{"revisions"})
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan time.Time)
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- watchGet(ctx, &out, &errOut, c, o, reqs[0], ticks) }()
	ticks <- time.Now() // the first poll found nothing
	setRevisions(rev("hello-00001", 0))
	ticks <- time.Now()
	ticks <- time.Now()
	cancel()
	if err := <-done; err != nil || out.String() != "revision.wake.dev/hello-00001\n" {
		t.Errorf("-w -o name: %q, %v", out.String(), err)
	}
}

func TestGCColumn(t *testing.T) {
	now := time.Now()
	tests := []struct{ name, v, want string }{
		{"no sweep yet", "", "-"},
		{"active", "kept: traffic", "-"},
		{"with instances", "kept: instances", "-"},
		{"kept by min", "kept: min-non-active-revisions", "kept (min)"},
		{"no-gc", "kept: no-gc", "never"},
		{"disabled", "kept: retain settings disabled", "never"},
		{"due", "next sweep", "next sweep"},
		{"past", now.Add(-time.Minute).UTC().Format(time.RFC3339), "next sweep"},
		{"later", now.Add(47*time.Hour + 30*time.Minute).UTC().Format(time.RFC3339), "in 47h"},
	}
	for _, tt := range tests {
		if got := gcColumn(tt.v, now); got != tt.want {
			t.Errorf("%s: gcColumn(%q) = %q, want %q", tt.name, tt.v, got, tt.want)
		}
	}
}
