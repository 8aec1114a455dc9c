package controlplane_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
)

func churnManifest(i int, traffic string) string {
	return fmt.Sprintf(`apiVersion: wake.dev/v1
kind: Function
metadata:
  name: churn
spec:
  template:
    spec:
      containers:
        - command: ["./churn"]
          env: [{name: V, value: "%d"}]
%s`, i, traffic)
}

func newGCPlane(t *testing.T, store controlplane.Store, clk *clocktesting.FakePassiveClock, gc api.RevisionGC) (*controlplane.ControlPlane, *events, *router.Router) {
	t.Helper()
	ev := &events{}
	rt := router.New(router.Options{})
	cp := controlplane.New(controlplane.Options{
		Store: store, Runtime: fakeRuntime{ev}, Router: rt, Activator: fakeActivator{ev}, Autoscaler: fakeAutoscaler{ev},
		LocalCommands: true, Clock: clk, RevisionGC: &gc,
	})
	if err := cp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cp, ev, rt
}

func rk(name string) api.RevisionKey { return api.RevisionKey{Namespace: "default", Name: name} }

// Revisions that lose their route are recorded as reserve, retired at the
// next sweep once at zero (the activator and autoscaler forget them),
// brought back when a route names them again, collected when Knative's
// rules say, and stay retired across a restart.
func TestSweepRetiresRevivesAndCollects(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(t0)
	gc := api.RevisionGC{RetainSinceCreateTime: 48 * time.Hour, RetainSinceLastActiveTime: 15 * time.Hour, MinNonActiveRevisions: 1, MaxNonActiveRevisions: 1000}
	cp, ev, rt := newGCPlane(t, store, clk, gc)
	for i := 1; i <= 4; i++ {
		if _, err := apply(t, cp, churnManifest(i, "")); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("churn-%05d", i)
		ready(cp, name)
		cp.Update(rk(name), runtime.State{}) // scaled to zero
	}
	ev.take()

	cp.SweepRevisions(context.Background())
	if got := ev.take(); len(got) != 0 {
		t.Fatalf("the first sweep only records routing states, did %v", got)
	}
	revs := cp.Revisions("default", "churn")
	for _, r := range revs {
		want := controlplane.RoutingStateReserve
		if r.Name == "churn-00004" {
			want = controlplane.RoutingStateActive
		}
		if got := r.Labels[controlplane.LabelRoutingState]; got != want {
			t.Errorf("%s routing state %q, want %q", r.Name, got, want)
		}
		if r.Annotations[controlplane.AnnotationRoutingStateModified] != t0.Format(time.RFC3339) {
			t.Errorf("%s routingStateModified %q", r.Name, r.Annotations[controlplane.AnnotationRoutingStateModified])
		}
	}

	clk.SetTime(t0.Add(time.Minute))
	cp.SweepRevisions(context.Background())
	want := []string{"forget churn-00001", "unregister churn-00001", "forget churn-00002", "unregister churn-00002",
		"forget churn-00003", "unregister churn-00003"}
	if d := cmp.Diff(want, ev.take()); d != "" {
		t.Fatalf("second sweep retires the unrouted revisions at zero (-want +got)\n%s", d)
	}

	// A tag names churn-00002 again: it serves before the route is out.
	if _, err := apply(t, cp, churnManifest(4, "  traffic:\n    - latestRevision: true\n      percent: 100\n    - revisionName: churn-00002\n      tag: old\n")); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"register churn-00002", "deploy churn-00002", "upsert churn-00002"}, ev.take()); d != "" {
		t.Fatalf("reviving a retired revision (-want +got)\n%s", d)
	}
	if got := resolve(rt, "old-churn.default.localhost"); got != "churn-00002" {
		t.Fatalf("the tag's host goes to %q", got)
	}

	// Two days on: churn-00001 is stale and goes; churn-00003 is stale
	// too but is the one non-active revision min keeps.
	clk.SetTime(t0.Add(49 * time.Hour))
	cp.SweepRevisions(context.Background())
	if d := cmp.Diff([]string{"forget churn-00001", "remove churn-00001", "unregister churn-00001"}, ev.take()); d != "" {
		t.Fatalf("collecting (-want +got)\n%s", d)
	}
	gcOf := map[string]string{}
	for _, r := range cp.Revisions("default", "churn") {
		gcOf[r.Name] = r.Annotations[controlplane.AnnotationGC]
	}
	wantGC := map[string]string{"churn-00002": "kept: tag", "churn-00003": "kept: min-non-active-revisions", "churn-00004": "kept: traffic"}
	if d := cmp.Diff(wantGC, gcOf); d != "" {
		t.Errorf("what get revisions says (-want +got)\n%s", d)
	}
	var stored []string
	store.View(func(tx controlplane.Tx) error {
		rs, err := tx.Revisions()
		for _, r := range rs {
			stored = append(stored, r.Name)
		}
		return err
	})
	if d := cmp.Diff([]string{"churn-00002", "churn-00003", "churn-00004"}, stored); d != "" {
		t.Errorf("the store after collecting (-want +got)\n%s", d)
	}

	// A restart brings back what is routed, and leaves churn-00003 retired.
	store.Close()
	_, ev2, _ := newGCPlane(t, openStore(t, dir), clk, gc)
	got := ev2.take()
	for _, w := range []string{"deploy churn-00002", "deploy churn-00004"} {
		if !contains(got, w) {
			t.Errorf("after restart %q was not done: %v", w, got)
		}
	}
	if contains(got, "deploy churn-00003") || contains(got, "register churn-00003") {
		t.Errorf("a retired revision was brought back at restart: %v", got)
	}
}

