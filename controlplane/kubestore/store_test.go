package kubestore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/controlplane/kubestore"
	"github.com/wakefn/wake/internal/kubetest"
)

// The tests of this package run against a real kube-apiserver
// (internal/kubetest) with wake's CRDs installed; without its binaries
// they skip.

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// setup returns the shared control plane with the CRDs established, a
// dynamic client and a namespace of t's own.
func setup(t *testing.T) (*kubetest.Env, dynamic.Interface, string) {
	t.Helper()
	env := kubetest.Start(t)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	env.Kubectl(t, nil, "apply", "-f", filepath.Join("..", "..", "manifests", "crds"))
	env.Kubectl(t, nil, "wait", "--for", "condition=established", "--timeout", "60s",
		"crd/functions.wake.dev", "crd/revisions.wake.dev", "crd/triggers.wake.dev")
	return env, dyn, env.Namespace(t)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newRevision is a revision as controlplane's planRevision makes it: no
// UID yet, its function's labels, a Ready condition in its status.
func newRevision(ns, fn, name string) *api.Revision {
	rev := &api.Revision{
		TypeMeta: metav1.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindRevision},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.Now(),
			Labels: map[string]string{
				api.LabelFunction: fn, api.LabelKnativeService: fn,
				api.LabelGeneration: "1", api.LabelTemplateHash: "abc123",
			}},
	}
	rev.Spec.Containers = []api.Container{{Image: "registry.invalid/" + fn}}
	rev.Status.Conditions = []api.Condition{{Type: api.ConditionReady, Status: api.ConditionUnknown,
		Reason: "Deploying", Message: "waiting for the first instance to become ready", LastTransitionTime: metav1.Now()}}
	return rev
}

// newFunction is a function as its user writes it with kubectl.
func newFunction(ns, name string) *api.Function {
	fn := &api.Function{
		TypeMeta:   metav1.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindFunction},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
	}
	fn.Spec.Template.Spec.Containers = []api.Container{{Image: "registry.invalid/" + name}}
	return fn
}

func toU(t *testing.T, v any) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(v)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// createFunction creates fn with the dynamic client, as a user would.
func createFunction(t *testing.T, dyn dynamic.Interface, fn *api.Function) *api.Function {
	t.Helper()
	got, err := dyn.Resource(kubestore.Functions).Namespace(fn.Namespace).Create(testCtx(t), toU(t, fn), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating function %s: %v", fn.Name, err)
	}
	return fromU[api.Function](t, got)
}

