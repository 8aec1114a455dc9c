package kubestore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/controlplane/kubestore"
)

// fakeSyncer records what the feed hands the control plane. It knows no
// function (Function is always ErrNotFound) and refuses the ones named
// in reject with an api.Errors.
type fakeSyncer struct {
	reject map[string]bool

	mu    sync.Mutex
	calls []string // "sync NAME ANNOTATION" or "delete NAME", in order
}

func (s *fakeSyncer) SyncFunction(_ context.Context, fn *api.Function) error {
	s.record(fmt.Sprintf("sync %s %s", fn.Name, fn.Annotations["note"]))
	if s.reject[fn.Name] {
		return api.NewErrors(field.ErrorList{field.Invalid(field.NewPath("spec", "traffic"), "x", "names no revision")})
	}
	return nil
}

func (s *fakeSyncer) DeleteFunction(_ context.Context, key api.FunctionKey) error {
	s.record("delete " + key.Name)
	return nil
}

func (s *fakeSyncer) Function(api.FunctionKey) (*api.Function, error) {
	return nil, controlplane.ErrNotFound
}

func (s *fakeSyncer) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *fakeSyncer) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// TestFeed runs Feed against a real API server: a function created,
// edited and deleted reaches the control plane once each time, a status
// write does not, and a function the control plane refuses says so in
// its status.
func TestFeed(t *testing.T) {
	env, dyn, ns := setup(t)
	store := kubestore.New(dyn, ns)
	status := kubestore.NewStatusWriter(store, nil)
	cp := &fakeSyncer{reject: map[string]bool{"bad": true}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- kubestore.Feed(ctx, kubestore.FeedOptions{Store: store, ControlPlane: cp, Status: status,
			Logger: zaptest.NewLogger(t).Named("feed")})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Feed: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Feed did not return after its context ended")
		}
	})
	waitCalls := func(what string, want ...string) {
		t.Helper()
		env.Eventually(t, 30*time.Second, what, func() bool { return slices.Equal(cp.Calls(), want) })
	}
	// stillCalls asserts that nothing more was handed over for a while:
	// long enough for the informer to deliver an update (milliseconds on
	// loopback) and a worker to handle it.
	stillCalls := func(what string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if got := cp.Calls(); !slices.Equal(got, want) {
				t.Fatalf("%s: calls = %q, want %q", what, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	createFunction(t, dyn, newFunction(ns, "hello"))
	waitCalls("the new function synced", "sync hello ")

	if err := status.Write(ns, "hello", api.FunctionStatus{ObservedGeneration: 1, URL: "http://hello.example"}); err != nil {
		t.Fatal(err)
	}
	if got := getFunction(t, dyn, ns, "hello").Status.URL; got != "http://hello.example" {
		t.Fatalf("status.url = %q after the write", got)
	}
	stillCalls("after a status write", "sync hello ")

	fns := dyn.Resource(kubestore.Functions).Namespace(ns)
	u, err := fns.Get(ctx, "hello", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.SetAnnotations(map[string]string{"note": "v2"})
	if _, err := fns.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCalls("the annotation change synced", "sync hello ", "sync hello v2")

	if err := fns.Delete(ctx, "hello", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCalls("the deletion handed over", "sync hello ", "sync hello v2", "delete hello")

	createFunction(t, dyn, newFunction(ns, "bad"))
	var got *api.Condition
	env.Eventually(t, 30*time.Second, "the refused function's status", func() bool {
		st := getFunction(t, dyn, ns, "bad").Status
		got = api.GetCondition(st.Conditions, api.ConditionReady)
		return got != nil
	})
	if got.Status != api.ConditionFalse || got.Reason != controlplane.ReasonRejected || !strings.Contains(got.Message, "names no revision") {
		t.Errorf("Ready = %+v, want False, reason %s, with the refusal's message", got, controlplane.ReasonRejected)
	}
	// The status write is not a change either: the refused function is
	// handed over once.
	stillCalls("after the refusal", "sync hello ", "sync hello v2", "delete hello", "sync bad ")
}
