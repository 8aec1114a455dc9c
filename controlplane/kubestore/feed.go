package kubestore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// syncer is what the feed drives: controlplane.ControlPlane.
type syncer interface {
	SyncFunction(ctx context.Context, fn *api.Function) error
	DeleteFunction(ctx context.Context, key api.FunctionKey) error
	Function(key api.FunctionKey) (*api.Function, error)
}

// triggerSyncer is what the feed drives with Trigger objects:
// controlplane.ControlPlane.
type triggerSyncer interface {
	SyncTrigger(ctx context.Context, t *api.Trigger) error
	DeleteTrigger(key api.TriggerKey) error
}

// item is a queued object: a function, or a trigger.
type item struct {
	trigger         bool
	namespace, name string
}

func (i item) String() string { return i.namespace + "/" + i.name }

// FeedOptions configure Feed.
type FeedOptions struct {
	Store        *Store        // required: the client and namespace to watch
	ControlPlane syncer        // required
	Status       *StatusWriter // required: writes why a function was refused
	// Triggers, when set, gets the Trigger objects' changes too.
	Triggers triggerSyncer
	Workers  int // functions synced at once; 0 means 4
	Logger   *zap.Logger
}

// Feed watches Function objects (and Trigger objects, with
// FeedOptions.Triggers) and hands each change to the control plane until
// ctx ends: a spec, label or annotation change to SyncFunction, a
// deletion (or a function recreated under the same name) to
// DeleteFunction; for triggers SyncTrigger and DeleteTrigger. The control plane's own writes, to the status, are
// not changes. A sync that fails on the API server is retried with
// backoff; one the rules refuse waits for the user's next change, with
// the reason in the function's status.
func Feed(ctx context.Context, opts FeedOptions) error {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(opts.Store.client, 0, opts.Store.namespace, nil)
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[item](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[item]{Name: "wake"})
	f := &feed{opts: opts, log: log, synced: map[item]seen{}}
	watch := func(gvr schema.GroupVersionResource, trigger bool) (cache.GenericLister, cache.InformerSynced, error) {
		inf := factory.ForResource(gvr)
		enqueue := func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if u, ok := obj.(*unstructured.Unstructured); ok {
				queue.Add(item{trigger: trigger, namespace: u.GetNamespace(), name: u.GetName()})
			}
		}
		_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
			DeleteFunc: enqueue,
		})
		return inf.Lister(), inf.Informer().HasSynced, err
	}
	var synced []cache.InformerSynced
	var err error
	var hasSynced cache.InformerSynced
	if f.functions, hasSynced, err = watch(Functions, false); err != nil {
		return err
	}
	synced = append(synced, hasSynced)
	if opts.Triggers != nil {
		if f.triggers, hasSynced, err = watch(Triggers, true); err != nil {
			return err
		}
		synced = append(synced, hasSynced)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		queue.ShutDown()
		return ctx.Err()
	}
	// A function deleted between the control plane's load and this list
	// has no event to come: look at every one it holds.
	if known, ok := opts.ControlPlane.(interface{ Functions(string) []*api.Function }); ok {
		for _, fn := range known.Functions("") {
			queue.Add(item{namespace: fn.Namespace, name: fn.Name})
		}
	}
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(func() {
			for f.next(ctx, queue) {
			}
		})
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
	return nil
}

type feed struct {
	opts                FeedOptions
	log                 *zap.Logger
	functions, triggers cache.GenericLister

	mu     sync.Mutex
	synced map[item]seen // what was last handed over
}

// seen is what of an object a sync depends on.
type seen struct {
	uid         types.UID
	generation  int64
	labels      map[string]string
	annotations map[string]string
}

func seenOf(m *metav1.ObjectMeta) seen {
	return seen{uid: m.UID, generation: m.Generation, labels: m.Labels, annotations: m.Annotations}
}

// changed tells whether an object changed since it was last handed over,
// and whether it is another object of the same name.
func (f *feed) changed(key item, now seen) (changed, replaced bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	last, known := f.synced[key]
	return !known || !last.equal(now), known && last.uid != now.uid
}

