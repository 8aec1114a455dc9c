package console

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// Conditions as the control plane writes them.
var (
	readyTrue   = api.Condition{Type: api.ConditionReady, Status: api.ConditionTrue}
	deploying   = api.Condition{Type: api.ConditionReady, Status: api.ConditionUnknown, Reason: "Deploying", Message: "waiting for the first instance to become ready"}
	crashLoop   = api.Condition{Type: api.ConditionReady, Status: api.ConditionFalse, Reason: "CrashLoopBackOff", Message: "exited with status 3"}
	neverListen = api.Condition{Type: api.ConditionReady, Status: api.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "no instance ready in 2m0s"}
	unhealthy   = api.Condition{Type: controlplane.ConditionContainerHealthy, Status: api.ConditionFalse, Reason: "OOMKilled", Message: "killed at its memory limit"}
	rejected    = api.Condition{Type: api.ConditionReady, Status: api.ConditionFalse, Reason: controlplane.ReasonRejected, Message: "generation 3 was not applied"}
)

func rev(name string, conds ...api.Condition) *api.Revision {
	return &api.Revision{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name,
		Labels: map[string]string{api.LabelFunction: "hello"}}, Status: api.RevisionStatus{Conditions: conds}}
}

func share(name string, percent int64, tag string) api.TrafficTarget {
	return api.TrafficTarget{RevisionName: name, Percent: &percent, Tag: tag}
}

// function is hello with its Ready condition as the control plane
// derives it (its latest created revision's) and the split as routed.
func function(ready api.Condition, traffic ...api.TrafficTarget) *api.Function {
	return &api.Function{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello"},
		Status: api.FunctionStatus{Conditions: []api.Condition{ready}, Traffic: traffic}}
}

