package controlplane

import (
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// Runtime reports: what the runtime says of a revision's instances
// becomes the revision's status (conditions, pinned image digest, last
// termination), stored, and the routes when its readiness changed.

// Update receives the runtime's report on a revision (runtime.Observer).
// The activator hears first: a held request is waiting on it. Then the
// revision's conditions follow, and the routes when its readiness changed.
func (c *ControlPlane) Update(key api.RevisionKey, s runtime.State) {
	c.opts.Activator.Update(key, s)
	defer c.changed()

	c.mu.Lock()
	rev, ok := c.revs[key]
	if !ok {
		c.mu.Unlock()
		return
	}
	c.state[key] = s
	conds, readyChanged := observe(rev.Status.Conditions, s, c.now())
	digest, lastExit := imageDigest(rev, s), lastTermination(rev, s)
	c.mu.Unlock()
	if conds == nil && digest == "" && lastExit == nil {
		return
	}

	// Under writeMu, and only if the revision is still there: a report
	// racing a delete must not write the revision back.
	c.writeMu.Lock()
	c.mu.Lock()
	rev, ok = c.revs[key]
	var next *api.Revision
	if ok {
		next = rev.DeepCopy()
		if conds != nil {
			next.Status.Conditions = conds
		}
		if digest != "" {
			next.Status.ImageDigest = digest
		}
		if lastExit != nil {
			next.Status.LastTermination = lastExit
		}
		c.putRevisionLocked(next)
	}
	c.mu.Unlock()
	if ok {
		if err := c.opts.Store.Update(func(tx Tx) error { return tx.PutRevision(next) }); err != nil {
			c.log.Error("saving revision status", zap.String("revision", key.String()), zap.Error(err))
		}
	}
	c.writeMu.Unlock()
	if ok && readyChanged {
		ready := api.GetCondition(conds, api.ConditionReady)
		c.log.Info("revision readiness", zap.String("revision", key.String()),
			zap.String("ready", string(ready.Status)), zap.String("reason", ready.Reason))
		c.publishRoutes()
	}
}

// imageDigest is the digest a report pins rev to, when rev's status does
// not say it yet; "" otherwise.
func imageDigest(rev *api.Revision, s runtime.State) string {
	if s.Image == nil || s.Image.Digest == "" || s.Image.Digest == rev.Status.ImageDigest {
		return ""
	}
	return s.Image.Digest
}

// lastTermination is the instance exit a report tells of, when rev's
// status does not hold it yet; nil otherwise.
func lastTermination(rev *api.Revision, s runtime.State) *api.Termination {
	f := s.LastExit
	if f == nil {
		return nil
	}
	if t := rev.Status.LastTermination; t != nil && t.Time.Equal(&metav1.Time{Time: f.At}) && t.Reason == f.Reason {
		return nil
	}
	return &api.Termination{Reason: f.Reason, Message: f.Message, Time: metav1.NewTime(f.At)}
}
