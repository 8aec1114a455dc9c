package main

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
)

func TestDescribeColdStarts(t *testing.T) {
	ms := func(f float64) metav1.Duration {
		return metav1.Duration{Duration: time.Duration(f * float64(time.Millisecond))}
	}
	r := &api.Revision{}
	r.Name, r.Namespace = "hello-00001", "default"
	r.Status.ColdStarts = []api.ColdStart{{
		Time: metav1.NewMicroTime(time.Now()), Instance: "hello-00001-abcde",
		Queue: ms(4.25), Start: ms(301), Ready: ms(200.04), Warmup: ms(0), Total: ms(505.29),
	}}
	var out strings.Builder
	if err := describeRevision(&out, r, nil); err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(out.String(), "Cold starts")
	if !ok {
		t.Fatalf("no Cold starts section:\n%s", out.String())
	}
	rows := strings.Split(strings.TrimSpace(section), "\n")
	if len(rows) != 3 {
		t.Fatalf("want a title, a header and one row:\n%s", section)
	}
	if got, want := strings.Fields(rows[1]), []string{"TIME", "INSTANCE", "QUEUE", "START", "READY", "WARMUP", "TOTAL"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("header %q, want %q", got, want)
	}
	if got, want := strings.Join(strings.Fields(rows[2])[1:], " "), "hello-00001-abcde 4.2ms 301.0ms 200.0ms 0.0ms 505.3ms"; got != want {
		t.Errorf("row %q, want %q", got, want)
	}

	r.Status.ColdStarts = nil
	out.Reset()
	describeRevision(&out, r, nil)
	if !strings.Contains(out.String(), "No cold start recorded") {
		t.Errorf("without cold starts:\n%s", out.String())
	}
}

func TestDescribeRevisionKubectlHabits(t *testing.T) {
	r := &api.Revision{}
	r.Name, r.Namespace = "hello-00001", "default"
	r.Spec.Containers = []api.Container{{Command: []string{"python3", "app.py"}, Args: []string{"--greeting", "hi there", "it's", ""}}}
	r.Status.Conditions = []api.Condition{{Type: api.ConditionReady, Status: api.ConditionTrue}} // no reason: an empty last cell
	r.Status.Autoscaling = &api.AutoscalingStatus{Metric: "concurrency", Target: 70, Settings: &api.AutoscalingSettings{
		TargetPerInstance: 100, MinScale: 1, ScaleToZero: true, ScaleToZeroAfter: metav1.Duration{Duration: time.Minute},
	}}
	var out strings.Builder
	w := &trimWriter{w: &out}
	if err := describeRevision(w, r, nil); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	got := out.String()
	for _, want := range []string{
		"Command:      python3 app.py --greeting 'hi there' 'it'\\''s' ''\n",
		"  To zero:   never (min-scale 1)\n",
		"Ready:        True\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
	for _, line := range strings.Split(got, "\n") {
		if strings.TrimRight(line, " \t") != line {
			t.Errorf("trailing spaces: %q", line)
		}
	}
}

func TestToZero(t *testing.T) {
	s := func(min, effective int32, toZero bool) *api.AutoscalingSettings {
		return &api.AutoscalingSettings{MinScale: min, EffectiveMinScale: effective, ScaleToZero: toZero,
			ScaleToZeroAfter: metav1.Duration{Duration: 90 * time.Second}}
	}
	for _, tc := range []struct {
		s    *api.AutoscalingSettings
		want string
	}{
		{s(0, 0, true), "after 1m30s idle"},
		{s(1, 1, true), "never (min-scale 1)"},
		{s(3, 0, true), "never (min-scale 3)"},
		{s(0, 2, true), "not while the min-scale schedule holds 2; else after 1m30s idle"},
		{s(0, 0, false), "disabled (enable-scale-to-zero is false)"},
	} {
		if got := toZero(tc.s); got != tc.want {
			t.Errorf("%+v: %q, want %q", *tc.s, got, tc.want)
		}
	}
}

func TestShellJoin(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"./hello"}, "./hello"},
		{[]string{"python3", "app.py", "--port=8080"}, "python3 app.py --port=8080"},
		{[]string{"sh", "-c", "echo $PORT; sleep 1"}, "sh -c 'echo $PORT; sleep 1'"},
		{[]string{"echo", "it's", "", "a*b", "~"}, `echo 'it'\''s' '' 'a*b' '~'`},
	} {
		if got := shellJoin(tc.words); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.words, got, tc.want)
		}
	}
}

func TestDescribeHasNoTrailingSpaces(t *testing.T) {
	_, server := newFakeServing(t)
	for _, args := range [][]string{
		{"describe", "function", "hello"},
		{"describe", "function/hello"},
		{"describe", "rev/hello-00001"},
		{"describe", "trigger", "nightly"},
	} {
		out, stderr, err := wakeSplit(t, server, args...)
		if err != nil || !strings.HasPrefix(out, "Name:") {
			t.Fatalf("wake %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.TrimRight(line, " \t") != line {
				t.Errorf("wake %s: trailing spaces: %q", strings.Join(args, " "), line)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"describe", "hello"}, `"hello": name a type and an object (TYPE NAME or TYPE/NAME)`},
		{[]string{"describe", "function/"}, `"function/": want a name`},
		{[]string{"describe", "widget/x"}, `unknown resource type "widget"`},
	} {
		if _, _, err := wakeSplit(t, server, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("wake %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
