package kube

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// WatchOptions configure a Watcher.
type WatchOptions struct {
	// Client reads pods and EndpointSlices. Required; it only lists and
	// watches (RBAC: get, list, watch on both).
	Client kubernetes.Interface
	// Observer gets every revision's State when it changes, in order per
	// revision, as from a Runtime. Required.
	Observer runtime.Observer
	// Namespace limits what is watched to one namespace; "" watches all.
	Namespace string
	// Logger: nil means no logs.
	Logger *zap.Logger
}

// Watcher reports the ready instances of every revision in the cluster
// from pods and EndpointSlices, as the Runtime computes them, without
// deploying, scaling or writing anything: it is the gateways' view, while
// the controller's Runtime owns the Deployments. Every revision with pods
// or slices labelled wake.dev/revision is reported, whoever deployed it.
//
// Its States differ from the Runtime's in two ways. A pod the Runtime
// withdrew to drain it (annotated with the victim's pod-deletion-cost,
// -1000) is out of Ready at once, although its pod is still Ready: the
// controller waits for its own activator only, and every gateway must
// stop sending to it as soon as it sees the annotation. And Desired is 0:
// the autoscaler's count is the controller's business, not the pods'.
//
// One goroutine computes States, from the informers' caches (one list by
// label per change, no API call); a State is pushed only when it changed.
type Watcher struct {
	opts WatchOptions
	log  *zap.Logger

	revisionInformers
	queue  workqueue.TypedDelayingInterface[api.RevisionKey]
	stop   chan struct{}
	once   sync.Once
	worker sync.WaitGroup // the computing goroutine
	wg     sync.WaitGroup // delivering goroutines

	mu       sync.Mutex
	barriers []chan struct{} // closed when the worker reaches them

	// Owned by the worker.
	revs map[api.RevisionKey]*watched
}

// watched is one revision's tracker and delivery.
type watched struct {
	tr       *tracker
	notify   *runtime.Notifier
	last     runtime.State
	reported bool
	seq      uint64
}

// forgetAfter is how long a revision with no pod and no slice left is kept
// after its empty State was pushed, for the Notifier to deliver it; then
// its tracker is dropped, so that a gateway running for months does not
// keep every revision it ever saw.
const forgetAfter = 5 * time.Second

// Watch starts informers on the pods and EndpointSlices labelled
// wake.dev/revision and returns; WaitForSync tells when the first States
// are computed, Stop ends it.
func Watch(opts WatchOptions) (*Watcher, error) {
	if opts.Client == nil {
		return nil, errors.New("kube watch: WatchOptions.Client is required")
	}
	if opts.Observer == nil {
		return nil, errors.New("kube watch: WatchOptions.Observer is required")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	w := &Watcher{
		opts:  opts,
		log:   opts.Logger,
		queue: workqueue.NewTypedDelayingQueue[api.RevisionKey](),
		stop:  make(chan struct{}),
		revs:  map[api.RevisionKey]*watched{},
	}
	var err error
	if w.revisionInformers, err = watchRevisions(opts.Client, opts.Namespace, w.changed); err != nil {
		return nil, fmt.Errorf("kube watch: %w", err)
	}
	w.factory.Start(w.stop)
	w.worker.Add(1)
	go w.work()
	return w, nil
}

// WaitForSync returns once the informers have listed every pod and slice
// and the States of what they listed have been pushed, or ctx's error.
// Deliveries may still be in flight: the Observer gets them in order.
func (w *Watcher) WaitForSync(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		if err := context.Cause(ctx); err != nil {
			return fmt.Errorf("kube watch: waiting for the pod and EndpointSlice informers: %w", err)
		}
		return errors.New("kube watch: stopped before the informers synced")
	}
	// Every listed object queued its revision before HasSynced turned
	// true, and the queue is first in, first out: once the worker takes
	// a barrier queued now, it has computed them all.
	done := make(chan struct{})
	w.mu.Lock()
	w.barriers = append(w.barriers, done)
	w.mu.Unlock()
	w.queue.Add(barrier)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kube watch: computing the first States: %w", context.Cause(ctx))
	case <-w.stop:
		return errors.New("kube watch: stopped before the first States")
	}
}

// barrier is the queue key of WaitForSync: no revision has an empty name.
var barrier = api.RevisionKey{}

// Stop stops the informers and the worker, and returns once the States
// already pushed were delivered: no Update comes after it.
func (w *Watcher) Stop() {
	w.once.Do(func() {
		close(w.stop)
		w.queue.ShutDown()
		w.worker.Wait()
		w.factory.Shutdown()
		w.wg.Wait()
	})
}

// changed queues a revision whose pods or slices changed.
func (w *Watcher) changed(key api.RevisionKey) { w.queue.Add(key) }

// work computes the State of each revision queued, one at a time: the
// workqueue never hands out a key twice at once, and coalesces the events
// of one revision that come while it is computed.
func (w *Watcher) work() {
	defer w.worker.Done()
	for {
		key, quit := w.queue.Get()
		if quit {
			return
		}
		if key == barrier {
			w.mu.Lock()
			for _, ch := range w.barriers {
				close(ch)
			}
			w.barriers = nil
			w.mu.Unlock()
		} else {
			w.compute(key)
		}
		w.queue.Done(key)
	}
}

func (w *Watcher) compute(key api.RevisionKey) {
	pods, err := w.pods.Pods(key.Namespace).List(labels.SelectorFromSet(labels.Set{LabelRevision: key.Name}))
	if err != nil { // a cache lister fails only on a bad selector
		w.log.Warn("listing pods", zap.String("revision", key.String()), zap.Error(err))
		return
	}
	eslices, err := w.slices.EndpointSlices(key.Namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: key.Name}))
	if err != nil {
		w.log.Warn("listing EndpointSlices", zap.String("revision", key.String()), zap.Error(err))
		return
	}
	rv := w.revs[key]
	if rv == nil {
		if len(pods) == 0 && len(eslices) == 0 {
			return // never reported, nothing to say
		}
		rv = &watched{tr: newTracker(), notify: runtime.NewNotifier(key, w.opts.Observer, &w.wg)}
		w.revs[key] = rv
	}
	if len(pods) == 0 && len(eslices) == 0 && rv.reported && rv.last.Ready == nil && rv.last.Starting == 0 {
		// Gone, and said so: forget it once delivered.
		if rv.notify.Wait(doneContext, rv.seq) == nil {
			delete(w.revs, key)
			return
		}
	}
	// Victims are withdrawn as long as they carry the annotation: the
	// controller removes it from a victim it keeps after all.
	clear(rv.tr.withdrawn)
	for _, p := range pods {
		if isVictim(p) {
			rv.tr.withdrawn[p.Name] = true
		}
	}
	s, again := rv.tr.compute(0, pods, eslices, time.Now())
	if len(pods) == 0 && len(eslices) == 0 {
		// A failure of pods that are gone says nothing any more.
		s.Failure = nil
		w.queue.AddAfter(key, forgetAfter)
	}
	if !rv.reported || !reflect.DeepEqual(s, rv.last) {
		rv.last, rv.reported = s, true
		rv.seq++
		rv.notify.Push(rv.seq, s)
	}
	if again {
		w.queue.Add(key)
	}
}

// doneContext makes Notifier.Wait a non-blocking test.
var doneContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// isVictim tells whether the Runtime chose the pod to stop, and withdrew
// it from its instances to drain it.
func isVictim(p *corev1.Pod) bool {
	return p.Annotations[corev1.PodDeletionCost] == victimCost
}
