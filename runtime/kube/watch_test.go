package kube

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/internal/kubetest"
	"github.com/wakefn/wake/runtime"
)

// history records every State delivered, per revision, and checks that
// deliveries for one revision never overlap.
type history struct {
	mu     sync.Mutex
	states map[api.RevisionKey][]runtime.State
	busy   map[api.RevisionKey]bool
	t      *testing.T
}

func (h *history) Update(rev api.RevisionKey, s runtime.State) {
	h.mu.Lock()
	if h.busy[rev] {
		h.t.Errorf("two deliveries at once for %s", rev)
	}
	h.busy[rev] = true
	h.states[rev] = append(h.states[rev], s)
	h.mu.Unlock()
	time.Sleep(time.Millisecond) // widen the window for an overlap
	h.mu.Lock()
	h.busy[rev] = false
	h.mu.Unlock()
}

func (h *history) last(rev api.RevisionKey) (runtime.State, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ss := h.states[rev]
	if len(ss) == 0 {
		return runtime.State{}, 0
	}
	return ss[len(ss)-1], len(ss)
}

// eventually polls cond for up to 10s: the fake clientset's informers
// deliver asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func watchedPod(name string, created int, ready bool) *corev1.Pod {
	p := pod(name, created, ready)
	p.Namespace = "ns"
	p.Labels = map[string]string{LabelRevision: "hello-00001"}
	return p
}

func watchedSlice(eps ...sliceEP) *discoveryv1.EndpointSlice {
	s := slice(eps...)
	s.Namespace, s.Name = "ns", "hello-00001-abcde"
	s.Labels = map[string]string{LabelRevision: "hello-00001", discoveryv1.LabelServiceName: "hello-00001"}
	return s
}

