package controlplane

import (
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	act "github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
)

// The read side: functions and revisions with their live status, as the
// admin API, the CLI and the console see them.

// Function returns a function with its status, or ErrNotFound.
func (c *ControlPlane) Function(key api.FunctionKey) (*api.Function, error) {
	rollouts := c.rolloutStatus()
	c.mu.Lock()
	defer c.mu.Unlock()
	fn, ok := c.fns[key]
	if !ok {
		return nil, fmt.Errorf("function %s: %w", key, ErrNotFound)
	}
	return c.withStatusLocked(fn, rollouts[key]), nil
}

// Functions lists the functions of a namespace ("" for all), by name.
func (c *ControlPlane) Functions(namespace string) []*api.Function {
	fns, _, _ := c.FunctionsPage(namespace, ListOptions{}) // the zero options cannot be refused
	return fns
}

// Revision returns a revision with its status, or ErrNotFound; decisions
// adds the autoscaler's recent decisions to it.
func (c *ControlPlane) Revision(key api.RevisionKey, decisions bool) (*api.Revision, error) {
	c.mu.Lock()
	rev, ok := c.revs[key]
	if ok {
		rev = c.revisionWithStatusLocked(rev)
	}
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("revision %s: %w", key, ErrNotFound)
	}
	c.setAutoscaling(rev, decisions)
	if decisions {
		rev.Status.ColdStarts = coldStarts(c.opts.Activator.ColdStarts(key))
	}
	return rev, nil
}

// coldStarts converts the activator's cold-start records for the API.
func coldStarts(cs []act.ColdStart) []api.ColdStart {
	if len(cs) == 0 {
		return nil
	}
	out := make([]api.ColdStart, len(cs))
	d := func(v time.Duration) metav1.Duration { return metav1.Duration{Duration: v} }
	for i, c := range cs {
		out[i] = api.ColdStart{
			Time: metav1.NewMicroTime(c.Time), Instance: c.Instance,
			Queue: d(c.Queue), Start: d(c.Start), Ready: d(c.Ready), Warmup: d(c.Warmup), Total: d(c.Total),
			Create: createOf(c.Create),
		}
	}
	return out
}

// setAutoscaling fills in the autoscaler's count and view. Outside c.mu:
// the control plane holds no lock while calling into another package.
func (c *ControlPlane) setAutoscaling(rev *api.Revision, decisions bool) {
	st, ok := c.opts.Autoscaler.Status(rev.Key(), decisions)
	if !ok {
		return
	}
	rev.Status.DesiredReplicas = int32(st.Desired)
	as := &api.AutoscalingStatus{
		Metric: st.Spec.Metric, Target: st.Spec.TargetValue, Panic: st.Panicking,
		ObservedStable: st.Stable, ObservedPanic: st.Panic,
	}
	if !st.Last.At.IsZero() {
		d := scalingDecision(st.Last)
		as.LastDecision = &d
	}
	for _, d := range st.History {
		as.Decisions = append(as.Decisions, scalingDecision(d))
	}
	for _, p := range st.Trace {
		as.Trace = append(as.Trace, api.ScalingPoint{Time: metav1.NewMicroTime(p.At), Stable: p.Stable, Panic: p.Panic,
			Desired: int32(p.Desired), Ready: int32(p.Ready), Panicking: p.Panicking})
	}
	if decisions {
		sp := st.Spec
		as.Settings = &api.AutoscalingSettings{
			TargetPerInstance: sp.Target, StableWindow: metav1.Duration{Duration: sp.StableWindow},
			PanicWindow: metav1.Duration{Duration: sp.PanicWindow}, PanicThresholdPercentage: sp.PanicThreshold * 100,
			MaxScaleUpRate: sp.MaxScaleUpRate, MaxScaleDownRate: sp.MaxScaleDownRate,
			ScaleDownDelay: metav1.Duration{Duration: sp.ScaleDownDelay}, MinScale: int32(sp.MinScale),
			MaxScale: int32(sp.MaxScale), InitialScale: int32(sp.InitialScale), ActivationScale: int32(sp.ActivationScale),
			ScaleToZero: sp.ScaleToZero, ScaleToZeroAfter: metav1.Duration{Duration: sp.ScaleToZeroAfter()},
			MinScaleSchedule: sp.MinScaleSchedule.String(), EffectiveMinScale: int32(st.EffectiveMinScale),
		}
	}
	rev.Status.Autoscaling = as
}

