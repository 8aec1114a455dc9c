package controlplane_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	act "github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/controlplane/boltstore"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
)

// events records, in order, what the control plane asked of the others.
type events struct {
	mu  sync.Mutex
	log []string
	// outcomes are what the fake activator reports a revision served.
	outcomes map[string]act.Outcomes
}

func (e *events) setOutcomes(rev string, o act.Outcomes) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.outcomes == nil {
		e.outcomes = map[string]act.Outcomes{}
	}
	e.outcomes[rev] = o
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.log = append(e.log, s)
	e.mu.Unlock()
}

func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.log
	e.log = nil
	return out
}

type fakeRuntime struct{ *events }

func (f fakeRuntime) Deploy(_ context.Context, rev *api.Revision) error {
	f.add("deploy " + rev.Name)
	return nil
}
func (f fakeRuntime) Scale(context.Context, api.RevisionKey, int) error { return nil }
func (f fakeRuntime) Remove(_ context.Context, k api.RevisionKey) error {
	f.add("remove " + k.Name)
	return nil
}

type fakeActivator struct{ *events }

func (f fakeActivator) Register(rev *api.Revision)                 { f.add("register " + rev.Name) }
func (f fakeActivator) Unregister(k api.RevisionKey)               { f.add("unregister " + k.Name) }
func (f fakeActivator) Update(api.RevisionKey, runtime.State)      {}
func (f fakeActivator) ColdStarts(api.RevisionKey) []act.ColdStart { return nil }
func (f fakeActivator) Outcomes(k api.RevisionKey) act.Outcomes {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.outcomes[k.Name]
}

type fakeAutoscaler struct{ *events }

func (f fakeAutoscaler) Upsert(rev *api.Revision, o autoscaler.UpsertOptions) {
	if o.Initial {
		f.add("upsert " + rev.Name + " initial")
	} else {
		f.add("upsert " + rev.Name)
	}
}
func (f fakeAutoscaler) Forget(k api.RevisionKey) { f.add("forget " + k.Name) }
func (f fakeAutoscaler) Status(api.RevisionKey, bool) (autoscaler.Status, bool) {
	return autoscaler.Status{Desired: 1}, true
}
func (f fakeAutoscaler) SetReachable(func(api.RevisionKey) bool) {}
func (f fakeAutoscaler) Wake(api.RevisionKey)                    {}
func (f fakeAutoscaler) Spec(rev *api.Revision) autoscaler.Spec {
	return autoscaler.DefaultConfig().Spec(rev.Scaling())
}

