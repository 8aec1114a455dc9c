package controlplane_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/router"
)

// newExternalPlane is a control plane as wake controller runs it: the
// functions are the user's, handed over by SyncFunction.
func newExternalPlane(t *testing.T, store controlplane.Store) (*controlplane.ControlPlane, *router.Router) {
	t.Helper()
	ev := &events{}
	rt := router.New(router.Options{Next: nil})
	cp := controlplane.New(controlplane.Options{
		Store: store, Runtime: fakeRuntime{ev}, Router: rt, Autoscaler: fakeAutoscaler{ev}, ExternalSpec: true,
	})
	if err := cp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cp, rt
}

// userFunction is a manifest as the API server holds it: with the
// generation and UID Kubernetes gave it.
func userFunction(t *testing.T, manifest string, generation int64) *api.Function {
	t.Helper()
	docs, err := api.Decode("fn.yaml", []byte(strings.ReplaceAll(manifest, `command: ["./hello"]`, `image: hello`)))
	if err != nil {
		t.Fatal(err)
	}
	fn := docs[0].Function
	fn.Namespace, fn.Generation, fn.UID = "default", generation, "uid-1"
	return fn
}

func revisionNames(cp *controlplane.ControlPlane) []string {
	var names []string
	for _, r := range cp.Revisions("default", "hello") {
		names = append(names, r.Name)
	}
	return names
}

func TestSyncFunctionKeepsWhatKubernetesOwns(t *testing.T) {
	cp, _ := newExternalPlane(t, openStore(t, t.TempDir()))
	if err := cp.SyncFunction(context.Background(), userFunction(t, v1, 7)); err != nil {
		t.Fatal(err)
	}
	fn, err := cp.Function(api.FunctionKey{Namespace: "default", Name: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if fn.Generation != 7 || fn.UID != "uid-1" || fn.Status.ObservedGeneration != 7 {
		t.Errorf("generation %d, UID %q, observed %d; want Kubernetes' 7, uid-1, 7", fn.Generation, fn.UID, fn.Status.ObservedGeneration)
	}
	rev, err := cp.Revision(api.RevisionKey{Namespace: "default", Name: "hello-00001"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.OwnerReferences) != 1 || rev.OwnerReferences[0].UID != "uid-1" || rev.OwnerReferences[0].Kind != api.KindFunction {
		t.Errorf("owner references %+v, want the function uid-1, so that Kubernetes deletes the revision with it", rev.OwnerReferences)
	}
	// The same object again (a resync) makes nothing new.
	if err := cp.SyncFunction(context.Background(), userFunction(t, v1, 7)); err != nil {
		t.Fatal(err)
	}
	if got := revisionNames(cp); len(got) != 1 {
		t.Errorf("revisions after a resync: %v, want only hello-00001", got)
	}
}

// A user who edits a function while no controller runs must still get a
// revision of the edit: the controller that starts next loads the
// function already holding the new template, so comparing with "the
// function as last seen" would find no change.
func TestSyncFunctionSeesAnEditMadeWhileNoControllerRan(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	first, _ := newExternalPlane(t, store)
	if err := first.SyncFunction(context.Background(), userFunction(t, v1, 1)); err != nil {
		t.Fatal(err)
	}
	// The user's edit lands in the store (the API server) while no
	// control plane watches.
	edited := userFunction(t, v2, 2)
	held := edited.DeepCopy()
	held.SetDefaults() // as the controller last saw it would be
	if err := store.Update(func(tx controlplane.Tx) error { return tx.PutFunction(held) }); err != nil {
		t.Fatal(err)
	}
	next, rt := newExternalPlane(t, store)
	if err := next.SyncFunction(context.Background(), edited); err != nil {
		t.Fatal(err)
	}
	if got := revisionNames(next); len(got) != 2 || got[1] != "hello-00002" {
		t.Fatalf("revisions %v, want hello-00001 and the edit's hello-00002", got)
	}
	ready(next, "hello-00002")
	if got := resolve(rt, "canary-hello.default.localhost"); got != "hello-00002" {
		t.Errorf("the edit's tag routes to %q, want hello-00002", got)
	}
}

func TestSyncFunctionRefusedKeepsServingAndSaysWhy(t *testing.T) {
	cp, rt := newExternalPlane(t, openStore(t, t.TempDir()))
	if err := cp.SyncFunction(context.Background(), userFunction(t, v1, 1)); err != nil {
		t.Fatal(err)
	}
	bad := userFunction(t, strings.ReplaceAll(v2, "revisionName: hello-00001", "revisionName: hello-00009"), 2)
	err := cp.SyncFunction(context.Background(), bad)
	var invalid api.Errors
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "hello-00009") {
		t.Fatalf("error = %v, want api.Errors naming hello-00009", err)
	}
	fn, _ := cp.Function(api.FunctionKey{Namespace: "default", Name: "hello"})
	cond := api.GetCondition(fn.Status.Conditions, api.ConditionReady)
	if cond == nil || cond.Status != api.ConditionFalse || cond.Reason != controlplane.ReasonRejected ||
		!strings.Contains(cond.Message, "generation 2 was not applied, generation 1 still serves") {
		t.Errorf("Ready = %+v, want False, Rejected, saying generation 1 still serves", cond)
	}
	if got := resolve(rt, "hello.default.localhost"); got != "hello-00001" {
		t.Errorf("routes to %q, want hello-00001 as before the refused change", got)
	}
	// Fixed by the user: accepted, and the condition goes.
	if err := cp.SyncFunction(context.Background(), userFunction(t, v2, 3)); err != nil {
		t.Fatal(err)
	}
	fn, _ = cp.Function(api.FunctionKey{Namespace: "default", Name: "hello"})
	if c := api.GetCondition(fn.Status.Conditions, api.ConditionReady); c.Reason == controlplane.ReasonRejected {
		t.Errorf("Ready still %+v after an accepted generation", c)
	}
}

// The other way round: a controller that starts over functions nobody
// changed makes no revision, though what it loads is the user's object
// (without the defaults the template had when its revision was made).
func TestSyncFunctionAfterARestartMakesNoRevisionOfAnUnchangedFunction(t *testing.T) {
	store := openStore(t, t.TempDir())
	first, _ := newExternalPlane(t, store)
	if err := first.SyncFunction(context.Background(), userFunction(t, v1, 1)); err != nil {
		t.Fatal(err)
	}
	asWritten := userFunction(t, v1, 1)
	if err := store.Update(func(tx controlplane.Tx) error { return tx.PutFunction(asWritten) }); err != nil {
		t.Fatal(err)
	}
	next, _ := newExternalPlane(t, store)
	if err := next.SyncFunction(context.Background(), userFunction(t, v1, 1)); err != nil {
		t.Fatal(err)
	}
	if got := revisionNames(next); len(got) != 1 {
		t.Errorf("revisions after a restart: %v, want only hello-00001", got)
	}
}
