package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// victimCost is the pod-deletion-cost the runtime gives the pods it chose
// to stop, below the default 0 of every other pod, so that the ReplicaSet
// controller deletes those when the scale goes down.
const victimCost = "-1000"

// revision is one deployed revision: its desired count, guarded by the
// Runtime's mutex, and its loop's own state.
type revision struct {
	rt      *Runtime
	key     api.RevisionKey
	timeout time.Duration // the revision's timeoutSeconds: bounds a drain
	wake    chan struct{} // buffered 1: something changed
	quit    chan struct{} // closed by remove: the loop returns
	done    chan struct{} // closed when the loop has returned
	removed chan struct{} // closed when Remove is done
	notify  *runtime.Notifier

	// Guarded by rt.mu.
	desired  int
	removing bool

	// Owned by the loop (then by remove, once the loop has returned).
	tr       *tracker
	restored map[string]bool // pods whose victim annotation was removed, until the informer shows it
	replicas int             // the scale last written or read
	last     runtime.State
	reported bool
	seq      uint64
}

func newRevision(rt *Runtime, key api.RevisionKey, timeout time.Duration, replicas int) *revision {
	return &revision{
		rt: rt, key: key, timeout: timeout,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		removed: make(chan struct{}),
		notify:  runtime.NewNotifier(key, rt.opts.Observer, &rt.wg),
		desired: replicas, replicas: replicas,
		tr: newTracker(), restored: map[string]bool{},
	}
}

func (rv *revision) kick() {
	select {
	case rv.wake <- struct{}{}:
	default:
	}
}

func (rv *revision) logger() *zap.Logger {
	return rv.rt.log.With(zap.String("revision", rv.key.String()))
}

// loop reconciles the revision at every change until remove or Shutdown.
func (rv *revision) loop() {
	defer rv.rt.wg.Done()
	defer close(rv.done)
	for {
		select {
		case <-rv.wake:
		case <-rv.quit:
			return
		case <-rv.rt.stop:
			return
		}
		if err := rv.reconcile(); err != nil {
			rv.logger().Warn("reconciling", zap.Error(err))
			rv.rt.clock.AfterFunc(rv.rt.opts.RetryInterval, rv.kick)
			// What the informers show is reported all the same.
			if err := rv.publish(); err != nil {
				rv.logger().Warn("reporting", zap.Error(err))
			}
		}
	}
}

// reconcile brings the Deployment's scale to the desired count, draining
// first the instances a scale-down stops, and reports the State.
func (rv *revision) reconcile() error {
	rv.rt.mu.Lock()
	want := rv.desired
	rv.rt.mu.Unlock()
	pods, err := rv.rt.podsOf(rv.key)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	var live []*corev1.Pod // pods the ReplicaSet counts
	for _, p := range pods {
		present[p.Name] = true
		if !isVictim(p) {
			delete(rv.restored, p.Name) // the informer shows the restore
		}
		if p.DeletionTimestamp == nil && !terminal(p) {
			live = append(live, p)
			// A victim the gateways withdrew, whoever marked it (an
			// earlier leader too), is withdrawn here as well: restored
			// below if it is not to go, stopped if it is.
			if isVictim(p) && !rv.restored[p.Name] {
				rv.tr.withdrawn[p.Name] = true
			}
		}
	}
	for name := range rv.restored {
		if !present[name] {
			delete(rv.restored, name)
		}
	}
	// A pod withdrawn for a scale-down that the ReplicaSet will not
	// delete (a scale-up came first, it chose another pod, or the leader
	// that marked it lost its term before scaling down) serves again:
	// with no more live pods than wanted, none is to go.
	if len(live) <= want {
		for _, p := range live {
			if rv.tr.withdrawn[p.Name] {
				if err := rv.setCost(p, ""); err != nil {
					// Still marked, still withdrawn (the gateways agree).
					rv.logger().Warn("restoring a pod", zap.String("instance", p.Name), zap.Error(err))
					rv.rt.clock.AfterFunc(rv.rt.opts.RetryInterval, rv.kick)
					continue
				}
				delete(rv.tr.withdrawn, p.Name)
				rv.restored[p.Name] = true
				rv.logger().Info("restored", zap.String("instance", p.Name))
			}
		}
	}
	if want < rv.replicas {
		if err := rv.drainVictims(live, want); err != nil {
			return err
		}
		// A Scale during the drain wins: a scale-up then keeps the
		// drained pods (restored above at the next pass) instead of
		// deleting them to start others.
		rv.rt.mu.Lock()
		changed := rv.desired != want
		rv.rt.mu.Unlock()
		if changed {
			rv.kick()
			return rv.publish()
		}
	}
	if want != rv.replicas {
		// After a Shutdown, the scale is left for the next leader, whose
		// Deploy adopts it; writeScale's context is cancelled too, for
		// a Shutdown that begins during the call.
		rv.rt.mu.Lock()
		closed := rv.rt.closed
		rv.rt.mu.Unlock()
		if closed {
			return nil
		}
		if err := rv.writeScale(want); err != nil {
			return err
		}
		rv.logger().Info("scaled", zap.Int("from", rv.replicas), zap.Int("to", want))
		rv.replicas = want
	}
	return rv.publish()
}