// A revision with instances is never retired nor collected, routed or not.
func TestSweepKeepsRevisionsWithInstances(t *testing.T) {
	store := openStore(t, t.TempDir())
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(t0)
	gc := api.RevisionGC{RetainSinceCreateTime: 0, RetainSinceLastActiveTime: 0, MinNonActiveRevisions: 0, MaxNonActiveRevisions: 0}
	cp, ev, _ := newGCPlane(t, store, clk, gc)
	for i := 1; i <= 2; i++ {
		if _, err := apply(t, cp, churnManifest(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	ready(cp, "churn-00002")
	cp.Update(rk("churn-00002"), runtime.State{})
	ready(cp, "churn-00001") // unrouted, but one instance still up
	ev.take()
	for i := range 3 {
		clk.SetTime(t0.Add(time.Duration(i+1) * time.Hour))
		cp.SweepRevisions(context.Background())
	}
	if got := ev.take(); len(got) != 0 {
		t.Fatalf("a revision with an instance was touched: %v", got)
	}
	cp.Update(rk("churn-00001"), runtime.State{})
	clk.SetTime(t0.Add(5 * time.Hour))
	cp.SweepRevisions(context.Background())
	if d := cmp.Diff([]string{"forget churn-00001", "remove churn-00001", "unregister churn-00001"}, ev.take()); d != "" {
		t.Fatalf("at zero, with every setting at 0, it is collected (-want +got)\n%s", d)
	}
}

// retiringRuntime is a runtime that can retire revisions, or refuses to
// (an instance came meanwhile).
type retiringRuntime struct {
	fakeRuntime
	refuse bool
}

func (r retiringRuntime) Retire(k api.RevisionKey) bool {
	r.add("retire " + k.Name)
	return !r.refuse
}

// The runtime is told to retire too; one that refuses keeps the revision
// managed: the activator and autoscaler take it back.
func TestSweepRetiresInTheRuntime(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprint("refuse=", refuse), func(t *testing.T) {
			t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			clk := clocktesting.NewFakePassiveClock(t0)
			ev := &events{}
			cp := controlplane.New(controlplane.Options{
				Store: openStore(t, t.TempDir()), Runtime: retiringRuntime{fakeRuntime{ev}, refuse}, Router: router.New(router.Options{}),
				Activator: fakeActivator{ev}, Autoscaler: fakeAutoscaler{ev}, LocalCommands: true, Clock: clk,
			})
			if err := cp.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 2; i++ {
				if _, err := apply(t, cp, churnManifest(i, "")); err != nil {
					t.Fatal(err)
				}
				ready(cp, fmt.Sprintf("churn-%05d", i))
			}
			cp.Update(rk("churn-00001"), runtime.State{})
			cp.SweepRevisions(context.Background())
			ev.take()
			cp.SweepRevisions(context.Background())
			want := []string{"forget churn-00001", "unregister churn-00001", "retire churn-00001"}
			if refuse {
				want = append(want, "register churn-00001", "deploy churn-00001", "upsert churn-00001")
			}
			if d := cmp.Diff(want, ev.take()); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}
