package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/rollout"
)

// Progressive rollouts. A function whose metadata sets
// serving.knative.dev/rollout-duration does not hand its latest-revision
// traffic to a new revision at once: when the new revision is ready (its
// first instance warmed up), a rollout starts at 1% and moves in steps,
// each judged against the revision it replaces (package rollout). The
// rollouts live in memory under rolloutMu, and their status is stored with
// the function so that a restart resumes them.
//
// Lock order: publishMu, then rolloutMu, then writeMu, then mu. No lock is
// held while the store is written but writeMu and mu.

// annotationsPath is where a function's own annotations are.
var annotationsPath = field.NewPath("metadata", "annotations")

// rolloutConfig reads a function's rollout settings; they were validated
// on apply, so a problem here means none.
func rolloutConfig(fn *api.Function) rollout.Config {
	cfg, errs := rollout.ParseConfig(fn.Annotations, annotationsPath)
	if len(errs) > 0 {
		return rollout.Config{}
	}
	return cfg
}

// samplesOf reads the activator's counters of a namespace's revisions.
func (c *ControlPlane) samplesOf(namespace string) rollout.Samples {
	return func(rev string) rollout.Sample {
		o := c.opts.Activator.Outcomes(api.RevisionKey{Namespace: namespace, Name: rev})
		return rollout.Sample{Requests: o.Requests, Errors: o.Errors, Latency: o.Latency}
	}
}

// resumeRollouts takes up the rollouts stored with the functions, at
// Start.
func (c *ControlPlane) resumeRollouts(fns []*api.Function) {
	c.rolloutMu.Lock()
	defer c.rolloutMu.Unlock()
	now := c.clock.Now()
	for _, fn := range fns {
		if st := fn.Status.Rollout; st != nil {
			c.rollouts[fn.Key()] = rollout.Resume(rolloutConfig(fn), *st, now, c.samplesOf(fn.Namespace))
		}
	}
}

// startRolloutsLocked starts a rollout for every function with one
// configured whose latest ready revision is new: neither the canary nor
// the stable revision of its last rollout. It returns the functions whose
// rollout changed. The caller holds rolloutMu.
func (c *ControlPlane) startRolloutsLocked() []api.FunctionKey {
	now := c.clock.Now()
	var changed []api.FunctionKey
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, fn := range c.fns {
		cfg := rolloutConfig(fn)
		ro := c.rollouts[key]
		if ro != nil {
			ro.SetConfig(cfg)
		}
		if !cfg.Enabled() {
			if ro != nil && ro.Active() {
				ro.Supersede(now, "rollout-duration was removed: the latest revision")
				changed = append(changed, key)
			}
			continue
		}
		revs := c.revisionsOfLocked(key)
		var ready, previous *api.Revision
		for _, r := range revs { // oldest first
			if api.IsReady(r.Status.Conditions) {
				previous, ready = ready, r
			}
		}
		if ready == nil {
			continue
		}
		var stable string
		switch {
		case ro == nil && previous == nil:
			continue // the first revision: nothing to roll from
		case ro == nil:
			stable = previous.Name
		default:
			st := ro.Status()
			if st.Canary == ready.Name || st.Stable == ready.Name {
				continue
			}
			stable = st.Stable
			if st.Phase == api.RolloutSucceeded {
				stable = st.Canary
			}
		}
		if c.revs[api.RevisionKey{Namespace: key.Namespace, Name: stable}] == nil {
			continue // the stable revision is gone: nothing to roll back to
		}
		if ro != nil {
			ro.Supersede(now, ready.Name)
		}
		c.rollouts[key] = rollout.Start(cfg, stable, ready.Name, now, c.samplesOf(key.Namespace))
		c.log.Info("rollout started", zap.String("function", key.String()), zap.String("stable", stable), zap.String("canary", ready.Name))
		changed = append(changed, key)
	}
	return changed
}

// StepRollouts moves every rollout on: a step whose time has come is
// analysed and taken, held, or rolled back. wake serve calls it every
// second.
func (c *ControlPlane) StepRollouts() {
	c.rolloutMu.Lock()
	changed := c.startRolloutsLocked()
	now := c.clock.Now()
	for key, ro := range c.rollouts {
		if ro.Tick(now) {
			changed = append(changed, key)
			st := ro.Status()
			c.log.Info("rollout", zap.String("function", key.String()), zap.String("phase", st.Phase),
				zap.Int64("canaryPercent", st.CanaryPercent), zap.String("reason", st.Reason), zap.String("message", st.Message))
		}
	}
	c.rolloutMu.Unlock()
	if len(changed) > 0 {
		c.saveRollouts(changed)
		c.publishRoutes()
	}
}

