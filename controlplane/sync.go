package controlplane

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
)

// This file is the control plane's entry for functions it does not store
// itself: in Kubernetes mode users write Function objects with kubectl,
// and the controller hands each one here as its informer sees it. The
// rules are Apply's (planRevision, resolveTraffic, rollouts); only what
// the control plane may write differs (Options.ExternalSpec).

// SyncFunction takes a function as its owner wrote it: a new revision
// when its template changed, its traffic, its rollout settings. A
// function the rules refuse (a revision name another function owns, a
// traffic target naming no revision) keeps serving as it was last
// accepted, and its status says why its latest generation was not: the
// error is an api.Errors. Any other error is the store's, worth a retry.
func (c *ControlPlane) SyncFunction(ctx context.Context, fn *api.Function) error {
	fn = fn.DeepCopy()
	fn.SetDefaults()
	errs := fn.Validate(api.ValidateOptions{})
	errs = append(errs, checkFunctionAnnotations(fn)...)
	var err error
	if len(errs) > 0 {
		err = api.NewErrors(errs)
	} else {
		_, _, err = c.apply(ctx, []*api.Function{fn}, nil, func(_ int, errs field.ErrorList) api.Errors { return api.NewErrors(errs) })
	}
	var invalid api.Errors
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		delete(c.rejected, fn.Key())
	case errors.As(err, &invalid):
		c.rejected[fn.Key()] = rejection{generation: fn.Generation, message: invalid.Error()}
	}
	return err
}

// SyncTrigger takes a trigger as its owner wrote it, and runs it (again,
// when its spec changed). A trigger that does not validate is an
// api.Errors and is not run; the one that ran before keeps running.
func (c *ControlPlane) SyncTrigger(ctx context.Context, t *api.Trigger) error {
	if c.opts.Triggers == nil {
		return errors.New("this controller runs no triggers")
	}
	t = t.DeepCopy()
	t.SetDefaults()
	if errs := t.Validate(); len(errs) > 0 {
		return api.NewErrors(errs)
	}
	_, _, err := c.apply(ctx, nil, []*api.Trigger{t}, func(_ int, errs field.ErrorList) api.Errors { return api.NewErrors(errs) })
	return err
}

// rejection is why a function's latest generation was not applied.
type rejection struct {
	generation int64
	message    string
}

// rejectedConditionLocked is the Ready condition of a function whose
// latest generation was refused while an older one serves, or nil.
func (c *ControlPlane) rejectedConditionLocked(fn *api.Function) *api.Condition {
	r, ok := c.rejected[fn.Key()]
	if !ok || r.generation <= fn.Generation {
		return nil
	}
	return &api.Condition{
		Type: api.ConditionReady, Status: api.ConditionFalse, Reason: ReasonRejected,
		Message: fmt.Sprintf("generation %d was not applied, generation %d still serves: %s", r.generation, fn.Generation, r.message),
	}
}

// RejectedStatus is the status of a function the control plane has never
// accepted a generation of: Ready False, with why.
func RejectedStatus(fn *api.Function, err error) api.FunctionStatus {
	return api.FunctionStatus{
		Conditions: []api.Condition{{
			Type: api.ConditionReady, Status: api.ConditionFalse, Reason: ReasonRejected,
			Message: fmt.Sprintf("generation %d was not applied: %v", fn.Generation, err),
		}},
	}
}

// ReasonRejected is the Ready reason of a function whose latest spec the
// control plane refused.
const ReasonRejected = "Rejected"

// functionOwnerRef makes a revision owned by its function object, so that
// Kubernetes deletes it (and through it its Deployment) with the function.
func functionOwnerRef(fn *api.Function) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{
		APIVersion: api.APIVersion, Kind: api.KindFunction, Name: fn.Name, UID: fn.UID,
		Controller: &yes, BlockOwnerDeletion: &yes,
	}
}
