package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/kube"
)

// journal is the fake router and activator: what they were told, in
// order, one line each. A table is written as the revisions the watched
// hosts resolve to.
type journal struct {
	mu     sync.Mutex
	lines  []string
	hosts  []string
	router *router.Router
	states map[api.RevisionKey]runtime.State
}

func newJournal(hosts ...string) *journal {
	return &journal{hosts: hosts, router: router.New(router.Options{}), states: map[api.RevisionKey]runtime.State{}}
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lines = append(j.lines, fmt.Sprintf(format, args...))
}

func (j *journal) SetTable(t *router.Table) {
	j.router.SetTable(t)
	var routed []string
	for _, h := range j.hosts {
		if _, rev, ok := j.router.Resolve(h); ok {
			routed = append(routed, h+"→"+rev.Name)
		}
	}
	j.add("table %s", strings.Join(routed, " "))
}

func (j *journal) Register(rev *api.Revision)     { j.add("register %s", rev.Name) }
func (j *journal) Unregister(key api.RevisionKey) { j.add("unregister %s", key.Name) }
func (j *journal) Update(key api.RevisionKey, s runtime.State) {
	j.mu.Lock()
	j.states[key] = s
	j.mu.Unlock()
}

func (j *journal) ready(key api.RevisionKey) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.states[key].Ready)
}

// since returns the lines from i on.
func (j *journal) since(i int) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.lines[min(i, len(j.lines)):])
}

func (j *journal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.lines)
}

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

var (
	functionsGVR = api.SchemeGroupVersion.WithResource(api.ResourceFunctions)
	revisionsGVR = api.SchemeGroupVersion.WithResource(api.ResourceRevisions)
)

func toUnstructured(t *testing.T, obj any, kind string) *unstructured.Unstructured {
	t.Helper()
	m, err := kruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: api.Group, Version: "v1", Kind: kind})
	return u
}

func revisionObject(ns, name, uid string) *api.Revision {
	rev := &api.Revision{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid),
		Labels: map[string]string{api.LabelFunction: strings.Split(name, "-")[0]}}}
	rev.Spec.Containers = []api.Container{{Image: "registry.invalid/hello"}}
	return rev
}

// functionObject is a function as the controller leaves it: its status
// routes to revs, the first taking pct[0]%, and so on.
func functionObject(ns, name string, revs []string, pcts []int64) *api.Function {
	fn := &api.Function{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1}}
	fn.Spec.Template.Spec.Containers = []api.Container{{Image: "registry.invalid/hello"}}
	fn.Status.ObservedGeneration = 1
	for i, rev := range revs {
		latest := i == len(revs)-1
		fn.Status.Traffic = append(fn.Status.Traffic, api.TrafficTarget{RevisionName: rev, LatestRevision: &latest, Percent: &pcts[i]})
	}
	return fn
}

// TestGatewayOrder checks the gateway's promises with fake clients: a
// route waits for its revision's registration, endpoints seen before the
// Revision object reach the activator once it is registered, and a
// deleted revision is unregistered only after the table stopped naming
// it.
func TestGatewayOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(kruntime.NewScheme(), map[schema.GroupVersionResource]string{
		functionsGVR: api.KindFunctionList, revisionsGVR: api.KindRevisionList,
	})
	// hello-00001 has a ready pod before anything else is known.
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello-00001-pod", UID: "pod-uid",
		Labels: map[string]string{kube.LabelRevision: "hello-00001"}}}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	port, yes := int32(8080), true
	sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello-00001-x",
		Labels: map[string]string{kube.LabelRevision: "hello-00001", discoveryv1.LabelServiceName: "hello-00001"}},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Port: &port}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"198.18.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: &yes},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: p.Name}}}}
	client := fake.NewClientset(p, sl)
	j := newJournal("hello.ns.example.com")
	g, err := Start(ctx, Options{Dynamic: dyn, Client: client, Domain: "example.com", Router: j, Activator: j, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	fns, revs := dyn.Resource(functionsGVR).Namespace("ns"), dyn.Resource(revisionsGVR).Namespace("ns")

	// The function's status names a revision not seen yet: no route.
	fn := functionObject("ns", "hello", []string{"hello-00001"}, []int64{100})
	if _, err := fns.Create(ctx, toUnstructured(t, fn, api.KindFunction), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a table", func() bool { return j.len() >= 2 })
	if got := j.since(0); !slices.Equal(got, []string{"table ", "table "}) {
		t.Fatalf("before the revision: %q, want two empty tables", got)
	}
	mark := j.len()
	if _, err := revs.Create(ctx, toUnstructured(t, revisionObject("ns", "hello-00001", "uid-1"), api.KindRevision), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the route", func() bool { return slices.Contains(j.since(mark), "table hello.ns.example.com→hello-00001") })
	if got := j.since(mark); got[0] != "register hello-00001" {
		t.Errorf("after the revision: %q, want its registration first", got)
	}
	eventually(t, "the endpoint seen before the revision", func() bool { return j.ready(api.RevisionKey{Namespace: "ns", Name: "hello-00001"}) == 1 })

	// hello-00001 is deleted while the status still names it: it stays.
	if _, err := revs.Create(ctx, toUnstructured(t, revisionObject("ns", "hello-00002", "uid-2"), api.KindRevision), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mark = j.len()
	if err := revs.Delete(ctx, "hello-00001", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a table after the deletion", func() bool { return len(j.since(mark)) > 0 })
	time.Sleep(50 * time.Millisecond)
	for _, l := range j.since(mark) {
		if l == "unregister hello-00001" {
			t.Fatalf("hello-00001 unregistered while routed: %q", j.since(mark))
		}
	}
	fn = functionObject("ns", "hello", []string{"hello-00002"}, []int64{100})
	fn.ResourceVersion = ""
	if _, err := fns.Update(ctx, toUnstructured(t, fn, api.KindFunction), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the unregistration", func() bool { return slices.Contains(j.since(mark), "unregister hello-00001") })
	got := j.since(mark)
	i, k := slices.Index(got, "table hello.ns.example.com→hello-00002"), slices.Index(got, "unregister hello-00001")
	if i < 0 || i > k {
		t.Errorf("%q: want the table without hello-00001 before its unregistration", got)
	}

	// A deleted function leaves the table.
	mark = j.len()
	if err := fns.Delete(ctx, "hello", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an empty table", func() bool { return slices.Contains(j.since(mark), "table ") })
}

func TestOptionsRequired(t *testing.T) {
	j := newJournal()
	dyn := dynamicfake.NewSimpleDynamicClient(kruntime.NewScheme())
	client := fake.NewClientset()
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"Dynamic", Options{Client: client, Router: j, Activator: j}},
		{"Client", Options{Dynamic: dyn, Router: j, Activator: j}},
		{"Router", Options{Dynamic: dyn, Client: client, Activator: j}},
		{"Activator", Options{Dynamic: dyn, Client: client, Router: j}},
	} {
		if _, err := Start(context.Background(), tc.opts); err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("without %s: %v, want an error naming it", tc.name, err)
		}
	}
}
