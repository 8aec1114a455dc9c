package kubestore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/router"
)

// lister is what StatusWriter reads statuses from:
// controlplane.ControlPlane.
type lister interface {
	Functions(namespace string) []*api.Function
}

// StatusWriter publishes every function's status (URL, resolved traffic,
// latest revisions, readiness, rollout) to its object, where kubectl
// shows it and the gateways build their routes from it. It stands in the
// control plane's Options.Router: each new route table is the moment
// statuses may have changed. It writes only what changed since it last
// wrote, and looks again every ResyncInterval in case a write failed or
// someone overwrote a status.
type StatusWriter struct {
	store *Store
	log   *zap.Logger
	kick  chan struct{}

	cp lister // set by Run

	last map[string]string // status JSON last written, by resource/namespace/name; Run's goroutine only
}

// ResyncInterval is how often StatusWriter rewrites statuses that did not
// change, in case one was lost.
const ResyncInterval = 30 * time.Second

// TriggerStatusInterval is how often triggers' statuses (delivery
// counters, lag, fire times) are written when they changed.
const TriggerStatusInterval = 5 * time.Second

// NewStatusWriter returns a StatusWriter; Run writes.
func NewStatusWriter(store *Store, log *zap.Logger) *StatusWriter {
	if log == nil {
		log = zap.NewNop()
	}
	return &StatusWriter{store: store, log: log, kick: make(chan struct{}, 1), last: map[string]string{}}
}

// SetTable is the control plane publishing routes: statuses follow.
func (w *StatusWriter) SetTable(*router.Table) { w.Kick() }

// Kick asks for statuses to be written now. It never blocks.
func (w *StatusWriter) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run writes statuses read from cp on every Kick until ctx ends.
func (w *StatusWriter) Run(ctx context.Context, cp lister) {
	w.cp = cp
	resync := time.NewTicker(ResyncInterval)
	defer resync.Stop()
	// Triggers' counters and lag change with every event: they are
	// written at this pace rather than on each change.
	tick := time.NewTicker(TriggerStatusInterval)
	defer tick.Stop()
	retry := time.NewTimer(0)
	<-retry.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-retry.C:
		case <-tick.C:
		case <-resync.C:
			clear(w.last)
		}
		if !w.writeAll() {
			retry.Reset(time.Second)
		}
	}
}

// triggerLister is the control plane again, when it runs triggers.
type triggerLister interface {
	Triggers(namespace string) []*api.Trigger
}

// writeAll writes every status that changed; false if one failed.
func (w *StatusWriter) writeAll() bool {
	ok := true
	present := map[string]bool{}
	write := func(gvr schema.GroupVersionResource, namespace, name string, uid types.UID, status any) {
		key := gvr.Resource + "/" + namespace + "/" + name
		present[key] = true
		b, err := json.Marshal(status)
		if err != nil || w.last[key] == string(b) {
			return
		}
		if err := w.write(gvr, namespace, name, uid, status); err != nil {
			if !apierrors.IsNotFound(err) && !errors.Is(err, errReplaced) {
				w.log.Warn("writing a status", zap.String("object", key), zap.Error(err))
				ok = false
			}
			return
		}
		w.last[key] = string(b)
	}
	for _, fn := range w.cp.Functions("") {
		write(Functions, fn.Namespace, fn.Name, fn.UID, fn.Status)
	}
	if tl, runs := w.cp.(triggerLister); runs {
		for _, t := range tl.Triggers("") {
			write(Triggers, t.Namespace, t.Name, t.UID, t.Status)
		}
	}
	for k := range w.last {
		if !present[k] {
			delete(w.last, k)
		}
	}
	return ok
}

// Write replaces a function's status.
func (w *StatusWriter) Write(namespace, name string, st api.FunctionStatus) error {
	return w.write(Functions, namespace, name, "", st)
}

// errReplaced: the object of that name is not the one the status is of
// (deleted and created again); the control plane hears of it next.
var errReplaced = errors.New("the object was replaced")

// write replaces an object's status: read, set, write back, again on a
// conflict. A replace rather than a merge patch, so that what the new
// status leaves out (a finished rollout, a tag no longer routed) goes.
func (w *StatusWriter) write(gvr schema.GroupVersionResource, namespace, name string, uid types.UID, st any) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	var status map[string]any
	if err := json.Unmarshal(b, &status); err != nil {
		return err
	}
	res := w.store.client.Resource(gvr).Namespace(namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c, cancel := ctx()
		defer cancel()
		obj, err := res.Get(c, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if uid != "" && obj.GetUID() != uid {
			return errReplaced
		}
		obj.Object["status"] = status
		_, err = res.UpdateStatus(c, obj, metav1.UpdateOptions{})
		return err
	})
}
