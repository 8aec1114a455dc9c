package controlplane

import (
	"fmt"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
)

// triggerRunner runs triggers: eventing/triggers in embedded mode.
type triggerRunner interface {
	// Run starts a trigger or updates the running one. Events go to
	// sinkURI; deadLetterURI ("" for none) gets those refused for good.
	// A change of spec.rateLimit alone takes effect without a restart.
	Run(t *api.Trigger, sinkURI, deadLetterURI string) error
	// Stop stops a trigger; deliveries in flight end first.
	Stop(key api.TriggerKey)
	// Status is what the runner observed of a running trigger: counters,
	// lag, fire times.
	Status(key api.TriggerKey) (api.TriggerStatus, bool)
}

// Applied is what an apply stored: every function and trigger of the
// manifests, with their status.
type Applied struct {
	Functions []*api.Function
	Triggers  []*api.Trigger
	// Unchanged are the functions that were stored as the manifests have
	// them already: the apply changed nothing of theirs.
	Unchanged []api.FunctionKey
}

// checkTrigger defaults and validates a document's trigger.
func (c *ControlPlane) checkTrigger(d *api.Document) (*api.Trigger, api.Errors) {
	if c.opts.Triggers == nil {
		return nil, d.Errors(field.ErrorList{field.Forbidden(field.NewPath("kind"), "this server runs no triggers")})
	}
	t := d.Trigger.DeepCopy()
	t.SetDefaults()
	return t, d.Errors(t.Validate())
}

// prepareTriggersLocked sets what the store keeps of each applied trigger:
// its generation (bumped when the spec changes other than the rate limit,
// which a running trigger takes on the fly) and creation time.
func (c *ControlPlane) prepareTriggersLocked(trigs []*api.Trigger) {
	now := c.now()
	for _, t := range trigs {
		if c.opts.ExternalSpec {
			t.Status = api.TriggerStatus{} // Kubernetes keeps the metadata
			continue
		}
		t.Generation, t.CreationTimestamp = 1, now
		t.Status = api.TriggerStatus{}
		prev := c.trigs[t.Key()]
		if prev == nil {
			continue
		}
		t.Generation, t.CreationTimestamp, t.UID = prev.Generation, prev.CreationTimestamp, prev.UID
		a, b := prev.Spec, t.Spec
		a.RateLimit, b.RateLimit = nil, nil
		if !equality.Semantic.DeepEqual(a, b) {
			t.Generation++
		}
	}
}

// runTriggers hands stored triggers to the runner. A trigger the runner
// refuses (a SASL password file that cannot be read, say) stays stored
// and says why in its status.
func (c *ControlPlane) runTriggers(trigs []*api.Trigger) {
	for _, t := range trigs {
		sink, dls := c.sinkURI(t.Namespace, t.Spec.Sink), ""
		if d := t.Spec.Delivery; d != nil && d.DeadLetterSink != nil && d.DeadLetterSink.KafkaTopic == "" {
			dls = c.sinkURI(t.Namespace, d.DeadLetterSink.Sink)
		}
		err := c.opts.Triggers.Run(t.DeepCopy(), sink, dls)
		c.mu.Lock()
		if err != nil {
			c.trigErr[t.Key()] = err.Error()
		} else {
			delete(c.trigErr, t.Key())
		}
		c.mu.Unlock()
		if err != nil {
			c.log.Error("starting a trigger", zap.String("trigger", t.Key().String()), zap.Error(err))
		}
	}
}

// sinkURI is the address of a sink: a function's (or its tag's) URL on the
// router, or the sink's own URI.
func (c *ControlPlane) sinkURI(namespace string, s api.Sink) string {
	if s.Function == "" {
		return s.URI
	}
	name := s.Function
	if s.Tag != "" {
		name = s.Tag + "-" + s.Function
	}
	return c.url(api.FunctionKey{Namespace: namespace, Name: name})
}

// Trigger returns a trigger with its status, or ErrNotFound.
func (c *ControlPlane) Trigger(key api.TriggerKey) (*api.Trigger, error) {
	c.mu.Lock()
	t, ok := c.trigs[key]
	var v triggerView
	if ok {
		v = c.viewLocked(t)
	}
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("trigger %s: %w", key, ErrNotFound)
	}
	return c.withStatus(v), nil
}