// TestWatchFake checks the Watcher's States on a fake clientset: ready
// endpoints from slices and pods, a victim withdrawn at once and back when
// its annotation goes, a starting pod counted, a deleted pod gone, and a
// revision whose objects are all gone reported empty.
func TestWatchFake(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	a, b, c := watchedPod("a", 0, true), watchedPod("b", 1, true), watchedPod("c", 2, false)
	for _, p := range []*corev1.Pod{a, b, c} {
		if _, err := client.CoreV1().Pods("ns").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sl := watchedSlice(sliceEP{"a", "198.18.0.1", true}, sliceEP{"b", "198.18.0.2", true}, sliceEP{"c", "198.18.0.3", false})
	if _, err := client.DiscoveryV1().EndpointSlices("ns").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h := &history{states: map[api.RevisionKey][]runtime.State{}, busy: map[api.RevisionKey]bool{}, t: t}
	w, err := Watch(WatchOptions{Client: client, Observer: h})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := w.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	key := api.RevisionKey{Namespace: "ns", Name: "hello-00001"}
	readyIs := func(want ...string) func() bool {
		return func() bool {
			s, _ := h.last(key)
			return slices.Equal(ids(s), want)
		}
	}
	eventually(t, "a and b ready", readyIs("a@198.18.0.1:8080", "b@198.18.0.2:8080"))
	if s, _ := h.last(key); s.Starting != 1 || s.Desired != 0 {
		t.Errorf("starting %d desired %d, want 1 starting (c), 0 desired", s.Starting, s.Desired)
	}

	b.Annotations = map[string]string{corev1.PodDeletionCost: victimCost}
	if _, err := client.CoreV1().Pods("ns").Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the victim b withdrawn", readyIs("a@198.18.0.1:8080"))
	if s, _ := h.last(key); s.Starting != 1 {
		t.Errorf("starting %d with a victim, want 1: a victim is not starting", s.Starting)
	}
	b.Annotations = nil
	if _, err := client.CoreV1().Pods("ns").Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b restored", readyIs("a@198.18.0.1:8080", "b@198.18.0.2:8080"))

	if err := client.CoreV1().Pods("ns").Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a gone", readyIs("b@198.18.0.2:8080"))

	for _, name := range []string{"b", "c"} {
		if err := client.CoreV1().Pods("ns").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.DiscoveryV1().EndpointSlices("ns").Delete(ctx, sl.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an empty State", func() bool {
		s, _ := h.last(key)
		return len(s.Ready) == 0 && s.Starting == 0
	})
	_, n := h.last(key)
	w.Stop()
	if _, after := h.last(key); after != n {
		t.Errorf("%d States delivered after Stop returned", after-n)
	}
}

// TestWatchFailure checks that a pod the kubelet cannot start is reported
// as the Runtime reports it.
func TestWatchFailure(t *testing.T) {
	ctx := context.Background()
	p := watchedPod("a", 0, false)
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "no such image"}}
	client := fake.NewClientset(p)
	h := &history{states: map[api.RevisionKey][]runtime.State{}, busy: map[api.RevisionKey]bool{}, t: t}
	w, err := Watch(WatchOptions{Client: client, Observer: h, Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := w.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	key := api.RevisionKey{Namespace: "ns", Name: "hello-00001"}
	eventually(t, "a failure", func() bool {
		s, _ := h.last(key)
		return s.Failure != nil
	})
	if s, _ := h.last(key); s.Failure.Reason != runtime.ReasonStartFailed || s.Starting != 1 {
		t.Errorf("State %+v, want StartFailed with 1 starting", s)
	}
}

func TestWatchOptionsRequired(t *testing.T) {
	if _, err := Watch(WatchOptions{Observer: &history{}}); err == nil {
		t.Error("Watch without a Client: no error")
	}
	if _, err := Watch(WatchOptions{Client: fake.NewClientset()}); err == nil {
		t.Error("Watch without an Observer: no error")
	}
}

// TestWatchOnAPIServer follows a revision's Deployment of 2 replicas, made
// as the Runtime makes it, on a real API server: 2 ready endpoints at the
// addresses the pods serve on, 1 once a pod is marked as a drain victim,
// and a deleted pod gone (its replacement joining).
func TestWatchOnAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	env.ServePods(t, ns, LabelRevision, DefaultPort, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pod, _ := kubetest.PodOf(r)
		fmt.Fprint(w, pod.Name)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := &history{states: map[api.RevisionKey][]runtime.State{}, busy: map[api.RevisionKey]bool{}, t: t}
	w, err := Watch(WatchOptions{Client: env.Client, Observer: h, Namespace: ns, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if err := w.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}

	rev := &api.Revision{}
	rev.Namespace, rev.Name = ns, "watched-00001"
	rev.Labels = map[string]string{api.LabelFunction: "watched"}
	rev.Spec.Containers = []api.Container{{Image: "registry.invalid/wake/testfn:contract"}}
	dep, err := buildDeployment(rev, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	two := int32(2)
	dep.Spec.Replicas = &two
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.CoreV1().Services(ns).Create(ctx, buildService(rev, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	key := rev.Key()
	ready := func() []runtime.Endpoint { s, _ := h.last(key); return s.Ready }
	env.Eventually(t, time.Minute, "2 ready endpoints", func() bool { return len(ready()) == 2 })
	// Each endpoint's address is its own pod's. The test's stand-in for
	// a pod's process may bind its address a moment after KWOK marked the
	// pod ready, on a busy machine more than getServed's second.
	env.Eventually(t, 30*time.Second, "each endpoint served by its own pod", func() bool {
		for _, ep := range ready() {
			if body, err := getServed(ctx, ep, "/"); err != nil || body != ep.ID {
				t.Logf("GET / on %s (%s): %q, %v", ep.ID, ep.Addr, body, err)
				return false
			}
		}
		return true
	})
	r := ready()
	if len(r) != 2 {
		t.Fatalf("ready %v, want 2 endpoints", r)
	}
	victim, kept := r[1], r[0]
	patch := []byte(`{"metadata":{"annotations":{"` + corev1.PodDeletionCost + `":"` + victimCost + `"}}}`)
	if _, err := env.Client.CoreV1().Pods(ns).Patch(ctx, victim.ID, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, 30*time.Second, "the victim withdrawn", func() bool {
		r := ready()
		return len(r) == 1 && r[0].ID == kept.ID
	})

	if err := env.Client.CoreV1().Pods(ns).Delete(ctx, kept.ID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, time.Minute, "the deleted pod gone and its replacement ready", func() bool {
		r := ready()
		return len(r) == 1 && r[0].ID != kept.ID && r[0].ID != victim.ID
	})
}