func scalingDecision(d autoscaler.Decision) api.ScalingDecision {
	return api.ScalingDecision{
		Time: metav1.NewMicroTime(d.At), From: int32(d.Previous), To: int32(d.Desired),
		Ready: int32(d.Ready), Panic: d.Panicking, Reason: d.Reason(),
	}
}

// initialScale is how many instances a new revision starts with.
func (c *ControlPlane) initialScale(rev *api.Revision) int {
	return c.opts.Autoscaler.Spec(rev).InitialScale
}

// Revisions lists revisions of a namespace ("" for all), optionally of one
// function, by function then age.
func (c *ControlPlane) Revisions(namespace, function string) []*api.Revision {
	out := c.revisions(namespace, function)
	for _, r := range out {
		c.setAutoscaling(r, false)
	}
	return out
}

func (c *ControlPlane) revisions(namespace, function string) []*api.Revision {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*api.Revision
	for _, fn := range c.sortedFunctionKeysLocked() {
		if (namespace != "" && fn.Namespace != namespace) || (function != "" && fn.Name != function) {
			continue
		}
		for _, r := range c.revisionsOfLocked(fn) {
			out = append(out, c.revisionWithStatusLocked(r))
		}
	}
	return out
}

func (c *ControlPlane) sortedFunctionKeysLocked() []api.FunctionKey {
	keys := make([]api.FunctionKey, 0, len(c.fns))
	for k := range c.fns {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// withStatusLocked returns a copy of fn with its status derived from its
// revisions: status is never stored, so it cannot drift from them.
func (c *ControlPlane) withStatusLocked(stored *api.Function, ro *api.RolloutStatus) *api.Function {
	fn := stored.DeepCopy()
	if ro == nil {
		ro = fn.Status.Rollout
	}
	revs := c.revisionsOfLocked(fn.Key())
	created, ready := latest(revs)
	_, traffic := resolveTraffic(fn, revs, ro, c.url)
	fn.Status = api.FunctionStatus{
		ObservedGeneration: fn.Generation,
		URL:                c.url(fn.Key()),
		Traffic:            traffic,
		Rollout:            ro,
	}
	cond := api.Condition{Type: api.ConditionReady, Status: api.ConditionUnknown, Reason: "Deploying"}
	if created != nil {
		fn.Status.LatestCreatedRevisionName = created.Name
		if rc := api.GetCondition(created.Status.Conditions, api.ConditionReady); rc != nil {
			cond = api.Condition{Type: api.ConditionReady, Status: rc.Status, Reason: rc.Reason, Message: rc.Message,
				LastTransitionTime: rc.LastTransitionTime}
			if rc.Status == api.ConditionFalse {
				cond.Message = fmt.Sprintf("revision %s failed: %s", created.Name, rc.Message)
			}
		}
	}
	if ready != nil {
		fn.Status.LatestReadyRevisionName = ready.Name
	}
	if rc := c.rejectedConditionLocked(fn); rc != nil {
		cond = *rc
	}
	fn.Status.Conditions = []api.Condition{cond}
	return fn
}

func (c *ControlPlane) revisionWithStatusLocked(stored *api.Revision) *api.Revision {
	rev := stored.DeepCopy()
	rev.Status.ActualReplicas = int32(len(c.state[rev.Key()].Ready))
	if gc := c.gcAnnotationLocked(rev.Key()); gc != "" {
		if rev.Annotations == nil {
			rev.Annotations = map[string]string{}
		}
		rev.Annotations[AnnotationGC] = gc
	}
	return rev
}

// createOf is a cold start's create phase, shown only for containers.
func createOf(d time.Duration) *metav1.Duration {
	if d == 0 {
		return nil
	}
	return &metav1.Duration{Duration: d}
}