func (f *feed) handed(key item, now seen) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced[key] = now
}

func (s seen) equal(o seen) bool {
	return s.uid == o.uid && s.generation == o.generation &&
		maps.Equal(s.labels, o.labels) && maps.Equal(s.annotations, o.annotations)
}

// next handles one object of the queue; false once the queue is shut.
func (f *feed) next(ctx context.Context, queue workqueue.TypedRateLimitingInterface[item]) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	handle := f.handleFunction
	if key.trigger {
		handle = f.handleTrigger
	}
	if err := handle(ctx, key); err != nil {
		f.log.Warn("syncing; will retry", zap.Bool("trigger", key.trigger), zap.Stringer("object", key), zap.Error(err))
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

func (f *feed) handleFunction(ctx context.Context, it item) error {
	key := api.FunctionKey{Namespace: it.namespace, Name: it.name}
	obj, err := f.functions.ByNamespace(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return f.forget(ctx, it)
	}
	if err != nil {
		return err
	}
	fn, err := FromUnstructured[api.Function](obj.(*unstructured.Unstructured))
	if err != nil {
		return err
	}
	now := seenOf(&fn.ObjectMeta)
	changed, replaced := f.changed(it, now)
	if !changed {
		return nil // a status write, or a resync
	}
	if replaced {
		// Deleted and created again between two looks: the old one's
		// revisions go first, the new one starts from 00001.
		if err := f.forget(ctx, it); err != nil {
			return err
		}
	}
	err = f.opts.ControlPlane.SyncFunction(ctx, fn)
	var invalid api.Errors
	switch {
	case errors.As(err, &invalid):
		f.log.Info("function refused", zap.String("function", key.String()), zap.Int64("generation", fn.Generation), zap.Error(err))
		if _, cerr := f.opts.ControlPlane.Function(key); errors.Is(cerr, controlplane.ErrNotFound) {
			// Never accepted: nothing derives a status for it.
			if err := f.opts.Status.Write(fn.Namespace, fn.Name, controlplane.RejectedStatus(fn, err)); err != nil {
				return err
			}
		} else {
			f.opts.Status.Kick()
		}
	case err != nil:
		return err
	}
	f.handed(it, now)
	return nil
}

// handleTrigger runs a trigger as its object says, or stops it. One that
// does not validate (the CRD's schema catches most mistakes first) stays
// as it ran, and the log says why.
func (f *feed) handleTrigger(ctx context.Context, it item) error {
	obj, err := f.triggers.ByNamespace(it.namespace).Get(it.name)
	if apierrors.IsNotFound(err) {
		return f.forget(ctx, it)
	}
	if err != nil {
		return err
	}
	t, err := FromUnstructured[api.Trigger](obj.(*unstructured.Unstructured))
	if err != nil {
		return err
	}
	now := seenOf(&t.ObjectMeta)
	if changed, _ := f.changed(it, now); !changed {
		return nil
	}
	err = f.opts.Triggers.SyncTrigger(ctx, t)
	var invalid api.Errors
	switch {
	case errors.As(err, &invalid):
		f.log.Warn("trigger refused", zap.Stringer("trigger", it), zap.Int64("generation", t.Generation), zap.Error(err))
	case err != nil:
		return err
	}
	f.handed(it, now)
	return nil
}

// forget stops serving an object that is gone.
func (f *feed) forget(ctx context.Context, it item) error {
	var err error
	if it.trigger {
		err = f.opts.Triggers.DeleteTrigger(api.TriggerKey{Namespace: it.namespace, Name: it.name})
	} else {
		err = f.opts.ControlPlane.DeleteFunction(ctx, api.FunctionKey{Namespace: it.namespace, Name: it.name})
	}
	if err != nil && !errors.Is(err, controlplane.ErrNotFound) {
		return fmt.Errorf("removing %s: %w", it, err)
	}
	f.mu.Lock()
	delete(f.synced, it)
	f.mu.Unlock()
	return nil
}