// Triggers lists the triggers of a namespace ("" for all), by name.
func (c *ControlPlane) Triggers(namespace string) []*api.Trigger {
	trigs, _, _ := c.TriggersPage(namespace, ListOptions{}) // the zero options cannot be refused
	return trigs
}

// triggerView is what a trigger's status needs from the control plane's
// memory, copied under mu so that the runner is asked outside it (it may
// be busy stopping a consumer).
type triggerView struct {
	t           *api.Trigger
	sinkMissing bool
	startErr    string
}

func (c *ControlPlane) viewLocked(stored *api.Trigger) triggerView {
	v := triggerView{t: stored.DeepCopy(), startErr: c.trigErr[stored.Key()]}
	if fn := stored.Spec.Sink.Function; fn != "" {
		v.sinkMissing = c.fns[api.FunctionKey{Namespace: stored.Namespace, Name: fn}] == nil
	}
	return v
}

// withStatus adds what the runner observed, and a Ready condition saying
// whether events can reach the sink.
func (c *ControlPlane) withStatus(v triggerView) *api.Trigger {
	t := v.t
	if c.opts.Triggers == nil {
		return t
	}
	if st, ok := c.opts.Triggers.Status(t.Key()); ok {
		t.Status = st
	}
	t.Status.ObservedGeneration = t.Generation
	t.Status.SinkURI = c.sinkURI(t.Namespace, t.Spec.Sink)
	ready := api.Condition{Type: api.ConditionReady, Status: api.ConditionTrue}
	switch {
	case v.startErr != "":
		ready = api.Condition{Type: api.ConditionReady, Status: api.ConditionFalse, Reason: "StartFailed", Message: v.startErr}
	case v.sinkMissing:
		ready = api.Condition{Type: api.ConditionReady, Status: api.ConditionFalse, Reason: "SinkNotFound",
			Message: fmt.Sprintf("function %s/%s does not exist; deliveries fail (and are retried) until it does", t.Namespace, t.Spec.Sink.Function)}
	}
	t.Status.Conditions = api.SetCondition(t.Status.Conditions, ready, t.CreationTimestamp)
	return t
}

// SetRateLimit changes a trigger's spec.rateLimit (nil: no limit) and
// stores it, so that it outlives a restart; the running trigger takes it
// without restarting its consumer.
func (c *ControlPlane) SetRateLimit(key api.TriggerKey, perSecond *float64) (*api.Trigger, error) {
	c.writeMu.Lock()
	c.mu.Lock()
	stored, ok := c.trigs[key]
	c.mu.Unlock()
	if !ok {
		c.writeMu.Unlock()
		return nil, fmt.Errorf("trigger %s: %w", key, ErrNotFound)
	}
	t := stored.DeepCopy()
	t.Spec.RateLimit = perSecond
	if errs := t.Validate(); len(errs) > 0 {
		c.writeMu.Unlock()
		return nil, api.NewErrors(errs)
	}
	if err := c.opts.Store.Update(func(tx Tx) error { return tx.PutTrigger(t) }); err != nil {
		c.writeMu.Unlock()
		return nil, fmt.Errorf("saving %s: %w", key, err)
	}
	c.mu.Lock()
	c.trigs[key] = t
	c.mu.Unlock()
	c.writeMu.Unlock()
	c.runTriggers([]*api.Trigger{t})
	return c.Trigger(key)
}

// DeleteTrigger stops a trigger and deletes it. Deliveries in flight
// finish first; a Kafka trigger commits what was delivered.
func (c *ControlPlane) DeleteTrigger(key api.TriggerKey) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	_, ok := c.trigs[key]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("trigger %s: %w", key, ErrNotFound)
	}
	c.opts.Triggers.Stop(key)
	if err := c.opts.Store.Update(func(tx Tx) error { return tx.DeleteTrigger(key) }); err != nil {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	c.mu.Lock()
	delete(c.trigs, key)
	delete(c.trigErr, key)
	c.mu.Unlock()
	c.log.Info("trigger deleted", zap.String("trigger", key.String()))
	return nil
}