// saveRollouts stores the rollouts of keys with their functions.
func (c *ControlPlane) saveRollouts(keys []api.FunctionKey) {
	c.rolloutMu.Lock()
	status := map[api.FunctionKey]*api.RolloutStatus{}
	for _, k := range keys {
		if ro := c.rollouts[k]; ro != nil {
			st := ro.Status()
			status[k] = &st
		}
	}
	c.rolloutMu.Unlock()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	var fns []*api.Function
	for k, st := range status {
		stored, ok := c.fns[k]
		if !ok {
			continue // deleted meanwhile
		}
		fn := stored.DeepCopy()
		fn.Status.Rollout = st
		c.fns[k] = fn
		fns = append(fns, fn)
	}
	c.mu.Unlock()
	err := c.opts.Store.Update(func(tx Tx) error {
		for _, fn := range fns {
			if err := tx.PutFunction(fn); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.log.Error("saving rollout status", zap.Error(err))
	}
}

// forgetRollout drops a deleted function's rollout.
func (c *ControlPlane) forgetRollout(key api.FunctionKey) {
	c.rolloutMu.Lock()
	delete(c.rollouts, key)
	c.rolloutMu.Unlock()
}

// RolloutAction is what `wake rollout` asks of a rollout.
type RolloutAction string

// The actions.
const (
	RolloutPause  RolloutAction = "pause"
	RolloutResume RolloutAction = "resume"
	RolloutAbort  RolloutAction = "abort"
)

// ErrConflict is returned for an action the resource's state does not
// allow, such as pausing a rollout that is over.
var ErrConflict = errors.New("conflict")

// conflict is an error that is ErrConflict without saying so in its text.
type conflict struct{ error }

func (e conflict) Unwrap() error        { return e.error }
func (e conflict) Is(target error) bool { return target == ErrConflict }

// Rollout returns a function's rollout status, or ErrNotFound when it
// never had one.
func (c *ControlPlane) Rollout(key api.FunctionKey) (*api.RolloutStatus, error) {
	fn, err := c.Function(key)
	if err != nil {
		return nil, err
	}
	if fn.Status.Rollout == nil {
		return nil, fmt.Errorf("function %s has had no rollout (set %s to roll out new revisions in steps): %w",
			key, rollout.AnnotationDuration, ErrNotFound)
	}
	return fn.Status.Rollout, nil
}

// ActOnRollout pauses, resumes or aborts a function's rollout and returns
// its status.
func (c *ControlPlane) ActOnRollout(key api.FunctionKey, action RolloutAction) (*api.RolloutStatus, error) {
	now := c.clock.Now()
	c.rolloutMu.Lock()
	ro := c.rollouts[key]
	if ro == nil {
		c.rolloutMu.Unlock()
		if _, err := c.Function(key); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("function %s has had no rollout: %w", key, ErrNotFound)
	}
	var err error
	switch action {
	case RolloutPause:
		err = ro.Pause(now)
	case RolloutResume:
		err = ro.Resume(now)
	case RolloutAbort:
		err = ro.Abort(now, "aborted by wake rollout abort")
	default:
		err = fmt.Errorf("unknown rollout action %q (want pause, resume or abort)", action)
	}
	st := ro.Status()
	c.rolloutMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("function %s: cannot %s: %w", key, action, conflict{err})
	}
	c.log.Info("rollout "+string(action), zap.String("function", key.String()), zap.String("phase", st.Phase))
	c.saveRollouts([]api.FunctionKey{key})
	c.publishRoutes()
	return &st, nil
}

// rolloutSplit is how a function's latest-revision share divides while a
// rollout holds it.
type rolloutSplit struct {
	stable, canary string
	percent        int64 // the canary's part, 0..100
	active         bool  // progressing or paused: the pin aliases apply
}

// splitOf returns the split a stored rollout status puts on the latest
// revision ready, or false when the latest revision takes its share whole.
func splitOf(st *api.RolloutStatus, latestReady string) (rolloutSplit, bool) {
	if st == nil || st.Canary != latestReady {
		return rolloutSplit{}, false
	}
	s := rolloutSplit{stable: st.Stable, canary: st.Canary}
	switch st.Phase {
	case api.RolloutProgressing, api.RolloutPaused:
		s.percent, s.active = st.CanaryPercent, true
	case api.RolloutSucceeded, api.RolloutSuperseded:
		return rolloutSplit{}, false
	default: // rolled back or aborted: the canary gets nothing
	}
	return s, true
}

// rolloutTick is how often RunRollouts moves rollouts on.
const rolloutTick = time.Second

// RunRollouts calls StepRollouts every second until ctx ends. The ticker
// only sets the pace: every decision reads the control plane's clock.
func (c *ControlPlane) RunRollouts(ctx context.Context) {
	t := time.NewTicker(rolloutTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.StepRollouts()
		}
	}
}

// checkFunctionAnnotations validates the annotations on a function's own
// metadata that the control plane reads: the rollout settings and sticky
// sessions.
func checkFunctionAnnotations(fn *api.Function) field.ErrorList {
	_, errs := rollout.ParseConfig(fn.Annotations, annotationsPath)
	if v, ok := fn.Annotations[AnnotationStickySessions]; ok && v != "true" && v != "false" {
		errs = append(errs, field.Invalid(annotationsPath.Key(AnnotationStickySessions), v, `want "true" or "false"`))
	}
	return errs
}
