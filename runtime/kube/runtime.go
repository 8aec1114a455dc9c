package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// Errors callers can test for with errors.Is.
var (
	// ErrUnknownRevision is returned by Scale for a revision not deployed
	// through this Runtime, or removed.
	ErrUnknownRevision = errors.New("kube runtime: unknown revision")
	// ErrShutdown is returned by every call made after Shutdown.
	ErrShutdown = errors.New("kube runtime: shut down")
)

// Options configure a Runtime.
type Options struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Observer is told about every change of every deployed revision.
	// Required.
	Observer runtime.Observer
	// Drainer waits for an instance's in-flight requests before the
	// runtime lets Kubernetes stop its pod (see the package doc for when
	// that holds). It gets a ctx bounded by the revision's timeoutSeconds.
	// nil means pods are stopped without waiting.
	Drainer runtime.Drainer
	// Logger gets a line per scale, drain and API error. nil means none.
	Logger *zap.Logger
	// Clock bounds drains and spaces retries. nil means the real clock.
	Clock clock.WithDelayedExecution
	// Namespace limits the pods and EndpointSlices watched to one
	// namespace; "" watches all (the controller's ClusterRole allows it).
	Namespace string
	// OwnerRef returns the owner of a revision's Deployment and Service, so
	// that the garbage collector deletes them with it; nil, or a nil
	// result, means none. RevisionOwnerRef is the one for revisions that
	// are wake.dev/v1 Revision objects, whose UID Deploy's argument
	// carries.
	OwnerRef func(rev *api.Revision) *metav1.OwnerReference
	// PreStopSleep, when positive, is a preStop sleep in every pod: the
	// time between a pod's deletion and its SIGTERM, for the gateways to
	// see it leave the EndpointSlice when something other than this
	// runtime deletes it (an eviction, a node drain). Rounded up to
	// seconds. 0 means none.
	PreStopSleep time.Duration
	// RetryInterval spaces the retries of a failed API call. 0 means
	// DefaultRetryInterval (1s).
	RetryInterval time.Duration
}

// DefaultRetryInterval is Options.RetryInterval's default.
const DefaultRetryInterval = time.Second

// Runtime runs each revision as a Deployment and reads its ready instances
// from EndpointSlices. Every method is safe for concurrent use. Deploy and
// Remove call the API server; Scale only records the count and wakes the
// revision's loop, one goroutine per revision that does the scale-down
// drain, calls the scale subresource and turns informer events into
// States.
type Runtime struct {
	opts  Options
	log   *zap.Logger
	clock clock.WithDelayedExecution

	revisionInformers
	stop chan struct{}
	// ctx is cancelled by Shutdown with stop: the API writes of the
	// revision loops use it, so that none lands after the term (a
	// deposed leader shrinking what the next one adopted).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // revision loops and notifiers

	mu     sync.Mutex
	revs   map[api.RevisionKey]*revision
	closed bool
}

var (
	_ runtime.Runtime   = (*Runtime)(nil)
	_ runtime.LogReader = (*Runtime)(nil)
)

