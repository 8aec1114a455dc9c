package controlplane_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	act "github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/latency"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
)

// rolloutFn is a function that rolls out over 20s in steps of 10s: 1%,
// then 51%, then 100%.
func rolloutFn(greeting string) string {
	return fmt.Sprintf(`apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
  annotations:
    serving.knative.dev/rollout-duration: 20s
    wake.dev/rollout-min-step: 10s
spec:
  template:
    spec:
      containers:
        - command: ["./hello"]
          env: [{name: GREETING, value: %s}]
`, greeting)
}

type rolloutPlane struct {
	t     *testing.T
	cp    *controlplane.ControlPlane
	ev    *events
	clock *clocktesting.FakeClock
	// served counts what each revision served so far, as the activator
	// would.
	served map[string]*served
}

type served struct {
	requests, errors int64
	hist             latency.Histogram
}

func newRolloutPlane(t *testing.T, store controlplane.Store, clk *clocktesting.FakeClock) *rolloutPlane {
	ev := &events{}
	cp := controlplane.New(controlplane.Options{
		Store: store, Runtime: fakeRuntime{ev}, Router: router.New(router.Options{}), Activator: fakeActivator{ev},
		Autoscaler: fakeAutoscaler{ev}, LocalCommands: true, Clock: clk,
	})
	if err := cp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &rolloutPlane{t: t, cp: cp, ev: ev, clock: clk, served: map[string]*served{}}
}

func (p *rolloutPlane) ready(rev string) {
	p.cp.Update(api.RevisionKey{Namespace: "default", Name: rev}, runtime.State{Desired: 1, Ready: []runtime.Endpoint{{ID: rev + "-1", Addr: "127.0.0.1:1"}}})
}

func (p *rolloutPlane) serve(rev string, n, errors int, d time.Duration) {
	s := p.served[rev]
	if s == nil {
		s = &served{}
		p.served[rev] = s
	}
	s.requests += int64(n)
	s.errors += int64(errors)
	for range n {
		s.hist.Record(d)
	}
	p.ev.setOutcomes(rev, act.Outcomes{Requests: s.requests, Errors: s.errors, Latency: s.hist.Snapshot()})
}

// split returns the function's traffic as "REVISION PERCENT" lines.
func (p *rolloutPlane) split() string {
	fn, err := p.cp.Function(api.FunctionKey{Namespace: "default", Name: "hello"})
	if err != nil {
		p.t.Fatal(err)
	}
	var out []string
	for _, tt := range fn.Status.Traffic {
		out = append(out, fmt.Sprintf("%s %d", tt.RevisionName, *tt.Percent))
	}
	return strings.Join(out, ", ")
}

func (p *rolloutPlane) step(d time.Duration) {
	p.clock.Step(d)
	p.cp.StepRollouts()
}

func TestRolloutMovesTrafficInStepsAndRollsBackABadCanary(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	store := openStore(t, dir)
	p := newRolloutPlane(t, store, clk)
	if _, err := apply(t, p.cp, rolloutFn("one")); err != nil {
		t.Fatal(err)
	}
	p.ready("hello-00001")
	if got := p.split(); got != "hello-00001 100" {
		t.Fatalf("first revision: %s, want it all (nothing to roll from)", got)
	}
	if _, err := apply(t, p.cp, rolloutFn("two")); err != nil {
		t.Fatal(err)
	}
	if got := p.split(); got != "hello-00001 100" {
		t.Fatalf("while hello-00002 is not ready: %s, want hello-00001 100", got)
	}
	p.ready("hello-00002")
	if got := p.split(); got != "hello-00001 99, hello-00002 1" {
		t.Fatalf("once ready: %s, want 1%% to the canary", got)
	}
	p.serve("hello-00001", 990, 0, 10*time.Millisecond)
	p.serve("hello-00002", 25, 0, 10*time.Millisecond)
	p.step(10 * time.Second)
	if got := p.split(); got != "hello-00001 49, hello-00002 51" {
		t.Fatalf("after step 1: %s", got)
	}
	p.serve("hello-00001", 500, 0, 10*time.Millisecond)
	p.serve("hello-00002", 500, 0, 10*time.Millisecond)
	p.step(10 * time.Second)
	if got := p.split(); got != "hello-00002 100" {
		t.Fatalf("after step 2: %s, want the canary to have it all", got)
	}
	st, err := p.cp.Rollout(api.FunctionKey{Namespace: "default", Name: "hello"})
	if err != nil || st.Phase != api.RolloutSucceeded {
		t.Fatalf("rollout %+v, %v; want Succeeded", st, err)
	}

	// A third revision that fails 30% of its requests.
	if _, err := apply(t, p.cp, rolloutFn("three")); err != nil {
		t.Fatal(err)
	}
	p.ready("hello-00003")
	if got := p.split(); got != "hello-00002 99, hello-00003 1" {
		t.Fatalf("third rollout: %s, want it to start from hello-00002", got)
	}
	p.serve("hello-00002", 1000, 1, 10*time.Millisecond)
	p.serve("hello-00003", 40, 12, 10*time.Millisecond)
	p.step(10 * time.Second)
	if got := p.split(); got != "hello-00002 100" {
		t.Fatalf("after the failed step: %s, want all back on hello-00002", got)
	}
	st, _ = p.cp.Rollout(api.FunctionKey{Namespace: "default", Name: "hello"})
	if st.Phase != api.RolloutRolledBack || !strings.Contains(st.Message, "error rate 30.0%") {
		t.Fatalf("rollout %s: %s; want RolledBack naming the error rate", st.Phase, st.Message)
	}
	if _, err := p.cp.ActOnRollout(api.FunctionKey{Namespace: "default", Name: "hello"}, controlplane.RolloutPause); !errors.Is(err, controlplane.ErrConflict) {
		t.Errorf("pausing a rolled-back rollout: %v, want a conflict", err)
	}

	// A restart keeps the rollback: the canary does not get its share back.
	store.Close()
	p2 := newRolloutPlane(t, openStore(t, dir), clk)
	p2.ready("hello-00002")
	p2.ready("hello-00003")
	if got := p2.split(); got != "hello-00002 100" {
		t.Fatalf("after a restart: %s, want the rollback kept", got)
	}
}

