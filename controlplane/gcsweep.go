package controlplane

import (
	"context"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
)

// This file runs the revision collector (gc.go) and retires revisions:
// a revision that no route sends traffic to or names with a tag, and that
// has scaled to zero, keeps only its metadata. The activator and the
// autoscaler forget it (its queue, windows and series go) and the
// runtime keeps no goroutine for it; the next route that names it brings
// it back, cold, before the route is published.

// DefaultRevisionGCInterval is how often RunRevisionGC sweeps. A revision
// unrouted at one sweep and still so at zero at the next is retired, so
// retiring takes one to two intervals; collecting is decided to the
// interval, well inside Knative's hours.
const DefaultRevisionGCInterval = time.Minute

// RunRevisionGC calls SweepRevisions every interval (0 means
// DefaultRevisionGCInterval) until ctx ends.
func (c *ControlPlane) RunRevisionGC(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultRevisionGCInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.SweepRevisions(ctx)
		}
	}
}

// gcConfig is the server's collector settings.
func (c *ControlPlane) gcConfig() api.RevisionGC {
	if c.opts.RevisionGC != nil {
		return *c.opts.RevisionGC
	}
	return api.DefaultRevisionGC
}

// gcAnnotationsPath is where a function's GC overrides are.
var gcAnnotationsPath = field.NewPath("metadata", "annotations")

// sweepPlan is what one sweep found to do.
type sweepPlan struct {
	relabel map[api.RevisionKey]string // routing state changed to this
	retire  []api.RevisionKey
	collect []api.RevisionKey
	verdict map[api.RevisionKey]gcVerdict
}

// SweepRevisions does one pass: it records each revision's routing state
// (Knative's serving.knative.dev/routingState label and
// routingStateModified annotation, stored, so that last activity outlives
// a restart), retires the revisions that were already unrouted at the
// previous pass and are at zero, and deletes what the collector decides.
func (c *ControlPlane) SweepRevisions(ctx context.Context) {
	now := c.clock.Now()
	plan := c.planSweep(now)
	c.saveRoutingStates(plan.relabel, now)
	for _, k := range plan.retire {
		c.opts.Autoscaler.Forget(k)
		c.opts.Activator.Unregister(k)
		if rt, ok := c.opts.Runtime.(retirer); ok && !rt.Retire(k) {
			c.unretire(k) // an instance came meanwhile: it stays managed
		}
	}
	if len(plan.retire) > 0 {
		c.log.Info("revisions retired", zap.Int("revisions", len(plan.retire)))
	}
	if len(plan.collect) > 0 {
		c.collect(ctx, plan.collect)
	}
	c.mu.Lock()
	c.gcVerdicts = plan.verdict
	c.mu.Unlock()
	if len(plan.relabel)+len(plan.collect) > 0 {
		c.changed()
	}
}

// planSweep decides, from memory, what a sweep at now does.
func (c *ControlPlane) planSweep(now time.Time) sweepPlan {
	rollouts := c.rolloutStatus()
	base := c.gcConfig()
	c.mu.Lock()
	defer c.mu.Unlock()
	p := sweepPlan{relabel: map[api.RevisionKey]string{}, verdict: map[api.RevisionKey]gcVerdict{}}
	for key, fn := range c.fns {
		revs := c.revisionsOfLocked(key)
		why := activeRevisions(fn, revs, rollouts[key])
		cfg, _ := api.ParseRevisionGC(fn.Annotations, base, gcAnnotationsPath) // validated on apply
		cands := make([]gcCandidate, len(revs))
		retire := make([]bool, len(revs))
		for i, r := range revs {
			rk := r.Key()
			routed := why[r.Name] != "" && why[r.Name] != "latest"
			state, was := RoutingStateReserve, r.Labels[LabelRoutingState]
			if routed {
				state = RoutingStateActive
			}
			lastActive := routingStateModified(r)
			if state != was {
				p.relabel[rk] = state
				lastActive = now
			}
			if routed {
				lastActive = now
			}
			s := c.state[rk]
			instances := len(s.Ready) > 0 || s.Starting > 0 || s.Desired > 0
			active := why[r.Name]
			switch {
			case active != "":
			case instances:
				active = "instances"
			case r.NoGC():
				active = "no-gc"
			}
			// Retired: unrouted at the previous sweep already (a request
			// the router sent before it was unrouted has long arrived),
			// at zero, and not the latest (whose first instance may be
			// on its way).
			retire[i] = why[r.Name] == "" && !instances && was == RoutingStateReserve && !c.retired[rk]
			cands[i] = gcCandidate{name: r.Name, created: r.CreationTimestamp.Time, lastActive: lastActive, active: active}
		}
		for i, v := range planGC(now, cfg, cands) {
			k := revs[i].Key()
			p.verdict[k] = v
			switch {
			case v.collect:
				p.collect = append(p.collect, k)
			case retire[i]:
				p.retire = append(p.retire, k)
				c.retired[k] = true
			}
		}
	}
	return p
}

// activeRevisions says, by name, why each of a function's revisions is
// active: a route sends it traffic or names it with a tag, a rollout in
// progress pins it, or it is the latest (created or ready).
func activeRevisions(fn *api.Function, revs []*api.Revision, ro *api.RolloutStatus) map[string]string {
	why := map[string]string{}
	route, _ := resolveTraffic(fn, revs, ro, nil)
	for _, t := range route.Targets {
		switch {
		case t.Percent > 0:
			why[t.Revision] = "traffic"
		case t.Tag != "" && why[t.Revision] == "":
			why[t.Revision] = "tag"
		}
	}
	if ro != nil && (ro.Phase == api.RolloutProgressing || ro.Phase == api.RolloutPaused) {
		for _, n := range []string{ro.Stable, ro.Canary} {
			if n != "" && why[n] == "" {
				why[n] = "rollout"
			}
		}
	}
	created, ready := latest(revs)
	for _, r := range []*api.Revision{created, ready} {
		if r != nil && why[r.Name] == "" {
			why[r.Name] = "latest"
		}
	}
	return why
}

