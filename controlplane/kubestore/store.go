// Package kubestore keeps the control plane's state in a Kubernetes
// cluster, as wake.dev/v1 custom resources, for `wake controller`. Users
// own the Function and Trigger objects (they write them with kubectl);
// the controller owns Revision objects and the status of everything. The
// Store gives controlplane.ControlPlane that split, Feed hands it the
// Function and Trigger objects users change, and StatusWriter publishes
// their status: the gateways read their routes from the functions'.
//
// The API server has no transaction over several objects: Update applies
// its writes one by one, in order, and stops at the first error. The
// control plane writes a function's revision before anything that names
// it, and a controller that restarts in between finds the revision and
// does not make it again (it compares template hashes, see
// controlplane.Options.ExternalSpec).
package kubestore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// The resources, as the dynamic client names them.
var (
	Functions = api.SchemeGroupVersion.WithResource(api.ResourceFunctions)
	Revisions = api.SchemeGroupVersion.WithResource(api.ResourceRevisions)
	Triggers  = api.SchemeGroupVersion.WithResource(api.ResourceTriggers)
)

// requestTimeout bounds each call to the API server, so that a server
// that hangs fails the write (retried by its caller) instead of holding
// the control plane's write lock.
const requestTimeout = 15 * time.Second

// Store is a controlplane.Store on the API server.
type Store struct {
	client    dynamic.Interface
	namespace string
	cron      *CronRecords // nil until CronRecords
}

var _ controlplane.Store = (*Store)(nil)

// New returns a Store. namespace limits it to one namespace; "" is all.
func New(client dynamic.Interface, namespace string) *Store {
	return &Store{client: client, namespace: namespace}
}

// View runs fn with reads from the API server.
func (s *Store) View(fn func(controlplane.Tx) error) error { return fn(tx{s}) }

// Update runs fn; each write reaches the API server when it is made.
func (s *Store) Update(fn func(controlplane.Tx) error) error { return fn(tx{s}) }

// Close does nothing: the client holds no resource to release.
func (s *Store) Close() error { return nil }

type tx struct{ s *Store }

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), requestTimeout)
}

func (t tx) Functions() ([]*api.Function, error) { return list[api.Function](t.s, Functions) }
func (t tx) Revisions() ([]*api.Revision, error) { return list[api.Revision](t.s, Revisions) }
func (t tx) Triggers() ([]*api.Trigger, error)   { return list[api.Trigger](t.s, Triggers) }

// PutFunction writes the one part of a function's status the control
// plane keeps rather than derives: its rollout. The spec is the user's,
// and StatusWriter writes the rest of the status.
func (t tx) PutFunction(fn *api.Function) error {
	patch := map[string]any{"status": map[string]any{"rollout": fn.Status.Rollout}}
	err := t.s.patchStatus(Functions, fn.Namespace, fn.Name, patch)
	if apierrors.IsNotFound(err) {
		return nil // deleted by its owner: the informer tells the control plane next
	}
	return err
}

// DeleteFunction does nothing: functions are their owners' to delete, and
// the control plane hears of a deletion only once it happened.
func (t tx) DeleteFunction(api.FunctionKey) error { return nil }

// PutRevision creates a revision the first time (one without a UID) and
// writes its status; the spec of a revision never changes. Creating fills
// in the UID, which the runtime names as the owner of the Deployment.
func (t tx) PutRevision(rev *api.Revision) error {
	if rev.UID == "" {
		obj, err := toUnstructured(rev)
		if err != nil {
			return err
		}
		delete(obj.Object, "status") // ignored on create: written below
		c, cancel := ctx()
		got, err := t.s.client.Resource(Revisions).Namespace(rev.Namespace).Create(c, obj, metav1.CreateOptions{})
		cancel()
		if apierrors.IsAlreadyExists(err) {
			got, err = t.s.adopt(rev)
		}
		if err != nil {
			return fmt.Errorf("creating revision %s: %w", rev.Key(), err)
		}
		rev.UID, rev.ResourceVersion, rev.CreationTimestamp = got.GetUID(), got.GetResourceVersion(), got.GetCreationTimestamp()
	}
	return t.s.patchStatus(Revisions, rev.Namespace, rev.Name, map[string]any{"status": rev.Status})
}

// adopt takes over a revision object that exists already: a controller
// that created it stopped before the control plane recorded it. It is
// the same revision only when it belongs to the same function.
func (s *Store) adopt(rev *api.Revision) (*unstructured.Unstructured, error) {
	c, cancel := ctx()
	defer cancel()
	got, err := s.client.Resource(Revisions).Namespace(rev.Namespace).Get(c, rev.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if owner := got.GetLabels()[api.LabelFunction]; owner != rev.FunctionName() {
		return nil, fmt.Errorf("a revision of that name exists and belongs to function %q", owner)
	}
	return got, nil
}

// DeleteRevision deletes a revision object; one already gone is fine.
func (t tx) DeleteRevision(key api.RevisionKey) error {
	c, cancel := ctx()
	defer cancel()
	err := t.s.client.Resource(Revisions).Namespace(key.Namespace).Delete(c, key.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// PutTrigger does nothing: triggers are their owners', and their status
// is what the runner observes, written by StatusWriter.
func (t tx) PutTrigger(*api.Trigger) error { return nil }

// DeleteTrigger forgets the cron record of a trigger its owner deleted.
func (t tx) DeleteTrigger(key api.TriggerKey) error {
	if t.s.cron == nil {
		return nil
	}
	return t.s.cron.delete(key.Namespace + "/" + key.Name)
}

// patchStatus merges patch into an object's status subresource. A merge
// patch needs no resourceVersion: the status is the control plane's
// alone, so there is nobody to conflict with.
func (s *Store) patchStatus(gvr schema.GroupVersionResource, namespace, name string, patch map[string]any) error {
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	c, cancel := ctx()
	defer cancel()
	_, err = s.client.Resource(gvr).Namespace(namespace).Patch(c, name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	return err
}

func list[T any](s *Store, gvr schema.GroupVersionResource) ([]*T, error) {
	c, cancel := ctx()
	defer cancel()
	l, err := s.client.Resource(gvr).Namespace(s.namespace).List(c, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
	}
	out := make([]*T, 0, len(l.Items))
	for i := range l.Items {
		v, err := FromUnstructured[T](&l.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// FromUnstructured converts what the dynamic client and informers carry
// into one of wake's types.
func FromUnstructured[T any](u *unstructured.Unstructured) (*T, error) {
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return nil, fmt.Errorf("reading %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return out, nil
}

func toUnstructured(v any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(v)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}
