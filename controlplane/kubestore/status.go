package kubestore

import (
	"context"
	"encoding/json"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	last map[api.FunctionKey]string // status JSON last written; Run's goroutine only
}

// ResyncInterval is how often StatusWriter rewrites statuses that did not
// change, in case one was lost.
const ResyncInterval = 30 * time.Second

// NewStatusWriter returns a StatusWriter; Run writes.
func NewStatusWriter(store *Store, log *zap.Logger) *StatusWriter {
	if log == nil {
		log = zap.NewNop()
	}
	return &StatusWriter{store: store, log: log, kick: make(chan struct{}, 1), last: map[api.FunctionKey]string{}}
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
	retry := time.NewTimer(0)
	<-retry.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-retry.C:
		case <-resync.C:
			clear(w.last)
		}
		if !w.writeAll() {
			retry.Reset(time.Second)
		}
	}
}

// writeAll writes every status that changed; false if one failed.
func (w *StatusWriter) writeAll() bool {
	ok := true
	present := map[api.FunctionKey]bool{}
	for _, fn := range w.cp.Functions("") {
		key := fn.Key()
		present[key] = true
		b, err := json.Marshal(fn.Status)
		if err != nil || w.last[key] == string(b) {
			continue
		}
		if err := w.Write(fn.Namespace, fn.Name, fn.Status); err != nil {
			if !apierrors.IsNotFound(err) {
				w.log.Warn("writing a function's status", zap.String("function", key.String()), zap.Error(err))
				ok = false
			}
			continue
		}
		w.last[key] = string(b)
	}
	for k := range w.last {
		if !present[k] {
			delete(w.last, k)
		}
	}
	return ok
}

// Write replaces a function's status: read, set, write back, again on a
// conflict. A replace rather than a merge patch, so that what the new
// status leaves out (a finished rollout, a tag no longer routed) goes.
func (w *StatusWriter) Write(namespace, name string, st api.FunctionStatus) error {
	m, err := toUnstructured(&api.Function{Status: st})
	if err != nil {
		return err
	}
	status := m.Object["status"]
	res := w.store.client.Resource(Functions).Namespace(namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c, cancel := ctx()
		defer cancel()
		obj, err := res.Get(c, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		obj.Object["status"] = status
		_, err = res.UpdateStatus(c, obj, metav1.UpdateOptions{})
		return err
	})
}