func TestFunctionStateIsWhatARequestMeets(t *testing.T) {
	tests := []struct {
		name string
		fn   *api.Function
		revs []*api.Revision
		want stateView
	}{{
		name: "crash-looping, with all the traffic",
		fn:   function(crashLoop, share("hello-00001", 100, "")),
		revs: []*api.Revision{rev("hello-00001", crashLoop)},
		want: stateView{Ready: "False", Reason: "CrashLoopBackOff", Message: "exited with status 3", Revision: "hello-00001"},
	}, {
		name: "never listening, past its progress deadline",
		fn:   function(neverListen, share("hello-00001", 100, "")),
		revs: []*api.Revision{rev("hello-00001", neverListen)},
		want: stateView{Ready: "False", Reason: "ProgressDeadlineExceeded", Message: "no instance ready in 2m0s", Revision: "hello-00001"},
	}, {
		name: "never listening, before its deadline: deploying",
		fn:   function(deploying, share("hello-00001", 100, "")),
		revs: []*api.Revision{rev("hello-00001", deploying)},
		want: stateView{Ready: "Unknown", Reason: "Deploying", Message: "waiting for the first instance to become ready", Revision: "hello-00001"},
	}, {
		name: "all the traffic pinned to a healthy revision, the latest crash-looping",
		fn:   function(crashLoop, share("hello-00002", 100, "")),
		revs: []*api.Revision{rev("hello-00001", readyTrue), rev("hello-00002", readyTrue), rev("hello-00003", crashLoop)},
		want: stateView{Ready: "True", Notes: []noteView{
			{Revision: "hello-00003", Ready: "False", Reason: "CrashLoopBackOff", Message: "exited with status 3"}}},
	}, {
		name: "the latest deploying, traffic on the one before",
		fn:   function(deploying, share("hello-00001", 100, "")),
		revs: []*api.Revision{rev("hello-00001", readyTrue), rev("hello-00002", deploying)},
		want: stateView{Ready: "True", Notes: []noteView{
			{Revision: "hello-00002", Ready: "Unknown", Reason: "Deploying", Message: "waiting for the first instance to become ready"}}},
	}, {
		name: "a failing revision reached only by its tag",
		fn:   function(crashLoop, share("hello-00001", 100, ""), share("hello-00002", 0, "canary")),
		revs: []*api.Revision{rev("hello-00001", readyTrue), rev("hello-00002", crashLoop)},
		want: stateView{Ready: "True", Notes: []noteView{
			{Revision: "hello-00002", Tags: []string{"canary"}, Ready: "False", Reason: "CrashLoopBackOff", Message: "exited with status 3"}}},
	}, {
		name: "an old failure without traffic is history",
		fn:   function(readyTrue, share("hello-00002", 100, "")),
		revs: []*api.Revision{rev("hello-00001", crashLoop), rev("hello-00002", readyTrue)},
		want: stateView{Ready: "True"},
	}, {
		name: "a canary failing at 10%",
		fn:   function(crashLoop, share("hello-00001", 90, ""), share("hello-00002", 10, "")),
		revs: []*api.Revision{rev("hello-00001", readyTrue), rev("hello-00002", crashLoop)},
		want: stateView{Ready: "False", Reason: "CrashLoopBackOff", Message: "exited with status 3", Revision: "hello-00002"},
	}, {
		name: "a revision that served, now killed at its limit (Ready stays True)",
		fn:   function(readyTrue, share("hello-00001", 100, "")),
		revs: []*api.Revision{rev("hello-00001", readyTrue, unhealthy)},
		want: stateView{Ready: "False", Reason: "OOMKilled", Message: "killed at its memory limit", Revision: "hello-00001"},
	}, {
		name: "two failing with traffic: the larger share",
		fn:   function(crashLoop, share("hello-00001", 70, ""), share("hello-00002", 30, "")),
		revs: []*api.Revision{rev("hello-00001", readyTrue, unhealthy), rev("hello-00002", crashLoop)},
		want: stateView{Ready: "False", Reason: "OOMKilled", Message: "killed at its memory limit", Revision: "hello-00001"},
	}, {
		name: "a rejected spec, the old one serving",
		fn:   function(rejected, share("hello-00001", 100, "")),
		revs: []*api.Revision{rev("hello-00001", readyTrue)},
		want: stateView{Ready: "False", Reason: controlplane.ReasonRejected, Message: "generation 3 was not applied"},
	}, {
		name: "no revision yet",
		fn:   function(api.Condition{Type: api.ConditionReady, Status: api.ConditionUnknown, Reason: "Deploying"}),
		want: stateView{Ready: "Unknown", Reason: "Deploying"},
	}, {
		name: "scaled to zero",
		fn:   function(readyTrue, share("hello-00001", 100, "")),
		revs: []*api.Revision{rev("hello-00001", readyTrue)},
		want: stateView{Ready: "True"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, functionState(tc.fn, tc.revs)); diff != "" {
				t.Errorf("functionState (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRevisionStateFailsWhileItsInstancesDo(t *testing.T) {
	tests := []struct {
		name  string
		conds []api.Condition
		want  [3]string
	}{
		{"ready", []api.Condition{readyTrue}, [3]string{"True", "", ""}},
		{"crash-looping before it ever served", []api.Condition{crashLoop}, [3]string{"False", "CrashLoopBackOff", "exited with status 3"}},
		{"served, now failing", []api.Condition{readyTrue, unhealthy}, [3]string{"False", "OOMKilled", "killed at its memory limit"}},
		{"healthy again", []api.Condition{readyTrue, {Type: controlplane.ConditionContainerHealthy, Status: api.ConditionTrue}}, [3]string{"True", "", ""}},
		{"no condition", nil, [3]string{"Unknown", "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got [3]string
			got[0], got[1], got[2] = revisionState(tc.conds)
			if got != tc.want {
				t.Errorf("revisionState = %q, want %q", got, tc.want)
			}
		})
	}
}

// The stream carries the state: the functions page and a function's
// page show the failing revision, and the note, as functionState says.
func TestStreamShowsTheFailingRevision(t *testing.T) {
	f := newFixture(t, token)
	f.p.mu.Lock()
	f.p.fn.Status.Conditions = []api.Condition{crashLoop}
	r2 := rev("hello-00002", crashLoop)
	r2.Status.Autoscaling = &api.AutoscalingStatus{Metric: "concurrency", Target: 70}
	f.p.revs = append(f.p.revs, r2)
	f.p.revs[0].Status.Conditions = []api.Condition{readyTrue}
	f.p.mu.Unlock()
	c := f.client()
	f.login(c)
	events := f.openStream(c, "?function=default/hello")
	ov := decode[overview](t, next(t, events, "overview"))
	got := ov.Functions[0].stateView
	want := stateView{Ready: "True", Notes: []noteView{{Revision: "hello-00002", Ready: "False", Reason: "CrashLoopBackOff", Message: "exited with status 3"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the overview's state (-want +got):\n%s", diff)
	}
	d := decode[detailView](t, next(t, events, "detail"))
	if d.Function == nil || d.Function.Ready != "True" || len(d.Function.Notes) != 1 {
		t.Errorf("the detail's function: %+v", d.Function)
	}
	for _, r := range d.Revisions {
		if r.Name == "hello-00002" && (r.Ready != "False" || r.Reason != "CrashLoopBackOff") {
			t.Errorf("hello-00002 in the detail: %+v", r)
		}
	}
}

func decode[T any](t *testing.T, e event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(e.data), &v); err != nil {
		t.Fatalf("%s event: %v\n%s", e.name, err, e.data)
	}
	return v
}

// A function whose revision with traffic waits for its first instance is
// starting, not asleep; one without traffic that does is no start of the
// function's.
func TestStartingIsOfRevisionsWithTraffic(t *testing.T) {
	f := newFixture(t, token)
	f.p.mu.Lock()
	f.p.revs[0].Status.DesiredReplicas = 1
	f.p.mu.Unlock()
	c := f.client()
	f.login(c)
	events := f.openStream(c, "")
	if ov := decode[overview](t, next(t, events, "overview")); !ov.Functions[0].Starting {
		t.Errorf("hello-00001, with all the traffic, wants 1 and has 0: the function is not starting: %+v", ov.Functions[0])
	}

	f.clock.Step(MinGap)
	f.p.mu.Lock()
	f.p.revs[0].Status.DesiredReplicas = 0
	r2 := rev("hello-00002", crashLoop)
	r2.Status.DesiredReplicas = 1
	f.p.revs = append(f.p.revs, r2)
	f.p.mu.Unlock()
	f.changes <- struct{}{}
	if ov := decode[overview](t, next(t, events, "overview")); ov.Functions[0].Starting || ov.Functions[0].Desired != 1 {
		t.Errorf("only hello-00002, without traffic, wants an instance: the function starts: %+v", ov.Functions[0])
	}
}