// routingStateModified is when a revision's routing state last changed,
// its creation when never recorded.
func routingStateModified(r *api.Revision) time.Time {
	if t, err := time.Parse(time.RFC3339, r.Annotations[AnnotationRoutingStateModified]); err == nil {
		return t
	}
	return r.CreationTimestamp.Time
}

// saveRoutingStates records the routing states that changed, in one
// store transaction; a revision deleted meanwhile is left alone.
func (c *ControlPlane) saveRoutingStates(states map[api.RevisionKey]string, now time.Time) {
	if len(states) == 0 {
		return
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	next := make([]*api.Revision, 0, len(states))
	for k, st := range states {
		cur, ok := c.revs[k]
		if !ok {
			continue
		}
		r := cur.DeepCopy()
		if r.Labels == nil {
			r.Labels = map[string]string{}
		}
		if r.Annotations == nil {
			r.Annotations = map[string]string{}
		}
		r.Labels[LabelRoutingState] = st
		r.Annotations[AnnotationRoutingStateModified] = now.UTC().Format(time.RFC3339)
		next = append(next, r)
	}
	c.mu.Unlock()
	err := c.opts.Store.Update(func(tx Tx) error {
		for _, r := range next {
			if err := tx.PutRevision(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.log.Error("saving routing states", zap.Int("revisions", len(next)), zap.Error(err))
		return
	}
	c.mu.Lock()
	for _, r := range next {
		if _, ok := c.revs[r.Key()]; ok {
			c.putRevisionLocked(r)
		}
	}
	c.mu.Unlock()
}

// collect deletes revisions the collector chose: from the store and
// memory first, then from the autoscaler, runtime (instances, none for a
// non-active revision, and logs) and activator.
func (c *ControlPlane) collect(ctx context.Context, keys []api.RevisionKey) {
	c.writeMu.Lock()
	err := c.opts.Store.Update(func(tx Tx) error {
		for _, k := range keys {
			if err := tx.DeleteRevision(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.writeMu.Unlock()
		c.log.Error("collecting revisions", zap.Int("revisions", len(keys)), zap.Error(err))
		return
	}
	c.mu.Lock()
	for _, k := range keys {
		c.deleteRevisionLocked(k)
		delete(c.state, k)
		delete(c.retired, k)
	}
	c.mu.Unlock()
	c.writeMu.Unlock()
	for _, k := range keys {
		c.opts.Autoscaler.Forget(k)
		if err := c.opts.Runtime.Remove(context.WithoutCancel(ctx), k); err != nil {
			c.log.Warn("removing a collected revision", zap.String("revision", k.String()), zap.Error(err))
		}
		c.opts.Activator.Unregister(k)
		c.log.Info("revision collected", zap.String("revision", k.String()))
	}
}

// reviveLocked takes the retired revisions that routes name out of
// retirement and returns them, for publishRoutes to activate before it
// publishes the routes.
func (c *ControlPlane) reviveLocked(targets func(yield func(api.RevisionKey) bool)) []*api.Revision {
	if len(c.retired) == 0 {
		return nil
	}
	var out []*api.Revision
	targets(func(k api.RevisionKey) bool {
		if c.retired[k] {
			delete(c.retired, k)
			if r, ok := c.revs[k]; ok {
				out = append(out, r)
			}
		}
		return true
	})
	return out
}

// retirer is a runtime that can forget a revision at rest and keep its
// logs (runtime/process): a retired revision then costs it nothing.
// Deploy brings it back.
type retirer interface {
	Retire(api.RevisionKey) bool
}

// unretire puts a revision the runtime would not retire back under the
// activator and autoscaler.
func (c *ControlPlane) unretire(k api.RevisionKey) {
	c.mu.Lock()
	r, ok := c.revs[k]
	delete(c.retired, k)
	c.mu.Unlock()
	if ok {
		c.revive([]*api.Revision{r})
	}
}

// revive brings retired revisions back, cold.
func (c *ControlPlane) revive(revs []*api.Revision) {
	for _, r := range revs {
		if err := c.activate(context.Background(), r, autoscaler.UpsertOptions{}); err != nil {
			c.log.Error("reviving a retired revision", zap.String("revision", r.Key().String()), zap.Error(err))
		}
	}
}

// startsRetired reports, at Start, that a revision was retired when the
// server stopped (its routing state is reserve) and so is not brought
// back; routes that name it revive it. A runtime whose instances outlive
// the server (adopter) brings every revision back, to find them.
func (c *ControlPlane) startsRetired(r *api.Revision) bool {
	if _, ok := c.opts.Runtime.(adopter); ok {
		return false
	}
	if r.Labels[LabelRoutingState] != RoutingStateReserve {
		return false
	}
	c.mu.Lock()
	c.retired[r.Key()] = true
	c.mu.Unlock()
	return true
}

// gcAnnotationLocked is what AnnotationGC says of a revision, from the
// latest sweep; "" before the first.
func (c *ControlPlane) gcAnnotationLocked(k api.RevisionKey) string {
	v, ok := c.gcVerdicts[k]
	switch {
	case !ok:
		return ""
	case v.kept != "":
		return "kept: " + v.kept
	case v.collect:
		return "next sweep"
	}
	return v.at.UTC().Format(time.RFC3339)
}
