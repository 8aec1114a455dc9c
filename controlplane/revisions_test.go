package controlplane

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
)

var t0 = metav1.NewTime(time.Unix(1_700_000_000, 0))

func function(greeting string, traffic ...api.TrafficTarget) *api.Function {
	fn := &api.Function{}
	fn.Name, fn.Namespace, fn.Generation = "hello", "default", 1
	fn.Spec.Template.Spec.Containers = []api.Container{{
		Command: []string{"/bin/hello"},
		Env:     []api.EnvVar{{Name: "GREETING", Value: greeting}},
	}}
	fn.Spec.Traffic = traffic
	fn.SetDefaults()
	return fn
}

func revision(name string, generation string, ready api.ConditionStatus) *api.Revision {
	r := &api.Revision{}
	r.Name, r.Namespace = name, "default"
	r.Labels = map[string]string{api.LabelFunction: "hello", api.LabelGeneration: generation}
	r.Status.Conditions = []api.Condition{{Type: api.ConditionReady, Status: ready}}
	return r
}

func pct(n int64) *int64 { return &n }

func latestTarget(p int64, tag string) api.TrafficTarget {
	yes := true
	return api.TrafficTarget{LatestRevision: &yes, Percent: pct(p), Tag: tag}
}

func TestPlanRevision(t *testing.T) {
	v1 := function("hi")
	existing := []*api.Revision{revision("hello-00001", "1", api.ConditionTrue)}
	tests := []struct {
		name    string
		prev    *api.Function
		next    *api.Function
		revs    []*api.Revision
		owners  map[string]string
		want    string // name of the created revision, "" for none
		wantErr bool
	}{
		{name: "first apply creates 00001", prev: nil, next: function("hi"), want: "hello-00001"},
		{name: "same template creates none", prev: v1, next: function("hi"), revs: existing},
		{name: "traffic alone creates none", prev: v1, next: function("hi", latestTarget(100, "now")), revs: existing},
		{name: "a changed template creates the next number", prev: v1, next: function("hola"), revs: existing, want: "hello-00002"},
		{name: "numbers continue after the highest", prev: v1, next: function("hola"),
			revs: []*api.Revision{revision("hello-00001", "1", ""), revision("hello-00007", "2", ""), revision("hello-custom", "3", "")},
			want: "hello-00008"},
		{name: "an explicit name is used", prev: v1, revs: existing, want: "hello-blue",
			next: func() *api.Function { f := function("hola"); f.Spec.Template.Name = "hello-blue"; return f }()},
		{name: "an explicit name reused with another template is refused", prev: v1, wantErr: true,
			revs: []*api.Revision{func() *api.Revision {
				r := revision("hello-blue", "1", api.ConditionTrue)
				r.Spec = function("hi").Spec.Template.Spec
				return r
			}()},
			next: func() *api.Function { f := function("hola"); f.Spec.Template.Name = "hello-blue"; return f }()},
		{name: "an explicit name owned by another function is refused", prev: v1, wantErr: true,
			owners: map[string]string{"hello-blue": "hello-blue-fn"},
			next:   func() *api.Function { f := function("hola"); f.Spec.Template.Name = "hello-blue"; return f }()},
		{name: "a generated name another function owns is skipped", prev: v1, revs: existing, want: "hello-00003",
			owners: map[string]string{"hello-00001": "hello", "hello-00002": "other"}, next: function("hola")},
		{name: "an explicit name reused with the same template creates none", prev: v1,
			revs: []*api.Revision{func() *api.Revision {
				r := revision("hello-blue", "1", api.ConditionTrue)
				r.Spec = function("hola").Spec.Template.Spec
				return r
			}()},
			next: func() *api.Function { f := function("hola"); f.Spec.Template.Name = "hello-blue"; return f }()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			change, err := planRevision(templateChanged(tc.prev, tc.next), tc.next, tc.revs, tc.owners, initialScale, t0)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			got := ""
			if change.created != nil {
				got = change.created.Name
			}
			if got != tc.want {
				t.Errorf("created %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCreatedRevisionCarriesTheTemplate(t *testing.T) {
	fn := function("hi")
	fn.Spec.Template.Annotations = map[string]string{api.AnnotationWindow: "10s"}
	fn.Spec.Template.Labels = map[string]string{"team": "a"}
	change, err := planRevision(true, fn, nil, nil, initialScale, t0)
	if err != nil {
		t.Fatal(err)
	}
	rev := change.created
	if diff := cmp.Diff(fn.Spec.Template.Spec, rev.Spec); diff != "" {
		t.Errorf("revision spec differs from the template (-template +revision):\n%s", diff)
	}
	wantLabels := map[string]string{"team": "a", api.LabelFunction: "hello", api.LabelKnativeService: "hello", api.LabelGeneration: "1", api.LabelTemplateHash: templateHash(fn)}
	if diff := cmp.Diff(wantLabels, rev.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if c := api.GetCondition(rev.Status.Conditions, api.ConditionReady); c == nil || c.Status != api.ConditionUnknown {
		t.Errorf("a new revision's Ready is %+v, want Unknown", c)
	}
	// The revision shares nothing with the function: later edits of one
	// cannot reach the other.
	fn.Spec.Template.Spec.Containers[0].Env[0].Value = "changed"
	if rev.Spec.Containers[0].Env[0].Value != "hi" {
		t.Error("the revision shares its spec with the function")
	}
}

// initialScale is the server's, with the default config.
func initialScale(r *api.Revision) int {
	return autoscaler.DefaultConfig().Spec(r.Scaling()).InitialScale
}

func TestInitialScaleZeroIsReadyAtOnce(t *testing.T) {
	fn := function("hi")
	fn.Spec.Template.Annotations = map[string]string{api.AnnotationInitialScale: "0"}
	change, _ := planRevision(true, fn, nil, nil, initialScale, t0)
	if !api.IsReady(change.created.Status.Conditions) {
		t.Errorf("with initial-scale 0 nothing starts, so the revision is ready at once; got %+v", change.created.Status.Conditions)
	}
}

func TestResolveTraffic(t *testing.T) {
	ready1 := revision("hello-00001", "1", api.ConditionTrue)
	ready2 := revision("hello-00002", "2", api.ConditionTrue)
	deploying3 := revision("hello-00003", "3", api.ConditionUnknown)
	failed3 := revision("hello-00003", "3", api.ConditionFalse)
	tests := []struct {
		name string
		fn   *api.Function
		revs []*api.Revision
		want []string // "revision percent tag"
	}{
		{"default goes to the latest ready", function("hi"), []*api.Revision{ready1, ready2}, []string{"hello-00002 100 "}},
		{"a new revision that is not ready yet does not take latest traffic", function("hi"),
			[]*api.Revision{ready1, ready2, deploying3}, []string{"hello-00002 100 "}},
		{"a failed revision does not take latest traffic", function("hi"),
			[]*api.Revision{ready1, failed3}, []string{"hello-00001 100 "}},
		{"before any is ready, the latest created stands in", function("hi"),
			[]*api.Revision{deploying3}, []string{"hello-00003 100 "}},
		{"named and latest with a tag", function("hi", api.TrafficTarget{RevisionName: "hello-00001", Percent: pct(90)}, latestTarget(10, "canary")),
			[]*api.Revision{ready1, ready2}, []string{"hello-00001 90 ", "hello-00002 10 canary"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sortRevisions(tc.revs)
			route, _ := resolveTraffic(tc.fn, tc.revs, nil, nil)
			var got []string
			for _, tg := range route.Targets {
				got = append(got, tg.Revision+" "+strconv.Itoa(tg.Percent)+" "+tg.Tag)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrafficToAMissingRevisionIsAnError(t *testing.T) {
	fn := function("hi", api.TrafficTarget{RevisionName: "hello-00009", Percent: pct(100)})
	errs := checkTrafficRevisions(fn, []*api.Revision{revision("hello-00001", "1", api.ConditionTrue)})
	if len(errs) != 1 || errs[0].Field != "spec.traffic[0].revisionName" {
		t.Fatalf("got %v, want one error at spec.traffic[0].revisionName", errs)
	}
	if want := "hello-00009 is not a revision of hello: it has hello-00001"; errs[0].Detail != want {
		t.Errorf("detail %q, want %q", errs[0].Detail, want)
	}
}

func TestResolvePaths(t *testing.T) {
	fn := function("hi")
	c := &fn.Spec.Template.Spec.Containers[0]
	c.Command = []string{"./bin/hello"}
	resolvePaths(fn, "/srv/fns")
	if c.Command[0] != "/srv/fns/bin/hello" || c.WorkingDir != "/srv/fns" {
		t.Errorf("relative command resolved to %q in %q", c.Command[0], c.WorkingDir)
	}
	c.Command, c.WorkingDir = []string{"python3"}, "app"
	resolvePaths(fn, "/srv/fns")
	if c.Command[0] != "python3" || c.WorkingDir != "/srv/fns/app" {
		t.Errorf("bare command became %q, workingDir %q; want PATH lookup kept and dir resolved", c.Command[0], c.WorkingDir)
	}
}

func TestObserve(t *testing.T) {
	ready := runtime.State{Ready: []runtime.Endpoint{{ID: "a", Addr: "x"}}}
	crash := runtime.State{Failure: &runtime.Failure{Reason: runtime.ReasonCrashLoopBackOff, Message: "exit 1"}}
	var conds []api.Condition
	step := func(s runtime.State) (ready, healthy string, readyChanged bool) {
		next, changed := observe(conds, s, t0)
		if next != nil {
			conds = next
		}
		get := func(typ string) string {
			if c := api.GetCondition(conds, typ); c != nil {
				return string(c.Status) + " " + c.Reason
			}
			return ""
		}
		return get(api.ConditionReady), get(ConditionContainerHealthy), changed
	}
	if r, h, ch := step(crash); r != "False CrashLoopBackOff" || h != "" || !ch {
		t.Errorf("failing before ever ready: Ready %q, ContainerHealthy %q, changed %v", r, h, ch)
	}
	if r, _, ch := step(ready); r != "True " || !ch {
		t.Errorf("first ready: Ready %q changed %v", r, ch)
	}
	// Once it has served, a crash does not take its traffic away.
	if r, h, ch := step(crash); r != "True " || h != "False CrashLoopBackOff" || ch {
		t.Errorf("failing after ready: Ready %q, ContainerHealthy %q, ready changed %v", r, h, ch)
	}
	if r, h, _ := step(ready); r != "True " || h != "True " {
		t.Errorf("recovered: Ready %q, ContainerHealthy %q", r, h)
	}
	if next, _ := observe(conds, runtime.State{}, t0); next != nil {
		t.Errorf("scaled to zero changed the conditions: %+v", next)
	}
}

// TestObserveProgress: a first start taking its time shows its progress
// in Ready's message, a failure replaces it, and a revision that has
// served keeps Ready True while a later start takes its time.
func TestObserveProgress(t *testing.T) {
	waiting := runtime.State{Starting: 1, Progress: "instance a running since 10:00:00, nothing accepting connections on PORT=4000"}
	ready := runtime.State{Ready: []runtime.Endpoint{{ID: "a", Addr: "x"}}}
	deadline := runtime.State{Failure: &runtime.Failure{Reason: runtime.ReasonProgressDeadline, Message: "not ready within 2m0s"}}
	conds, _ := observe(nil, waiting, t0)
	if c := api.GetCondition(conds, api.ConditionReady); c == nil || c.Status != api.ConditionUnknown || c.Message != waiting.Progress {
		t.Fatalf("starting: %+v, want Ready Unknown with the progress", conds)
	}
	if next, _ := observe(conds, waiting, t0); next != nil {
		t.Errorf("the same progress again changed the conditions: %+v", next)
	}
	failed, changed := observe(conds, deadline, t0)
	if c := api.GetCondition(failed, api.ConditionReady); c == nil || c.Status != api.ConditionFalse || c.Reason != runtime.ReasonProgressDeadline || !changed {
		t.Errorf("at the deadline: %+v, want Ready False ProgressDeadlineExceeded", failed)
	}
	if next, _ := observe(conds, runtime.State{}, t0); api.GetCondition(next, api.ConditionReady).Message != "" {
		t.Errorf("stopped before ready: %+v, want the progress cleared", next)
	}
	served, _ := observe(nil, ready, t0)
	if next, _ := observe(served, waiting, t0); next != nil {
		t.Errorf("a start from zero of a revision that served changed its conditions: %+v", next)
	}
}

func TestReachableIn(t *testing.T) {
	fn := api.FunctionKey{Namespace: "default", Name: "hello"}
	reachable := reachableIn([]router.Route{{Function: fn, Targets: []router.Target{
		{Revision: "hello-00001", Percent: 100},
		{Revision: "hello-00002", Percent: 0, Tag: "canary"},
		{Revision: "hello-00003", Percent: 0},
	}}})
	for name, want := range map[string]bool{"hello-00001": true, "hello-00002": true, "hello-00003": false, "hello-00004": false} {
		if got := reachable(api.RevisionKey{Namespace: "default", Name: name}); got != want {
			t.Errorf("%s reachable = %v, want %v", name, got, want)
		}
	}
	if reachable(api.RevisionKey{Namespace: "other", Name: "hello-00001"}) {
		t.Error("a revision of another namespace is reachable")
	}
}

func TestObserveWarmup(t *testing.T) {
	failed := &runtime.Failure{Reason: runtime.ReasonWarmupFailed, Message: "warm-up request 3 of 10: GET /warm: status 500"}
	ep := []runtime.Endpoint{{ID: "a", Addr: "x"}}
	var conds []api.Condition
	step := func(s runtime.State) (ready, warmed string) {
		if next, _ := observe(conds, s, t0); next != nil {
			conds = next
		}
		get := func(typ string) string {
			if c := api.GetCondition(conds, typ); c != nil {
				return strings.TrimSpace(string(c.Status) + " " + c.Reason + " " + c.Message)
			}
			return ""
		}
		return get(api.ConditionReady), get(ConditionWarmedUp)
	}
	if _, w := step(runtime.State{Ready: ep}); w != "" {
		t.Errorf("warm-ups that never failed: WarmedUp %q, want none", w)
	}
	conds = nil
	// onFailure block: the instance is replaced, the revision not ready.
	r, w := step(runtime.State{Starting: 1, Failure: failed, Warmup: failed})
	if r != "False WarmupFailed "+failed.Message || w != "False WarmupFailed "+failed.Message {
		t.Errorf("blocked: Ready %q, WarmedUp %q", r, w)
	}
	// A starting report without news keeps what was.
	if _, w := step(runtime.State{Starting: 1}); w != "False WarmupFailed "+failed.Message {
		t.Errorf("starting: WarmedUp %q", w)
	}
	// onFailure serve: ready, and the failure still shows.
	if r, w := step(runtime.State{Ready: ep, Warmup: failed}); r != "True" || w != "False WarmupFailed "+failed.Message {
		t.Errorf("serving unwarmed: Ready %q, WarmedUp %q", r, w)
	}
	if r, w := step(runtime.State{Ready: ep}); r != "True" || w != "True" {
		t.Errorf("a later warm-up passed: Ready %q, WarmedUp %q", r, w)
	}
}