func fromU[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	v, err := kubestore.FromUnstructured[T](u)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func getFunction(t *testing.T, dyn dynamic.Interface, ns, name string) *api.Function {
	t.Helper()
	u, err := dyn.Resource(kubestore.Functions).Namespace(ns).Get(testCtx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading function %s: %v", name, err)
	}
	return fromU[api.Function](t, u)
}

func getRevision(t *testing.T, dyn dynamic.Interface, ns, name string) *api.Revision {
	t.Helper()
	u, err := dyn.Resource(kubestore.Revisions).Namespace(ns).Get(testCtx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading revision %s: %v", name, err)
	}
	return fromU[api.Revision](t, u)
}

// conditions drops what the API server rounds (transition times) so that
// conditions compare by what they say.
func conditions(cs []api.Condition) []api.Condition {
	out := make([]api.Condition, len(cs))
	for i, c := range cs {
		c.LastTransitionTime = metav1.Time{}
		out[i] = c
	}
	return out
}

// TestPutRevision: a new revision is created with its status (which the
// status subresource ignores on create), gets its UID, has its status
// updated by the next put, and is listed with it.
func TestPutRevision(t *testing.T) {
	_, dyn, ns := setup(t)
	s := kubestore.New(dyn, ns)

	rev := newRevision(ns, "hello", "hello-00001")
	if err := s.Update(func(tx controlplane.Tx) error { return tx.PutRevision(rev) }); err != nil {
		t.Fatalf("PutRevision (create): %v", err)
	}
	got := getRevision(t, dyn, ns, "hello-00001")
	if rev.UID == "" || rev.UID != got.UID {
		t.Errorf("rev.UID = %q, want the object's %q", rev.UID, got.UID)
	}
	if got.FunctionName() != "hello" || got.Spec.Containers[0].Image != "registry.invalid/hello" {
		t.Errorf("created object: function %q, image %q", got.FunctionName(), got.Spec.Containers[0].Image)
	}
	if diff := cmp.Diff(conditions(rev.Status.Conditions), conditions(got.Status.Conditions)); diff != "" {
		t.Errorf("status after create (-want +got):\n%s", diff)
	}

	rev.Status.Conditions = []api.Condition{{Type: api.ConditionReady, Status: api.ConditionTrue, Reason: "Ready"}}
	rev.Status.ActualReplicas = 1
	uid := rev.UID
	if err := s.Update(func(tx controlplane.Tx) error { return tx.PutRevision(rev) }); err != nil {
		t.Fatalf("PutRevision (update): %v", err)
	}
	if rev.UID != uid {
		t.Errorf("second put changed the UID: %q, was %q", rev.UID, uid)
	}
	got = getRevision(t, dyn, ns, "hello-00001")
	if diff := cmp.Diff(conditions(rev.Status.Conditions), conditions(got.Status.Conditions)); diff != "" {
		t.Errorf("status after update (-want +got):\n%s", diff)
	}
	if got.Status.ActualReplicas != 1 {
		t.Errorf("status.actualReplicas = %d, want 1", got.Status.ActualReplicas)
	}

	var listed []*api.Revision
	err := s.View(func(tx controlplane.Tx) (err error) { listed, err = tx.Revisions(); return err })
	if err != nil {
		t.Fatalf("Revisions: %v", err)
	}
	if len(listed) != 1 || listed[0].Name != "hello-00001" || listed[0].UID != uid {
		t.Fatalf("Revisions() = %v, want hello-00001 (%s) alone", listed, uid)
	}
	if diff := cmp.Diff(conditions(rev.Status.Conditions), conditions(listed[0].Status.Conditions)); diff != "" {
		t.Errorf("listed status (-want +got):\n%s", diff)
	}
}

// TestPutRevisionExisting: a revision object left by an earlier controller
// is adopted when it is the same function's, and refused when it is
// another's.
func TestPutRevisionExisting(t *testing.T) {
	_, dyn, ns := setup(t)
	s := kubestore.New(dyn, ns)
	revs := dyn.Resource(kubestore.Revisions).Namespace(ns)
	for _, r := range []*api.Revision{newRevision(ns, "hello", "hello-00001"), newRevision(ns, "other", "shared")} {
		u := toU(t, r)
		delete(u.Object, "status")
		if _, err := revs.Create(testCtx(t), u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	rev := newRevision(ns, "hello", "hello-00001")
	if err := s.Update(func(tx controlplane.Tx) error { return tx.PutRevision(rev) }); err != nil {
		t.Fatalf("PutRevision over the same function's object: %v", err)
	}
	got := getRevision(t, dyn, ns, "hello-00001")
	if rev.UID == "" || rev.UID != got.UID {
		t.Errorf("adopted rev.UID = %q, want the existing object's %q", rev.UID, got.UID)
	}
	if diff := cmp.Diff(conditions(rev.Status.Conditions), conditions(got.Status.Conditions)); diff != "" {
		t.Errorf("adopted revision's status (-want +got):\n%s", diff)
	}

	theirs := newRevision(ns, "hello", "shared")
	err := s.Update(func(tx controlplane.Tx) error { return tx.PutRevision(theirs) })
	if err == nil || !strings.Contains(err.Error(), `"other"`) {
		t.Fatalf("PutRevision over another function's object: err = %v, want one naming function \"other\"", err)
	}
	if theirs.UID != "" {
		t.Errorf("refused revision got UID %q", theirs.UID)
	}
	if got := getRevision(t, dyn, ns, "shared"); got.FunctionName() != "other" || len(got.Status.Conditions) != 0 {
		t.Errorf("other function's revision was written: function %q, conditions %v", got.FunctionName(), got.Status.Conditions)
	}
}

// TestPutFunction: the control plane writes a function's rollout and
// nothing else of it; a function deleted meanwhile is no error.
func TestPutFunction(t *testing.T) {
	_, dyn, ns := setup(t)
	s := kubestore.New(dyn, ns)
	createFunction(t, dyn, newFunction(ns, "hello"))
	w := kubestore.NewStatusWriter(s, nil)
	if err := w.Write(ns, "hello", api.FunctionStatus{URL: "http://hello.example"}); err != nil {
		t.Fatal(err)
	}

	fn := getFunction(t, dyn, ns, "hello")
	fn.Spec.Template.Spec.Containers[0].Image = "registry.invalid/changed"
	fn.Status.URL = "http://changed.example"
	fn.Status.Rollout = &api.RolloutStatus{Phase: api.RolloutProgressing, Stable: "hello-00001", Canary: "hello-00002",
		CanaryPercent: 10, Step: 1, StepPercent: 10, StepDuration: metav1.Duration{Duration: time.Minute}}
	if err := s.Update(func(tx controlplane.Tx) error { return tx.PutFunction(fn) }); err != nil {
		t.Fatalf("PutFunction: %v", err)
	}
	got := getFunction(t, dyn, ns, "hello")
	if r := got.Status.Rollout; r == nil || r.Phase != api.RolloutProgressing || r.Canary != "hello-00002" || r.CanaryPercent != 10 {
		t.Errorf("status.rollout = %+v, want the one put", r)
	}
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "registry.invalid/hello" {
		t.Errorf("spec image = %q: PutFunction wrote the user's spec", img)
	}
	if got.Status.URL != "http://hello.example" {
		t.Errorf("status.url = %q: PutFunction wrote more than the rollout", got.Status.URL)
	}

	gone := newFunction(ns, "gone")
	gone.Status.Rollout = fn.Status.Rollout
	if err := s.Update(func(tx controlplane.Tx) error { return tx.PutFunction(gone) }); err != nil {
		t.Errorf("PutFunction of a missing function: %v, want nil", err)
	}
}

// TestStatusWriterReplaces: a status written replaces the one before, so
// what the new one leaves out is gone.
func TestStatusWriterReplaces(t *testing.T) {
	_, dyn, ns := setup(t)
	createFunction(t, dyn, newFunction(ns, "hello"))
	w := kubestore.NewStatusWriter(kubestore.New(dyn, ns), nil)
	pct := func(p int64) *int64 { return &p }

	first := api.FunctionStatus{
		ObservedGeneration: 1, URL: "http://hello.example",
		Traffic: []api.TrafficTarget{
			{RevisionName: "hello-00001", Percent: pct(90)},
			{RevisionName: "hello-00002", Percent: pct(10), Tag: "canary"},
		},
		Rollout: &api.RolloutStatus{Phase: api.RolloutProgressing, Stable: "hello-00001", Canary: "hello-00002", CanaryPercent: 10},
	}
	if err := w.Write(ns, "hello", first); err != nil {
		t.Fatal(err)
	}
	if got := getFunction(t, dyn, ns, "hello").Status; len(got.Traffic) != 2 || got.Rollout == nil {
		t.Fatalf("first status read back: %+v", got)
	}

	second := api.FunctionStatus{ObservedGeneration: 2, URL: "http://hello.example",
		Traffic: []api.TrafficTarget{{RevisionName: "hello-00002", Percent: pct(100)}}}
	if err := w.Write(ns, "hello", second); err != nil {
		t.Fatal(err)
	}
	got := getFunction(t, dyn, ns, "hello").Status
	if diff := cmp.Diff(second, got); diff != "" {
		t.Errorf("status after the second write (-want +got):\n%s", diff)
	}

	if err := w.Write(ns, "missing", second); err == nil {
		t.Error("writing the status of a missing function: no error")
	}
}

// TestDeleteRevision: a revision is deleted; one already gone is no error.
func TestDeleteRevision(t *testing.T) {
	_, dyn, ns := setup(t)
	s := kubestore.New(dyn, ns)
	rev := newRevision(ns, "hello", "hello-00001")
	if err := s.Update(func(tx controlplane.Tx) error { return tx.PutRevision(rev) }); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.Update(func(tx controlplane.Tx) error { return tx.DeleteRevision(rev.Key()) }); err != nil {
			t.Fatalf("DeleteRevision #%d: %v", i+1, err)
		}
	}
	var listed []*api.Revision
	if err := s.View(func(tx controlplane.Tx) (err error) { listed, err = tx.Revisions(); return err }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 0 {
		t.Errorf("after delete, Revisions() = %d revisions, want none", len(listed))
	}
}
