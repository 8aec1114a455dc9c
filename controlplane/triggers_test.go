package controlplane_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/router"
)

// fakeRunner records what the control plane asks of the trigger runner.
type fakeRunner struct {
	*events
	mu      sync.Mutex
	running map[api.TriggerKey]*api.Trigger
	refuse  error
}

func (f *fakeRunner) Run(t *api.Trigger, sink, dls string) error {
	f.add(fmt.Sprintf("run %s gen=%d sink=%s dls=%s", t.Name, t.Generation, sink, dls))
	if f.refuse != nil {
		return f.refuse
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[t.Key()] = t
	return nil
}

func (f *fakeRunner) Stop(k api.TriggerKey) {
	f.add("stop " + k.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, k)
}

func (f *fakeRunner) Status(k api.TriggerKey) (api.TriggerStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.running[k]
	if !ok {
		return api.TriggerStatus{}, false
	}
	return api.TriggerStatus{Delivered: 7, RateLimit: t.Spec.RateLimit}, true
}

func newTriggerPlane(t *testing.T, store controlplane.Store) (*controlplane.ControlPlane, *fakeRunner) {
	t.Helper()
	ev := &events{}
	run := &fakeRunner{events: ev, running: map[api.TriggerKey]*api.Trigger{}}
	cp := controlplane.New(controlplane.Options{
		Store: store, Runtime: fakeRuntime{ev}, Router: router.New(router.Options{}), Activator: fakeActivator{ev},
		Autoscaler: fakeAutoscaler{ev}, Triggers: run, URLPort: 8080, LocalCommands: true,
	})
	if err := cp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cp, run
}

func applyDocs(t *testing.T, cp *controlplane.ControlPlane, manifest string) (*controlplane.Applied, error) {
	t.Helper()
	docs, err := api.Decode("fn.yaml", []byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	return cp.Apply(context.Background(), docs, controlplane.ApplyOptions{BaseDir: "/srv"})
}

const pingToHello = `apiVersion: wake.dev/v1
kind: Trigger
metadata: {name: ping}
spec:
  cron: {schedule: "*/5 * * * *"}
  sink: {function: hello, tag: canary}
  delivery:
    retry: 3
    deadLetterSink: {uri: "http://dead.example/"}
`

func runs(run *fakeRunner) []string {
	var out []string
	for _, e := range run.take() {
		if strings.HasPrefix(e, "run ") || strings.HasPrefix(e, "stop ") {
			out = append(out, e)
		}
	}
	return out
}

// TestTriggerLifecycle: an applied trigger is stored and run with its
// resolved sink; a change of rate limit alone keeps its generation (the
// runner takes it live), another change bumps it; a restart runs it again;
// delete stops it.
func TestTriggerLifecycle(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	cp, run := newTriggerPlane(t, store)
	applied, err := applyDocs(t, cp, v1+"---\n"+pingToHello)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied.Functions) != 1 || len(applied.Triggers) != 1 {
		t.Fatalf("applied %d functions and %d triggers, want 1 and 1", len(applied.Functions), len(applied.Triggers))
	}
	tr := applied.Triggers[0]
	if tr.Status.SinkURI != "http://canary-hello.default.localhost:8080" || !api.IsReady(tr.Status.Conditions) || tr.Status.Delivered != 7 {
		t.Errorf("status = %+v", tr.Status)
	}
	want := []string{"run ping gen=1 sink=http://canary-hello.default.localhost:8080 dls=http://dead.example/"}
	if got := runs(run); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("runner got %q, want %q", got, want)
	}

	limit := 20.0
	got, err := cp.SetRateLimit(tr.Key(), &limit)
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != 1 || got.Status.RateLimit == nil || *got.Status.RateLimit != 20 {
		t.Errorf("after a rate change: generation %d, rate %v", got.Generation, got.Status.RateLimit)
	}
	if _, err := applyDocs(t, cp, strings.Replace(pingToHello, "*/5", "*/10", 1)); err != nil {
		t.Fatal(err)
	}
	if got, _ := cp.Trigger(tr.Key()); got.Generation != 2 || got.Spec.RateLimit != nil {
		t.Errorf("a schedule change left generation %d, rate %v; want 2 and the manifest's (none)", got.Generation, got.Spec.RateLimit)
	}
	if _, err := cp.SetRateLimit(tr.Key(), &limit); err != nil {
		t.Fatal(err)
	}
	if got := runs(run); len(got) != 3 || !strings.HasPrefix(got[1], "run ping gen=2") {
		t.Errorf("runner got %q", got)
	}
	bad := -1.0
	if _, err := cp.SetRateLimit(tr.Key(), &bad); err == nil || !strings.Contains(err.Error(), "spec.rateLimit") {
		t.Errorf("a negative rate limit: %v", err)
	}

	// A restart on the same store runs the trigger again, rate included.
	store.Close()
	store = openStore(t, dir)
	cp, run = newTriggerPlane(t, store)
	if got := runs(run); len(got) != 1 || !strings.HasPrefix(got[0], "run ping gen=2") {
		t.Errorf("after a restart the runner got %q", got)
	}
	if got, _ := cp.Trigger(tr.Key()); got.Spec.RateLimit == nil || *got.Spec.RateLimit != 20 {
		t.Errorf("the rate limit did not survive the restart: %v", got.Spec.RateLimit)
	}

	if err := cp.DeleteTrigger(tr.Key()); err != nil {
		t.Fatal(err)
	}
	if got := runs(run); fmt.Sprint(got) != "[stop ping]" {
		t.Errorf("delete: runner got %q", got)
	}
	if _, err := cp.Trigger(tr.Key()); !errors.Is(err, controlplane.ErrNotFound) {
		t.Errorf("a deleted trigger: %v", err)
	}
	if err := cp.DeleteTrigger(tr.Key()); !errors.Is(err, controlplane.ErrNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
}

// TestTriggerStatusSaysWhatIsWrong: a sink function that does not exist,
// and a trigger the runner refused, are not Ready, with the reason.
func TestTriggerStatusSaysWhatIsWrong(t *testing.T) {
	cp, run := newTriggerPlane(t, openStore(t, t.TempDir()))
	if _, err := applyDocs(t, cp, pingToHello); err != nil {
		t.Fatal(err)
	}
	got, _ := cp.Trigger(api.TriggerKey{Namespace: "default", Name: "ping"})
	if c := api.GetCondition(got.Status.Conditions, api.ConditionReady); c == nil || c.Reason != "SinkNotFound" {
		t.Errorf("Ready = %+v, want SinkNotFound", c)
	}
	run.refuse = errors.New("reading the SASL password file: no such file")
	if _, err := applyDocs(t, cp, v1+"---\n"+pingToHello); err != nil {
		t.Fatal(err)
	}
	got, _ = cp.Trigger(api.TriggerKey{Namespace: "default", Name: "ping"})
	if c := api.GetCondition(got.Status.Conditions, api.ConditionReady); c == nil || c.Reason != "StartFailed" || !strings.Contains(c.Message, "SASL") {
		t.Errorf("Ready = %+v, want StartFailed with the runner's error", c)
	}
}

// TestTriggerApplyIsAllOrNothing: a bad trigger rejects the whole apply
// with its line, and two documents defining one trigger are refused.
func TestTriggerApplyIsAllOrNothing(t *testing.T) {
	cp, _ := newTriggerPlane(t, openStore(t, t.TempDir()))
	_, err := applyDocs(t, cp, v1+"---\n"+strings.Replace(pingToHello, "retry: 3", "retry: -3", 1))
	if err == nil || !strings.Contains(err.Error(), "fn.yaml:19: spec.delivery.retry") {
		t.Errorf("a bad retry: %v", err)
	}
	if n := len(cp.Functions("")) + len(cp.Triggers("")); n != 0 {
		t.Errorf("a rejected apply stored %d objects", n)
	}
	_, err = applyDocs(t, cp, pingToHello+"---\n"+pingToHello)
	if err == nil || !strings.Contains(err.Error(), "trigger default/ping is also defined by document 1") {
		t.Errorf("a duplicate trigger: %v", err)
	}
}