// New returns a Runtime and starts its informers, on the pods and
// EndpointSlices labelled wake.dev/revision. Shutdown stops them.
func New(opts Options) (*Runtime, error) {
	if opts.Client == nil {
		return nil, errors.New("kube runtime: Options.Client is required")
	}
	if opts.Observer == nil {
		return nil, errors.New("kube runtime: Options.Observer is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	r := &Runtime{
		opts:  opts,
		log:   opts.Logger,
		clock: opts.Clock,
		stop:  make(chan struct{}),
		revs:  map[api.RevisionKey]*revision{},
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	var err error
	if r.revisionInformers, err = watchRevisions(opts.Client, opts.Namespace, r.changed); err != nil {
		r.cancel()
		return nil, fmt.Errorf("kube runtime: %w", err)
	}
	r.factory.Start(r.stop)
	return r, nil
}

// changed wakes the loop of a revision whose pods or slices changed.
func (r *Runtime) changed(key api.RevisionKey) {
	r.mu.Lock()
	rv := r.revs[key]
	r.mu.Unlock()
	if rv != nil {
		rv.kick()
	}
}

// Deploy creates the revision's Deployment (at 0 replicas) and Service
// unless they exist, and starts following its pods. A Deployment that
// exists keeps its replicas, which become the revision's Desired: a
// restarted controller adopts what is running instead of stopping it.
// One of the same name without the label wake.dev/revision=NAME is
// someone else's, and refused.
func (r *Runtime) Deploy(ctx context.Context, rev *api.Revision) error {
	key := rev.Key()
	r.mu.Lock()
	closed, known := r.closed, r.revs[key] != nil
	r.mu.Unlock()
	if closed {
		return fmt.Errorf("deploying %s: %w", key, ErrShutdown)
	}
	if known {
		return nil
	}
	var owner *metav1.OwnerReference
	if r.opts.OwnerRef != nil {
		owner = r.opts.OwnerRef(rev)
	}
	sleep := int64((r.opts.PreStopSleep + time.Second - 1) / time.Second)
	dep, err := buildDeployment(rev, owner, sleep)
	if err != nil {
		return err
	}
	if !cache.WaitForCacheSync(ctx.Done(), r.synced...) {
		return fmt.Errorf("deploying %s: waiting for the informers: %w", key, context.Cause(ctx))
	}
	replicas := 0
	_, err = r.opts.Client.AppsV1().Deployments(rev.Namespace).Create(ctx, dep, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		cur, err := r.opts.Client.AppsV1().Deployments(rev.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("deploying %s: reading its Deployment: %w", key, err)
		}
		if cur.Labels[LabelRevision] != rev.Name {
			return fmt.Errorf("deploying %s: a Deployment of that name exists and is not the revision's (no label %s=%s)", key, LabelRevision, rev.Name)
		}
		if cur.Spec.Replicas != nil {
			replicas = int(*cur.Spec.Replicas)
		}
	case err != nil:
		return fmt.Errorf("deploying %s: creating its Deployment: %w", key, err)
	}
	_, err = r.opts.Client.CoreV1().Services(rev.Namespace).Create(ctx, buildService(rev, owner), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("deploying %s: creating its Service: %w", key, err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("deploying %s: %w", key, ErrShutdown)
	}
	if r.revs[key] != nil {
		return nil
	}
	rv := newRevision(r, key, time.Duration(rev.Spec.Timeout())*time.Second, replicas)
	r.revs[key] = rv
	r.wg.Add(1)
	go rv.loop()
	rv.kick()
	r.log.Info("deployed", zap.String("revision", key.String()), zap.Int("replicas", replicas))
	return nil
}

// Scale records n as the revision's desired count and returns; the
// revision's loop drains the instances a scale-down stops, then updates
// the Deployment's scale subresource.
func (r *Runtime) Scale(_ context.Context, key api.RevisionKey, n int) error {
	if n < 0 {
		return fmt.Errorf("scaling %s to %d: negative count", key, n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("scaling %s: %w", key, ErrShutdown)
	}
	rv := r.revs[key]
	if rv == nil || rv.removing {
		return fmt.Errorf("scaling %s: %w", key, ErrUnknownRevision)
	}
	rv.desired = n
	rv.kick()
	return nil
}

// Replicas returns the count the runtime holds as the revision's desired
// one: the last Scale, or, until the first, what Deploy adopted (an
// existing Deployment's replicas, 0 for a new one). ok is false for a
// revision not deployed through this Runtime, or being removed. A new
// leader starts the revision's autoscaling from it, not from min-scale.
func (r *Runtime) Replicas(key api.RevisionKey) (n int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rv := r.revs[key]
	if rv == nil || rv.removing {
		return 0, false
	}
	return rv.desired, true
}

// Remove withdraws every ready instance of the revision from its State,
// drains them, deletes its Deployment and Service (foreground, so the
// pods go first) and returns when its pods are gone, ctx ends, or
// Shutdown begins. It waits for the pods at most the revision's
// timeoutSeconds plus removeMargin: a pod that takes longer (stuck
// Terminating on a lost node) is left to the garbage collector, which
// finishes the foreground delete, and Remove returns nil with a warning,
// the objects being deleted. A revision this Runtime does not know is
// deleted all the same, without a drain: a restarted controller retiring
// an old revision; its pods' grace period stands for its timeoutSeconds.
func (r *Runtime) Remove(ctx context.Context, key api.RevisionKey) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("removing %s: %w", key, ErrShutdown)
	}
	rv := r.revs[key]
	first := rv != nil && !rv.removing
	if first {
		rv.removing = true
	}
	r.mu.Unlock()
	if rv == nil {
		if err := r.deleteObjects(ctx, key); err != nil {
			return err
		}
		return r.waitPodsGone(ctx, key, nil, -1)
	}
	if !first {
		// A concurrent Remove does the work; wait for it.
		select {
		case <-rv.removed:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("removing %s: %w", key, context.Cause(ctx))
		}
	}
	err := rv.remove(ctx)
	r.mu.Lock()
	if r.revs[key] == rv {
		delete(r.revs, key)
	}
	r.mu.Unlock()
	close(rv.removed)
	return err
}

// deleteObjects deletes the revision's Deployment and Service, with
// foreground propagation; objects already gone are no error.
func (r *Runtime) deleteObjects(ctx context.Context, key api.RevisionKey) error {
	fg := metav1.DeletePropagationForeground
	opts := metav1.DeleteOptions{PropagationPolicy: &fg}
	err := r.opts.Client.AppsV1().Deployments(key.Namespace).Delete(ctx, key.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing %s: deleting its Deployment: %w", key, err)
	}
	err = r.opts.Client.CoreV1().Services(key.Namespace).Delete(ctx, key.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing %s: deleting its Service: %w", key, err)
	}
	return nil
}

// removeMargin is how much longer than a revision's timeoutSeconds (its
// pods' grace period) Remove waits for its pods to go.
const removeMargin = 30 * time.Second

// waitPodsGone returns when the informer shows no pod of the revision,
// nil after timeout plus removeMargin (with a warning: the objects are
// deleted and the garbage collector finishes), an error when ctx ends or
// Shutdown begins. A negative timeout stands for the longest grace
// period of the revision's pods. kicks, when not nil, signals changes;
// without it, it polls.
func (r *Runtime) waitPodsGone(ctx context.Context, key api.RevisionKey, kicks <-chan struct{}, timeout time.Duration) error {
	// A new Runtime's empty cache would say the pods are gone.
	syncCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.ctx, cancel)()
	if !cache.WaitForCacheSync(syncCtx.Done(), r.synced...) {
		if r.ctx.Err() != nil {
			return fmt.Errorf("removing %s: %w", key, ErrShutdown)
		}
		return fmt.Errorf("removing %s: waiting for the informers: %w", key, context.Cause(ctx))
	}
	var deadline <-chan time.Time
	for {
		pods, err := r.podsOf(key)
		if err != nil {
			return err
		}
		if len(pods) == 0 {
			return nil
		}
		if deadline == nil {
			if timeout < 0 {
				timeout = graceOf(pods)
			}
			deadline = r.clock.After(timeout + removeMargin)
		}
		select {
		case <-kicks:
		case <-r.clock.After(r.opts.RetryInterval):
		case <-deadline:
			r.log.Warn("pods still terminating after the removal; the garbage collector finishes",
				zap.String("revision", key.String()), zap.Int("pods", len(pods)), zap.Duration("waited", timeout+removeMargin))
			return nil
		case <-r.stop:
			return fmt.Errorf("removing %s: %d pods left: %w", key, len(pods), ErrShutdown)
		case <-ctx.Done():
			return fmt.Errorf("removing %s: %d pods left: %w", key, len(pods), context.Cause(ctx))
		}
	}
}

// graceOf is the longest grace period of pods: for those of one
// Deployment, the revision's timeoutSeconds.
func graceOf(pods []*corev1.Pod) time.Duration {
	longest := int64(0)
	for _, p := range pods {
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil && *g > longest {
			longest = *g
		}
	}
	if longest == 0 {
		longest = api.DefaultTimeoutSeconds
	}
	return time.Duration(longest) * time.Second
}

func (r *Runtime) podsOf(key api.RevisionKey) ([]*corev1.Pod, error) {
	sel := labels.SelectorFromSet(labels.Set{LabelRevision: key.Name})
	return r.pods.Pods(key.Namespace).List(sel)
}

func (r *Runtime) slicesOf(key api.RevisionKey) ([]*discoveryv1.EndpointSlice, error) {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: key.Name})
	return r.slices.EndpointSlices(key.Namespace).List(sel)
}

// Shutdown stops the revision loops and the informers, and waits for them
// or ctx. It leaves the Deployments as they are: in Kubernetes mode the
// instances outlive the controller, and the next one adopts them.
func (r *Runtime) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
		r.cancel()
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		r.factory.Shutdown()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