// drainVictims chooses the pods a scale-down to want stops, marks them
// with a low deletion cost, reports them out of Ready and drains them.
func (rv *revision) drainVictims(live []*corev1.Pod, want int) error {
	var keep []*corev1.Pod
	for _, p := range live {
		if !rv.tr.withdrawn[p.Name] {
			keep = append(keep, p)
		}
	}
	victims := pickVictims(keep, rv.tr.order, len(keep)-want)
	if len(victims) == 0 {
		return nil
	}
	var drain []runtime.Endpoint
	for _, p := range victims {
		if err := rv.setCost(p, victimCost); err != nil {
			return err
		}
		delete(rv.restored, p.Name)
		if ep, ok := rv.tr.eps[p.Name]; ok {
			drain = append(drain, ep)
		}
		rv.tr.withdrawn[p.Name] = true
	}
	if err := rv.publish(); err != nil {
		return err
	}
	rv.drain(context.Background(), drain)
	return nil
}

// drain waits until the Observer has seen the State without eps, then
// calls the Drainer for each, in parallel, bounded by the revision's
// timeout (and ctx).
func (rv *revision) drain(ctx context.Context, eps []runtime.Endpoint) {
	if len(eps) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-rv.rt.clock.After(rv.timeout):
			cancel()
		case <-rv.rt.stop: // Shutdown: the next controller takes over
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := rv.notify.Wait(ctx, rv.seq); err != nil {
		return
	}
	if rv.rt.opts.Drainer == nil {
		return
	}
	var wg sync.WaitGroup
	for _, ep := range eps {
		wg.Go(func() {
			if err := rv.rt.opts.Drainer.Drain(ctx, rv.key, ep); err != nil {
				rv.logger().Warn("drain", zap.String("instance", ep.ID), zap.Error(err))
			}
		})
	}
	wg.Wait()
	rv.logger().Debug("drained", zap.Int("instances", len(eps)))
}

// pickVictims returns the n pods a scale-down should stop: those not
// ready first (they hold no request, and the ReplicaSet controller
// prefers them too), then the ready ones that became ready last.
func pickVictims(pods []*corev1.Pod, readyOrder []string, n int) []*corev1.Pod {
	if n <= 0 {
		return nil
	}
	rank := map[string]int{}
	for i, name := range readyOrder {
		rank[name] = i + 1
	}
	sorted := slices.Clone(pods)
	slices.SortStableFunc(sorted, func(a, b *corev1.Pod) int {
		ra, rb := rank[a.Name], rank[b.Name]
		switch {
		case ra == 0 && rb == 0:
			return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
		case ra == 0:
			return -1
		case rb == 0:
			return 1
		}
		return rb - ra
	})
	return sorted[:min(n, len(sorted))]
}

// setCost sets (or, with "", removes) the pod's deletion cost; Shutdown
// cancels it. The removal is sent even when the informer's copy shows no
// annotation: it may not show the patch that set it yet.
func (rv *revision) setCost(p *corev1.Pod, cost string) error {
	var v any // nil: JSON null removes the key
	if cost != "" {
		v = cost
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{corev1.PodDeletionCost: v}}})
	ctx, cancel := context.WithTimeout(rv.rt.ctx, 30*time.Second)
	defer cancel()
	_, err := rv.rt.opts.Client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("setting the deletion cost of pod %s: %w", p.Name, err)
	}
	return nil
}

// writeScale sets the Deployment's replicas through its scale subresource;
// Shutdown cancels it.
func (rv *revision) writeScale(n int) error {
	ctx, cancel := context.WithTimeout(rv.rt.ctx, 30*time.Second)
	defer cancel()
	deps := rv.rt.opts.Client.AppsV1().Deployments(rv.key.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := deps.GetScale(ctx, rv.key.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if sc.Spec.Replicas == int32(n) {
			return nil
		}
		sc.Spec.Replicas = int32(n)
		_, err = deps.UpdateScale(ctx, rv.key.Name, sc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("scaling to %d: %w", n, err)
	}
	return nil
}

// publish reports the revision's State when it changed.
func (rv *revision) publish() error {
	pods, err := rv.rt.podsOf(rv.key)
	if err != nil {
		return err
	}
	eslices, err := rv.rt.slicesOf(rv.key)
	if err != nil {
		return err
	}
	rv.rt.mu.Lock()
	desired := rv.desired
	rv.rt.mu.Unlock()
	s, again := rv.tr.compute(desired, pods, eslices, rv.rt.clock.Now())
	rv.push(s)
	if again {
		rv.kick()
	}
	return nil
}

func (rv *revision) push(s runtime.State) {
	if rv.reported && reflect.DeepEqual(s, rv.last) {
		return
	}
	rv.last, rv.reported = s, true
	rv.seq++
	rv.notify.Push(rv.seq, s)
}

// remove stops the loop, withdraws and drains every ready instance,
// deletes the Deployment and Service and waits for the pods to go.
func (rv *revision) remove(ctx context.Context) error {
	close(rv.quit)
	select {
	case <-rv.done:
	case <-ctx.Done():
		return fmt.Errorf("removing %s: %w", rv.key, context.Cause(ctx))
	}
	pods, err := rv.rt.podsOf(rv.key)
	if err != nil {
		return err
	}
	var drain []runtime.Endpoint
	for _, p := range pods {
		if ep, ok := rv.tr.eps[p.Name]; ok {
			drain = append(drain, ep)
		}
		rv.tr.withdrawn[p.Name] = true
	}
	rv.push(runtime.State{})
	rv.drain(ctx, drain)
	if err := rv.rt.deleteObjects(ctx, rv.key); err != nil {
		return err
	}
	err = rv.rt.waitPodsGone(ctx, rv.key, rv.wake, rv.timeout)
	rv.logger().Info("removed", zap.Error(err))
	return err
}
