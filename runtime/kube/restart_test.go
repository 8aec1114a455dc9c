package kube

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/internal/kubetest"
	"github.com/wakefn/wake/runtime"
)

// lastState records the latest State of each revision.
type lastState struct {
	mu     sync.Mutex
	states map[api.RevisionKey]runtime.State
}

func (o *lastState) Update(rev api.RevisionKey, s runtime.State) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.states == nil {
		o.states = map[api.RevisionKey]runtime.State{}
	}
	o.states[rev] = s
}

func (o *lastState) get(rev api.RevisionKey) runtime.State {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.states[rev]
}

// TestRestartedControllerAdopts checks what a controller restart relies
// on: Shutdown leaves the pods running, a new Runtime's Deploy of the same
// revision adopts them (their count becomes Desired, nothing is scaled),
// a Deployment of the same name that is not the revision's is refused,
// and a Runtime that never deployed a revision can still Remove it.
func TestRestartedControllerAdopts(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	env.ServePods(t, ns, LabelRevision, DefaultPort, &fakeProcesses{client: env.Client, ns: ns, crashed: map[string]bool{}})
	newRuntime := func(obs runtime.Observer) *Runtime {
		rt, err := New(Options{Client: env.Client, Observer: obs, Namespace: ns, Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
		return rt
	}
	rev := &api.Revision{}
	rev.Namespace, rev.Name = ns, "adopt-00001"
	rev.Labels = map[string]string{api.LabelFunction: "adopt"}
	rev.Spec.Containers = []api.Container{{Image: "registry.invalid/wake/testfn:contract"}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	first := &lastState{}
	rt1 := newRuntime(first)
	if err := rt1.Deploy(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := rt1.Scale(ctx, rev.Key(), 2); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, time.Minute, "2 ready", func() bool { return len(first.get(rev.Key()).Ready) == 2 })
	if err := rt1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	second := &lastState{}
	rt2 := newRuntime(second)
	if err := rt2.Deploy(ctx, rev); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, time.Minute, "the second runtime to see 2 ready", func() bool {
		s := second.get(rev.Key())
		return len(s.Ready) == 2 && s.Desired == 2
	})
	sc, err := env.Client.AppsV1().Deployments(ns).GetScale(ctx, rev.Name, metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 2 {
		t.Fatalf("scale after adoption = %v, %v; want 2", sc, err)
	}

	// A Deployment of the same name that is not the revision's is not
	// adopted.
	foreign := &api.Revision{}
	foreign.Namespace, foreign.Name = ns, "foreign-00001"
	foreign.Spec.Containers = rev.Spec.Containers
	dep, err := buildDeployment(foreign, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	dep.Labels = map[string]string{"app": "someone-else"}
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rt2.Deploy(ctx, foreign); err == nil || !strings.Contains(err.Error(), "not the revision's") {
		t.Errorf("Deploy over a foreign Deployment: %v, want a refusal", err)
	}

	rt3 := newRuntime(&lastState{})
	if err := rt3.Remove(ctx, rev.Key()); err != nil {
		t.Fatalf("Remove by a runtime that never deployed it: %v", err)
	}
	if _, err := env.Client.AppsV1().Deployments(ns).Get(ctx, rev.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment after Remove: %v, want NotFound", err)
	}
	if _, err := env.Client.CoreV1().Services(ns).Get(ctx, rev.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Service after Remove: %v, want NotFound", err)
	}
}
