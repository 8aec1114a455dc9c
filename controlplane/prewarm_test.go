package controlplane_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/eventing/triggers"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
)

var _ triggers.Prewarmer = (*controlplane.Prewarmer)(nil)

// wakingAutoscaler is the fake autoscaler with the Wake the activator
// calls, recording the revisions woken.
type wakingAutoscaler struct {
	fakeAutoscaler
	mu    sync.Mutex
	woken []string
}

func (w *wakingAutoscaler) Wake(k api.RevisionKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.woken = append(w.woken, k.Name)
}

func (w *wakingAutoscaler) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.woken
	w.woken = nil
	return out
}

func TestPrewarmer(t *testing.T) {
	ev := &events{}
	as := &wakingAutoscaler{fakeAutoscaler: fakeAutoscaler{ev}}
	cp := controlplane.New(controlplane.Options{
		Store: openStore(t, t.TempDir()), Runtime: fakeRuntime{ev}, Router: router.New(router.Options{}),
		Activator: fakeActivator{ev}, Autoscaler: as, LocalCommands: true,
	})
	if err := cp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := cp.Prewarmer()
	hello := api.FunctionKey{Namespace: "default", Name: "hello"}

	if lead, idle := p.PrewarmTiming(hello, ""); lead != controlplane.MinPrewarmLead || idle != 0 {
		t.Errorf("unknown function: lead %v, idle %v; want %v, 0", lead, idle, controlplane.MinPrewarmLead)
	}
	p.Prewarm(hello, "")
	if got := as.take(); len(got) != 0 {
		t.Errorf("unknown function: woke %v", got)
	}

	if _, err := apply(t, cp, v1); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
	key1 := api.RevisionKey{Namespace: "default", Name: "hello-00001"}
	cp.Update(key1, runtime.State{Desired: 1, Ready: []runtime.Endpoint{
		{ID: "a", Addr: "127.0.0.1:1", Started: &runtime.StartTimes{Scheduled: t0, WarmedUp: t0.Add(3 * time.Second)}},
		{ID: "b", Addr: "127.0.0.1:2", Started: &runtime.StartTimes{Scheduled: t0.Add(time.Minute), WarmedUp: t0.Add(time.Minute + 7*time.Second)}},
	}})
	// The latest start (7s) doubled; the defaults' 60s window (the grace
	// period no longer delays zero) and no pod retention.
	if lead, idle := p.PrewarmTiming(hello, ""); lead != 14*time.Second || idle != 60*time.Second {
		t.Errorf("lead %v, idle %v; want 14s, 1m0s", lead, idle)
	}
	p.Prewarm(hello, "")
	if diff := cmp.Diff([]string{"hello-00001"}, as.take()); diff != "" {
		t.Errorf("woken (-want +got):\n%s", diff)
	}
	// At zero there is no instance to time: the last start observed holds.
	cp.Update(key1, runtime.State{})
	if lead, _ := p.PrewarmTiming(hello, ""); lead != 14*time.Second {
		t.Errorf("at zero: lead %v, want the remembered 14s", lead)
	}

	// 90% to hello-00001, 10% to hello-00002 tagged canary.
	if _, err := apply(t, cp, v2); err != nil {
		t.Fatal(err)
	}
	ready(cp, "hello-00002")
	p.Prewarm(hello, "")
	if diff := cmp.Diff([]string{"hello-00001", "hello-00002"}, as.take()); diff != "" {
		t.Errorf("every revision with a share (-want +got):\n%s", diff)
	}
	p.Prewarm(hello, "canary")
	if diff := cmp.Diff([]string{"hello-00002"}, as.take()); diff != "" {
		t.Errorf("a tag sink (-want +got):\n%s", diff)
	}
}
