package kube

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/internal/kubetest"
	"github.com/wakefn/wake/runtime"
)

// termEnv is a namespace with fake pod processes and a revision of one
// function, for tests of what happens across leadership terms.
type termEnv struct {
	env *kubetest.Env
	ns  string
	rev *api.Revision
}

func newTermEnv(t *testing.T, name string) *termEnv {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	env.ServePods(t, ns, LabelRevision, DefaultPort, &fakeProcesses{client: env.Client, ns: ns, crashed: map[string]bool{}})
	rev := &api.Revision{}
	rev.Namespace, rev.Name = ns, name+"-00001"
	rev.Labels = map[string]string{api.LabelFunction: name}
	rev.Spec.Containers = []api.Container{{Image: "registry.invalid/wake/testfn:contract"}}
	return &termEnv{env: env, ns: ns, rev: rev}
}

func (e *termEnv) runtime(t *testing.T, obs runtime.Observer, clk clock.WithDelayedExecution) *Runtime {
	rt, err := New(Options{Client: e.env.Client, Observer: obs, Namespace: e.ns, Clock: clk, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	return rt
}

func (e *termEnv) pods(ctx context.Context, t *testing.T) []corev1.Pod {
	pods, err := e.env.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRevision + "=" + e.rev.Name})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func readyIDs(s runtime.State) []string {
	var ids []string
	for _, ep := range s.Ready {
		ids = append(ids, ep.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestVictimOfAnEarlierLeaderRestored checks a new leader's Runtime with a
// pod its predecessor marked as a victim but did not stop (its term ended
// first): the pod serves again, annotation removed. It also checks that the
// predecessor cannot write the scale after its Shutdown, and that Replicas
// says what the new Runtime adopted.
func TestVictimOfAnEarlierLeaderRestored(t *testing.T) {
	e := newTermEnv(t, "victim")
	key := e.rev.Key()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	first := &lastState{}
	rt1 := e.runtime(t, first, nil)
	if err := rt1.Deploy(ctx, e.rev); err != nil {
		t.Fatal(err)
	}
	if n, ok := rt1.Replicas(key); n != 0 || !ok {
		t.Errorf("Replicas of a new revision = %d, %v; want 0, true", n, ok)
	}
	if err := rt1.Scale(ctx, key, 2); err != nil {
		t.Fatal(err)
	}
	if n, ok := rt1.Replicas(key); n != 2 || !ok {
		t.Errorf("Replicas after Scale(2) = %d, %v; want 2, true", n, ok)
	}
	e.env.Eventually(t, time.Minute, "2 ready", func() bool { return len(first.get(key).Ready) == 2 })
	before := readyIDs(first.get(key))
	if err := rt1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The deposed leader's writes fail: its context is cancelled.
	rt1.mu.Lock()
	rv1 := rt1.revs[key]
	rt1.mu.Unlock()
	if err := rv1.writeScale(0); !errors.Is(err, context.Canceled) {
		t.Errorf("writeScale after Shutdown: %v, want context.Canceled", err)
	}

	// The predecessor marked a victim, and lost its term before scaling
	// down.
	victim := before[0]
	patch := []byte(`{"metadata":{"annotations":{"` + corev1.PodDeletionCost + `":"` + victimCost + `"}}}`)
	if _, err := e.env.Client.CoreV1().Pods(e.ns).Patch(ctx, victim, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	second := &lastState{}
	rt2 := e.runtime(t, second, nil)
	if n, ok := rt2.Replicas(key); ok {
		t.Errorf("Replicas before Deploy = %d, true; want false", n)
	}
	if err := rt2.Deploy(ctx, e.rev); err != nil {
		t.Fatal(err)
	}
	if n, ok := rt2.Replicas(key); n != 2 || !ok {
		t.Errorf("Replicas after adoption = %d, %v; want 2, true", n, ok)
	}
	e.env.Eventually(t, time.Minute, "the victim's deletion cost removed", func() bool {
		p, err := e.env.Client.CoreV1().Pods(e.ns).Get(ctx, victim, metav1.GetOptions{})
		_, marked := p.Annotations[corev1.PodDeletionCost]
		return err == nil && !marked
	})
	e.env.Eventually(t, time.Minute, "both pods ready, the victim too", func() bool {
		s := second.get(key)
		return slices.Equal(readyIDs(s), before) && s.Desired == 2
	})
	if pods := e.pods(ctx, t); len(pods) != 2 {
		t.Errorf("%d pods; want the same 2", len(pods))
	}
	sc, err := e.env.Client.AppsV1().Deployments(e.ns).GetScale(ctx, e.rev.Name, metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 2 {
		t.Errorf("scale %v, %v; want 2", sc, err)
	}
}

// TestRemoveStuckPod checks that Remove does not wait forever for a pod
// stuck Terminating: it returns nil once the revision's timeout and
// removeMargin have passed on the runtime's clock, and an error wrapping
// ErrShutdown when the runtime is shut down first.
func TestRemoveStuckPod(t *testing.T) {
	e := newTermEnv(t, "stuck")
	timeout := int64(5)
	e.rev.Spec.TimeoutSeconds = &timeout
	key := e.rev.Key()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clk := testingclock.NewFakeClock(time.Now())
	obs := &lastState{}
	rt := e.runtime(t, obs, clk)
	if err := rt.Deploy(ctx, e.rev); err != nil {
		t.Fatal(err)
	}
	if err := rt.Scale(ctx, key, 1); err != nil {
		t.Fatal(err)
	}
	e.env.Eventually(t, time.Minute, "1 ready", func() bool { return len(obs.get(key).Ready) == 1 })
	// A finalizer keeps the pod Terminating, as a lost node would.
	stuck := obs.get(key).Ready[0].ID
	patch := []byte(`{"metadata":{"finalizers":["wake.dev/test-stuck"]}}`)
	if _, err := e.env.Client.CoreV1().Pods(e.ns).Patch(ctx, stuck, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unstick := []byte(`{"metadata":{"finalizers":null}}`)
		_, _ = e.env.Client.CoreV1().Pods(e.ns).Patch(context.Background(), stuck, types.MergePatchType, unstick, metav1.PatchOptions{})
	})

	removed := make(chan error, 1)
	go func() { removed <- rt.Remove(ctx, key) }()
	e.env.Eventually(t, time.Minute, "the pod terminating", func() bool {
		p, err := e.env.Client.CoreV1().Pods(e.ns).Get(ctx, stuck, metav1.GetOptions{})
		return err == nil && p.DeletionTimestamp != nil
	})
	select {
	case err := <-removed:
		t.Fatalf("Remove returned %v with the pod still terminating and no time passed", err)
	case <-time.After(time.Second):
	}
	// Time passes on the runtime's clock until Remove gives up waiting.
	wait := time.Duration(timeout)*time.Second + removeMargin
	for done := false; !done; {
		clk.Step(wait)
		select {
		case err := <-removed:
			if err != nil {
				t.Fatalf("Remove: %v, want nil once the wait is over", err)
			}
			done = true
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("Remove still waiting after its bound")
		}
	}
	if pods := e.pods(ctx, t); len(pods) != 1 || pods[0].DeletionTimestamp == nil {
		t.Fatalf("pods %v; want the stuck one, terminating", pods)
	}

	// A Runtime that does not know the revision waits by the pods' grace
	// period, and no longer once it is shut down.
	rt2 := e.runtime(t, &lastState{}, clock.RealClock{})
	go func() { removed <- rt2.Remove(ctx, key) }()
	select {
	case err := <-removed:
		t.Fatalf("Remove by a new runtime returned %v with the pod still terminating", err)
	case <-time.After(time.Second):
	}
	if err := rt2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-removed:
		if !errors.Is(err, ErrShutdown) {
			t.Errorf("Remove cut by Shutdown: %v, want ErrShutdown", err)
		}
	case <-ctx.Done():
		t.Fatal("Remove still waiting after Shutdown")
	}
}