func TestRolloutPauseResumeAbortAndAliases(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC))
	p := newRolloutPlane(t, openStore(t, t.TempDir()), clk)
	key := api.FunctionKey{Namespace: "default", Name: "hello"}
	apply(t, p.cp, rolloutFn("one"))
	p.ready("hello-00001")
	apply(t, p.cp, rolloutFn("two"))
	p.ready("hello-00002")
	if _, err := p.cp.ActOnRollout(key, controlplane.RolloutPause); err != nil {
		t.Fatal(err)
	}
	p.step(time.Minute)
	if got := p.split(); got != "hello-00001 99, hello-00002 1" {
		t.Fatalf("paused: %s, want the split held", got)
	}
	if _, err := p.cp.ActOnRollout(key, controlplane.RolloutResume); err != nil {
		t.Fatal(err)
	}
	p.step(10 * time.Second) // no traffic: nothing to protect, it moves on
	if got := p.split(); got != "hello-00001 49, hello-00002 51" {
		t.Fatalf("resumed: %s", got)
	}
	st, err := p.cp.ActOnRollout(key, controlplane.RolloutAbort)
	if err != nil || st.Phase != api.RolloutAborted {
		t.Fatalf("abort: %+v, %v", st, err)
	}
	if got := p.split(); got != "hello-00001 100" {
		t.Fatalf("aborted: %s, want all on the stable revision", got)
	}
	if _, err := p.cp.ActOnRollout(api.FunctionKey{Namespace: "default", Name: "nope"}, controlplane.RolloutPause); !errors.Is(err, controlplane.ErrNotFound) {
		t.Errorf("unknown function: %v, want not found", err)
	}
}

func TestRolloutAnnotationsAreValidated(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	_, err := apply(t, cp, strings.Replace(rolloutFn("one"), "20s", "soon", 1))
	if err == nil || !strings.Contains(err.Error(), "metadata.annotations[serving.knative.dev/rollout-duration]") {
		t.Fatalf("apply: %v, want the annotation named", err)
	}
}

// statusProbe reads the function's status as each route table is
// published, as Kubernetes mode's status writer does; the gateways route
// by that status.
type statusProbe struct {
	read func()
}

func (s *statusProbe) SetTable(*router.Table) {
	if s.read != nil {
		s.read()
	}
}

// A status read when the routes change must show the rollout's split,
// not the traffic as it was before the rollout was saved with the
// function: that would send the canary everything.
func TestStatusShowsTheRolloutAsRouted(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC))
	ev := &events{}
	probe := &statusProbe{}
	cp := controlplane.New(controlplane.Options{
		Store: openStore(t, t.TempDir()), Runtime: fakeRuntime{ev}, Router: probe, Activator: fakeActivator{ev},
		Autoscaler: fakeAutoscaler{ev}, LocalCommands: true, Clock: clk,
	})
	if err := cp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := &rolloutPlane{t: t, cp: cp, ev: ev, clock: clk, served: map[string]*served{}}
	if _, err := apply(t, cp, rolloutFn("one")); err != nil {
		t.Fatal(err)
	}
	p.ready("hello-00001")
	if _, err := apply(t, cp, rolloutFn("two")); err != nil {
		t.Fatal(err)
	}
	var seen []string
	probe.read = func() { seen = append(seen, p.split()) }
	p.ready("hello-00002")
	if len(seen) == 0 || seen[len(seen)-1] != "hello-00001 99, hello-00002 1" {
		t.Errorf("status as the routes changed: %q, want the last to give the canary 1%%", seen)
	}
}
