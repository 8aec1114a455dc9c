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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// FeedOptions configure Feed.
type FeedOptions struct {
	Store        *Store        // required: the client and namespace to watch
	ControlPlane syncer        // required
	Status       *StatusWriter // required: writes why a function was refused
	Workers      int           // functions synced at once; 0 means 4
	Logger       *zap.Logger
}

// Feed watches Function objects and hands each change to the control
// plane until ctx ends: a spec, label or annotation change to
// SyncFunction, a deletion (or a function recreated under the same name)
// to DeleteFunction. The control plane's own writes, to the status, are
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
	inf := factory.ForResource(Functions)
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[api.FunctionKey](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[api.FunctionKey]{Name: "functions"})
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if u, ok := obj.(*unstructured.Unstructured); ok {
			queue.Add(api.FunctionKey{Namespace: u.GetNamespace(), Name: u.GetName()})
		}
	}
	_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		queue.ShutDown()
		return ctx.Err()
	}
	f := &feed{opts: opts, log: log, lister: inf.Lister(), synced: map[api.FunctionKey]seen{}}
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
	opts   FeedOptions
	log    *zap.Logger
	lister cache.GenericLister

	mu     sync.Mutex
	synced map[api.FunctionKey]seen // what was last handed over
}

// seen is what of a function's object a sync depends on.
type seen struct {
	uid         types.UID
	generation  int64
	labels      map[string]string
	annotations map[string]string
}

func seenOf(fn *api.Function) seen {
	return seen{uid: fn.UID, generation: fn.Generation, labels: fn.Labels, annotations: fn.Annotations}
}

func (s seen) equal(o seen) bool {
	return s.uid == o.uid && s.generation == o.generation &&
		maps.Equal(s.labels, o.labels) && maps.Equal(s.annotations, o.annotations)
}

// next handles one function of the queue; false once the queue is shut.
func (f *feed) next(ctx context.Context, queue workqueue.TypedRateLimitingInterface[api.FunctionKey]) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := f.handle(ctx, key); err != nil {
		f.log.Warn("syncing a function; will retry", zap.String("function", key.String()), zap.Error(err))
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

func (f *feed) handle(ctx context.Context, key api.FunctionKey) error {
	obj, err := f.lister.ByNamespace(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return f.forget(ctx, key)
	}
	if err != nil {
		return err
	}
	fn, err := FromUnstructured[api.Function](obj.(*unstructured.Unstructured))
	if err != nil {
		return err
	}
	f.mu.Lock()
	last, known := f.synced[key]
	f.mu.Unlock()
	now := seenOf(fn)
	if known && last.equal(now) {
		return nil // a status write, or a resync
	}
	if known && last.uid != fn.UID {
		// Deleted and created again between two looks: the old one's
		// revisions go first, the new one starts from 00001.
		if err := f.forget(ctx, key); err != nil {
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
	f.mu.Lock()
	f.synced[key] = now
	f.mu.Unlock()
	return nil
}

func (f *feed) forget(ctx context.Context, key api.FunctionKey) error {
	err := f.opts.ControlPlane.DeleteFunction(ctx, key)
	if err != nil && !errors.Is(err, controlplane.ErrNotFound) {
		return fmt.Errorf("removing %s: %w", key, err)
	}
	f.mu.Lock()
	delete(f.synced, key)
	f.mu.Unlock()
	return nil
}