func openStore(t testing.TB, dir string) *boltstore.Store {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(dir, "wake.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func newPlane(t testing.TB, dir string) (*controlplane.ControlPlane, *events, *router.Router) {
	t.Helper()
	return newPlaneOn(t, openStore(t, dir))
}

func newPlaneOn(t testing.TB, store controlplane.Store) (*controlplane.ControlPlane, *events, *router.Router) {
	t.Helper()
	ev := &events{}
	rt := router.New(router.Options{Next: nil})
	cp := controlplane.New(controlplane.Options{
		Store: store, Runtime: fakeRuntime{ev}, Router: rt, Activator: fakeActivator{ev}, Autoscaler: fakeAutoscaler{ev},
		URLPort: 8080, LocalCommands: true,
	})
	if err := cp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cp, ev, rt
}

func apply(t *testing.T, cp *controlplane.ControlPlane, manifest string) ([]*api.Function, error) {
	t.Helper()
	docs, err := api.Decode("fn.yaml", []byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	applied, err := cp.Apply(context.Background(), docs, controlplane.ApplyOptions{BaseDir: "/srv"})
	if err != nil {
		return nil, err
	}
	return applied.Functions, nil
}

const v1 = `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - command: ["./hello"]
          env: [{name: GREETING, value: hi}]
`

const v2 = `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - command: ["./hello"]
          env: [{name: GREETING, value: hola}]
  traffic:
    - revisionName: hello-00001
      percent: 90
    - latestRevision: true
      percent: 10
      tag: canary
`

func ready(cp *controlplane.ControlPlane, rev string) {
	cp.Update(api.RevisionKey{Namespace: "default", Name: rev},
		runtime.State{Desired: 1, Ready: []runtime.Endpoint{{ID: rev + "-a", Addr: "127.0.0.1:1"}}})
}

func resolve(rt *router.Router, host string) string {
	_, rev, ok := rt.Resolve(host)
	if !ok {
		return ""
	}
	return rev.Name
}

func TestApplyCreatesRevisionsAndRoutes(t *testing.T) {
	cp, ev, rt := newPlane(t, t.TempDir())
	fns, err := apply(t, cp, v1)
	if err != nil {
		t.Fatal(err)
	}
	// The activator knows the revision before any route points at it.
	if diff := cmp.Diff([]string{"register hello-00001", "deploy hello-00001", "upsert hello-00001 initial"}, ev.take()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	st := fns[0].Status
	if st.URL != "http://hello.default.localhost:8080" || st.LatestCreatedRevisionName != "hello-00001" {
		t.Errorf("status %+v", st)
	}
	if c := fns[0].Spec.Template.Spec.Containers[0]; c.Command[0] != "/srv/hello" {
		t.Errorf("command %q, want resolved against the manifest's directory", c.Command[0])
	}
	if got := resolve(rt, "hello.default.localhost"); got != "hello-00001" {
		t.Errorf("before it is ready the host goes to %q, want the revision being deployed", got)
	}

	ready(cp, "hello-00001")
	if fn, _ := cp.Function(api.FunctionKey{Namespace: "default", Name: "hello"}); fn.Status.LatestReadyRevisionName != "hello-00001" {
		t.Errorf("latest ready %q after the runtime reported an instance ready", fn.Status.LatestReadyRevisionName)
	}

	// Re-applying the same manifest changes nothing.
	if _, err := apply(t, cp, v1); err != nil {
		t.Fatal(err)
	}
	if got := ev.take(); len(got) != 0 {
		t.Errorf("applying the same manifest again did %v", got)
	}

	// A new template: a new revision; until it is ready, @latest stays.
	if _, err := apply(t, cp, v2); err != nil {
		t.Fatal(err)
	}
	if got := resolve(rt, "canary-hello.default.localhost"); got != "hello-00001" {
		t.Errorf("canary host before hello-00002 is ready goes to %q, want the latest ready hello-00001", got)
	}
	ready(cp, "hello-00002")
	if got := resolve(rt, "canary-hello.default.localhost"); got != "hello-00002" {
		t.Errorf("canary host goes to %q, want hello-00002", got)
	}
	revs := cp.Revisions("default", "hello")
	if len(revs) != 2 || revs[1].Status.ActualReplicas != 1 || revs[1].Status.DesiredReplicas != 1 {
		t.Errorf("revisions %+v", revs)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	cp, _, _ := newPlaneOn(t, store)
	apply(t, cp, v1)
	ready(cp, "hello-00001")
	apply(t, cp, v2)
	ready(cp, "hello-00002")
	before, _ := cp.Function(api.FunctionKey{Namespace: "default", Name: "hello"})

	// What a new wake serve finds on the same state directory.
	store.Close()
	cp2, ev, rt := newPlane(t, dir)
	after, err := cp2.Function(api.FunctionKey{Namespace: "default", Name: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before.Status.Traffic, after.Status.Traffic); diff != "" {
		t.Errorf("traffic after restart (-before +after):\n%s", diff)
	}
	if got := resolve(rt, "canary-hello.default.localhost"); got != "hello-00002" {
		t.Errorf("canary host after restart goes to %q", got)
	}
	got := ev.take()
	for _, want := range []string{"upsert hello-00001", "upsert hello-00002"} {
		if !contains(got, want) {
			t.Errorf("after restart %q was not done (cold, not initial scale): %v", want, got)
		}
	}
}

func contains(s []string, want string) bool {
	for _, x := range s {
		if x == want {
			return true
		}
	}
	return false
}

func TestTrafficToAMissingRevisionNamesItsLine(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	_, err := apply(t, cp, strings.Replace(v2, "hello-00001", "hello-00042", 1))
	var problems api.Errors
	if !errors.As(err, &problems) || len(problems) != 1 {
		t.Fatalf("got %v, want one problem", err)
	}
	if got, want := problems[0].String(), "fn.yaml:12: spec.traffic[0].revisionName: hello-00042 is not a revision of hello: it has hello-00001"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if fns := cp.Functions(""); len(fns) != 0 {
		t.Errorf("a rejected apply stored %d functions", len(fns))
	}
}

// TestApplyRejectsTriggers: a manifest with a trigger is refused as a
// whole, with the trigger's line, by a control plane that runs no
// triggers; it is never silently dropped.
func TestApplyRejectsTriggers(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	_, err := apply(t, cp, v1+`---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: ping}
spec:
  schedule: "*/1 * * * *"
  sink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: hello}}
`)
	if got, want := fmt.Sprint(err), "fn.yaml:13: kind: this server runs no triggers"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if fns := cp.Functions(""); len(fns) != 0 {
		t.Errorf("a rejected apply stored %d functions", len(fns))
	}
}

func TestSetTraffic(t *testing.T) {
	cp, _, rt := newPlane(t, t.TempDir())
	apply(t, cp, v1)
	ready(cp, "hello-00001")
	apply(t, cp, v2)
	ready(cp, "hello-00002")
	key := api.FunctionKey{Namespace: "default", Name: "hello"}
	hundred := int64(100)
	if _, err := cp.SetTraffic(context.Background(), key, []api.TrafficTarget{{RevisionName: "hello-00001", Percent: &hundred}}); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if got := resolve(rt, "hello.default.localhost"); got != "hello-00001" {
			t.Fatalf("after moving all traffic to hello-00001, a request went to %q", got)
		}
	}
	ninety := int64(90)
	_, err := cp.SetTraffic(context.Background(), key, []api.TrafficTarget{{RevisionName: "hello-00001", Percent: &ninety}})
	if err == nil || !strings.Contains(err.Error(), "spec.traffic: must sum to 100, got 90") {
		t.Errorf("a split summing to 90: %v", err)
	}
	if revs := cp.Revisions("default", "hello"); len(revs) != 2 {
		t.Errorf("changing traffic created a revision: %d revisions", len(revs))
	}
}

func TestDeleteFunction(t *testing.T) {
	cp, ev, rt := newPlane(t, t.TempDir())
	apply(t, cp, v1)
	ev.take()
	if err := cp.DeleteFunction(context.Background(), api.FunctionKey{Namespace: "default", Name: "hello"}); err != nil {
		t.Fatal(err)
	}
	if got := resolve(rt, "hello.default.localhost"); got != "" {
		t.Errorf("deleted function's host still goes to %q", got)
	}
	// Drained by the runtime (through the activator) before the activator forgets it.
	if diff := cmp.Diff([]string{"forget hello-00001", "remove hello-00001", "unregister hello-00001"}, ev.take()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	err := cp.DeleteFunction(context.Background(), api.FunctionKey{Namespace: "default", Name: "hello"})
	if !errors.Is(err, controlplane.ErrNotFound) {
		t.Errorf("deleting again: %v, want ErrNotFound", err)
	}
}

func TestFailureIsTheRevisionsReadyCondition(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	apply(t, cp, v1)
	key := api.RevisionKey{Namespace: "default", Name: "hello-00001"}
	cp.Update(key, runtime.State{Desired: 1, Failure: &runtime.Failure{Reason: "ExecFailed", Message: `"/srv/hello": no such file`}})
	rev, _ := cp.Revision(key, false)
	c := api.GetCondition(rev.Status.Conditions, api.ConditionReady)
	if c == nil || c.Status != api.ConditionFalse || c.Reason != "ExecFailed" {
		t.Errorf("Ready = %+v, want False ExecFailed", c)
	}
	fn, _ := cp.Function(api.FunctionKey{Namespace: "default", Name: "hello"})
	if fc := api.GetCondition(fn.Status.Conditions, api.ConditionReady); fc == nil || !strings.Contains(fc.Message, "hello-00001 failed") {
		t.Errorf("function Ready = %+v, want it to name the failed revision", fc)
	}
}

func TestBoltStoreIsLockedWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wake.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := boltstore.Open(path, boltstore.Options{}); !errors.Is(err, boltstore.ErrLocked) {
		t.Errorf("second open: %v, want ErrLocked", err)
	}
}

// TestOnChangeTellsOfInstancesAndRoutes: a watcher hears of a revision's
// instances changing and of a new split, without polling.
func TestOnChangeTellsOfInstancesAndRoutes(t *testing.T) {
	ev := &events{}
	var changes atomic.Int64
	cp := controlplane.New(controlplane.Options{
		Store: openStore(t, t.TempDir()), Runtime: fakeRuntime{ev}, Router: router.New(router.Options{}),
		Activator: fakeActivator{ev}, Autoscaler: fakeAutoscaler{ev}, LocalCommands: true,
		OnChange: func() { changes.Add(1) },
	})
	if err := cp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	apply(t, cp, v1)
	before := changes.Load()
	ready(cp, "hello-00001")
	if changes.Load() == before {
		t.Error("an instance became ready and OnChange was not called")
	}
	before = changes.Load()
	key := api.RevisionKey{Namespace: "default", Name: "hello-00001"}
	cp.Update(key, runtime.State{Desired: 2, Ready: []runtime.Endpoint{{ID: "a", Addr: "127.0.0.1:1"}, {ID: "b", Addr: "127.0.0.1:2"}}})
	if changes.Load() == before {
		t.Error("a second instance became ready (readiness unchanged) and OnChange was not called")
	}
	apply(t, cp, v2)
	before = changes.Load()
	hundred := int64(100)
	if _, err := cp.SetTraffic(context.Background(), api.FunctionKey{Namespace: "default", Name: "hello"},
		[]api.TrafficTarget{{RevisionName: "hello-00001", Percent: &hundred}}); err != nil {
		t.Fatal(err)
	}
	if changes.Load() == before {
		t.Error("the split changed and OnChange was not called")
	}
}
