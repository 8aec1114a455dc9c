package controlplane

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/runtime"
)

// ApplyOptions qualify one apply.
type ApplyOptions struct {
	// BaseDir is the directory of the manifests, against which relative
	// command paths resolve when commands run locally. "" leaves them.
	BaseDir string
}

// Apply validates the functions and triggers of the decoded documents and
// stores them with the revisions they create, all or nothing. A problem in
// any document rejects the whole apply; the error is an api.Errors listing
// every problem with its document and line.
func (c *ControlPlane) Apply(ctx context.Context, docs []*api.Document, opts ApplyOptions) (*Applied, error) {
	checked, trigs, problems := c.check(docs)
	if len(problems) > 0 {
		return nil, problems
	}
	fns := make([]*api.Function, len(checked))
	for i, cf := range checked {
		fns[i] = cf.fn
		if c.opts.LocalCommands {
			resolvePaths(cf.fn, opts.BaseDir)
		}
	}
	out, unchanged, err := c.apply(ctx, fns, trigs, func(i int, errs field.ErrorList) api.Errors {
		return checked[i].doc.Errors(errs)
	})
	if err != nil {
		return nil, err
	}
	applied := &Applied{Functions: out, Unchanged: unchanged}
	for _, t := range trigs {
		got, err := c.Trigger(t.Key())
		if err != nil {
			return nil, err
		}
		applied.Triggers = append(applied.Triggers, got)
	}
	return applied, nil
}

// Check defaults and validates the functions and triggers of decoded
// documents, each on its own, and returns every problem found. The admin
// API calls it on the documents that decoded when others did not, so that
// one answer lists every problem.
func (c *ControlPlane) Check(docs []*api.Document) api.Errors {
	_, _, problems := c.check(docs)
	return problems
}

// Problems returns every problem of a manifest's documents: decodeErr,
// what api.Decode returned with them, and validation's of the documents
// that decoded. nil when there is none. A decodeErr that is not an
// api.Errors (the input could not be read at all) is returned as it is.
func (c *ControlPlane) Problems(docs []*api.Document, decodeErr error) error {
	var problems api.Errors
	if decodeErr != nil && !errors.As(decodeErr, &problems) {
		return decodeErr
	}
	problems = append(problems, c.Check(docs)...)
	if len(problems) == 0 {
		return nil
	}
	return problems
}

// checkedFunction is a defaulted, validated copy of a document's function.
type checkedFunction struct {
	fn  *api.Function
	doc *api.Document
}

func (c *ControlPlane) check(docs []*api.Document) ([]checkedFunction, []*api.Trigger, api.Errors) {
	var problems api.Errors
	var out []checkedFunction
	var trigs []*api.Trigger
	seen := map[string]*api.Document{} // kind/namespace/name → where it was defined first
	duplicate := func(d *api.Document, kind, key string) field.ErrorList {
		first, dup := seen[kind+"/"+key]
		seen[kind+"/"+key] = d
		if !dup {
			return nil
		}
		e := field.Duplicate(field.NewPath("metadata", "name"), key)
		e.Detail = fmt.Sprintf("%s %s is also defined by document %d of %s", kind, key, first.Index+1, first.Source)
		return field.ErrorList{e}
	}
	for _, d := range docs {
		if d.Trigger != nil {
			t, errs := c.checkTrigger(d)
			if t != nil {
				errs = append(errs, d.Errors(duplicate(d, "trigger", t.Key().String()))...)
				trigs = append(trigs, t)
			}
			problems = append(problems, errs...)
			continue
		}
		if d.Function == nil {
			continue
		}
		fn := d.Function.DeepCopy()
		fn.SetDefaults()
		errs := fn.Validate(api.ValidateOptions{})
		errs = append(errs, checkFunctionAnnotations(fn)...)
		errs = append(errs, duplicate(d, "function", fn.Key().String())...)
		problems = append(problems, d.Errors(errs)...)
		out = append(out, checkedFunction{fn: fn, doc: d})
	}
	return out, trigs, problems
}

// storedAs says whether fn, as checked for an apply, is stored as it is
// already: same template, traffic, labels and annotations. Applying it
// again writes nothing, creates no revision and changes no route; `wake
// apply` says "unchanged", as kubectl does. Kubernetes mode has none:
// there the API server decides what changed.
func (c *ControlPlane) storedAs(prev, fn *api.Function) bool {
	return !c.opts.ExternalSpec && prev != nil && sameSpec(prev, fn) &&
		maps.Equal(prev.Labels, fn.Labels) && maps.Equal(prev.Annotations, fn.Annotations)
}

// InvalidError is a request the control plane refused, said in the terms
// of the command that sent it rather than of a manifest's fields. Its
// Problems are those fields, for callers that list them.
type InvalidError struct {
	Message  string
	Problems api.Errors
}

func (e *InvalidError) Error() string { return e.Message }

func (e *InvalidError) Unwrap() error { return e.Problems }

// SetTraffic replaces a function's traffic split, as `wake traffic` does.
// A split it refuses is an *InvalidError that starts with "traffic: ",
// e.g. `traffic: revision "nosuch" of function default/hello does not
// exist (revisions: hello-00001, hello-00002)`.
func (c *ControlPlane) SetTraffic(ctx context.Context, key api.FunctionKey, traffic []api.TrafficTarget) (*api.Function, error) {
	c.mu.Lock()
	stored, ok := c.fns[key]
	revs := c.revisionsOfLocked(key)
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("function %s: %w", key, ErrNotFound)
	}
	fn := stored.DeepCopy()
	fn.Spec.Traffic = traffic
	fn.SetDefaults()
	errs := checkTrafficRevisions(fn, revs)
	errs = append(errs, fn.Validate(api.ValidateOptions{})...)
	if len(errs) > 0 {
		return nil, trafficError(key, traffic, revs, errs)
	}
	out, _, err := c.apply(ctx, []*api.Function{fn}, nil, func(_ int, errs field.ErrorList) api.Errors { return api.NewErrors(errs) })
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// trafficError says what is wrong with a split: a revision it names that
// does not exist, with those that do, else the field problems.
func trafficError(key api.FunctionKey, traffic []api.TrafficTarget, revs []*api.Revision, errs field.ErrorList) error {
	known := map[string]bool{}
	names := make([]string, 0, len(revs))
	for _, r := range revs {
		known[r.Name] = true
		names = append(names, r.Name)
	}
	have := "it has no revision yet"
	if len(names) > 0 {
		have = "revisions: " + strings.Join(names, ", ")
	}
	var msgs []string
	for _, t := range traffic {
		if t.RevisionName != "" && !known[t.RevisionName] {
			msgs = append(msgs, fmt.Sprintf("revision %q of function %s does not exist (%s)", t.RevisionName, key, have))
		}
	}
	problems := api.NewErrors(errs)
	if len(msgs) == 0 {
		for _, p := range problems {
			msgs = append(msgs, p.String())
		}
	}
	return &InvalidError{Message: "traffic: " + strings.Join(msgs, "; "), Problems: problems}
}

// apply stores validated functions and triggers and the revisions the
// functions create, then brings the new revisions up, publishes routes and
// runs the triggers. position places a
// problem found here (a traffic target naming a missing revision) in the
// input of function i. It returns the functions with status, and those
// stored as they were already (storedAs): they cost no write, and when
// every one is such, and no trigger comes, nothing is published either.
func (c *ControlPlane) apply(ctx context.Context, fns []*api.Function, trigs []*api.Trigger, position func(i int, errs field.ErrorList) api.Errors) ([]*api.Function, []api.FunctionKey, error) {
	c.writeMu.Lock()
	failed, unchanged, err := c.store(ctx, fns, trigs, position)
	c.writeMu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	if len(unchanged) < len(fns) || len(trigs) > 0 {
		// A revision the runtime would not take says so in its status,
		// where `wake apply` waits for it.
		for key, err := range failed {
			c.Update(key, runtime.State{Failure: &runtime.Failure{Reason: "DeployFailed", Message: err.Error(), At: c.clock.Now()}})
		}
		c.publishRoutes()
		c.runTriggers(trigs)
	}
	out := make([]*api.Function, 0, len(fns))
	for _, fn := range fns {
		got, err := c.Function(fn.Key())
		if err != nil {
			return nil, nil, err
		}
		out = append(out, got)
	}
	return out, unchanged, nil
}

// store writes the functions, the revisions they create and the triggers,
// and brings the new revisions up; it returns those the runtime refused,
// and the functions it did not write, stored as they are already. The
// caller holds writeMu.
func (c *ControlPlane) store(ctx context.Context, fns []*api.Function, trigs []*api.Trigger, position func(i int, errs field.ErrorList) api.Errors) (map[api.RevisionKey]error, []api.FunctionKey, error) {
	now := c.now()
	var problems api.Errors
	var created []*api.Revision
	var unchanged []api.FunctionKey
	write := make([]*api.Function, 0, len(fns))
	c.mu.Lock()
	var owners map[string]map[string]string // namespace → revision → function; made when a function changes
	for i, fn := range fns {
		prev := c.fns[fn.Key()]
		if c.storedAs(prev, fn) {
			unchanged = append(unchanged, fn.Key())
			continue
		}
		write = append(write, fn)
		if owners == nil {
			owners = c.revisionOwnersLocked()
		}
		existing := c.revisionsOfLocked(fn.Key())
		var changed bool
		if c.opts.ExternalSpec {
			// Kubernetes keeps generation, UID and creation time; the
			// function as last seen may already hold this template.
			changed = templateChangedSince(existing, fn)
		} else {
			changed = templateChanged(prev, fn)
			fn.Generation = 1
			fn.CreationTimestamp = now
			if prev != nil {
				fn.Generation, fn.CreationTimestamp, fn.UID = prev.Generation, prev.CreationTimestamp, prev.UID
				if !sameSpec(prev, fn) {
					fn.Generation++
				}
			}
		}
		fn.Status = api.FunctionStatus{}
		if prev != nil {
			fn.Status.Rollout = prev.Status.Rollout // state, not spec: kept
		}
		if owners[fn.Namespace] == nil {
			owners[fn.Namespace] = map[string]string{}
		}
		change, ferr := planRevision(changed, fn, existing, owners[fn.Namespace], c.initialScale, now)
		if ferr != nil {
			problems = append(problems, position(i, field.ErrorList{ferr})...)
			continue
		}
		if change.created != nil && c.opts.ExternalSpec {
			change.created.OwnerReferences = []metav1.OwnerReference{functionOwnerRef(fn)}
		}
		if change.created != nil {
			owners[fn.Namespace][change.created.Name] = fn.Name
			existing = append(existing, change.created)
			created = append(created, change.created)
		}
		problems = append(problems, position(i, checkTrafficRevisions(fn, existing))...)
	}
	c.prepareTriggersLocked(trigs)
	c.mu.Unlock()
	if len(problems) > 0 {
		return nil, nil, problems
	}
	if len(write) == 0 && len(trigs) == 0 {
		return nil, unchanged, nil // no transaction: a no-op apply costs the disk nothing
	}

	err := c.opts.Store.Update(func(tx Tx) error {
		for _, fn := range write {
			if err := tx.PutFunction(fn); err != nil {
				return err
			}
		}
		for _, rev := range created {
			if err := tx.PutRevision(rev); err != nil {
				return err
			}
		}
		for _, t := range trigs {
			if err := tx.PutTrigger(t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("saving: %w", err)
	}
	c.mu.Lock()
	for _, fn := range write {
		c.fns[fn.Key()] = fn
	}
	for _, rev := range created {
		c.putRevisionLocked(rev)
	}
	for _, t := range trigs {
		c.trigs[t.Key()] = t
	}
	c.mu.Unlock()

	failed := map[api.RevisionKey]error{}
	for _, rev := range created {
		c.log.Info("revision created", zap.String("revision", rev.Key().String()))
		if err := c.activate(ctx, rev, autoscaler.UpsertOptions{Initial: true}); err != nil {
			c.log.Error("deploying a revision", zap.String("revision", rev.Key().String()), zap.Error(err))
			failed[rev.Key()] = err
		}
	}
	return failed, unchanged, nil
}

// revisionOwnersLocked maps each namespace's revision names to their
// functions.
func (c *ControlPlane) revisionOwnersLocked() map[string]map[string]string {
	owners := map[string]map[string]string{}
	for _, r := range c.revs {
		if owners[r.Namespace] == nil {
			owners[r.Namespace] = map[string]string{}
		}
		owners[r.Namespace][r.Name] = r.FunctionName()
	}
	return owners
}

func sameSpec(a, b *api.Function) bool {
	return !templateChanged(a, b) && equalTraffic(a.Spec.Traffic, b.Spec.Traffic)
}

func equalTraffic(a, b []api.TrafficTarget) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Tag != y.Tag || x.RevisionName != y.RevisionName || x.PercentOrZero() != y.PercentOrZero() ||
			(x.LatestRevision != nil && *x.LatestRevision) != (y.LatestRevision != nil && *y.LatestRevision) {
			return false
		}
	}
	return true
}

// DeleteFunction removes a function and its revisions. Its host stops
// answering at once; requests in flight finish (the runtime drains each
// instance, up to the revision's timeout), then the instances stop. The
// drain runs on its own: a client that gives up on the delete does not
// cut it short.
func (c *ControlPlane) DeleteFunction(ctx context.Context, key api.FunctionKey) error {
	revs, err := c.forget(key)
	if err != nil {
		return err
	}
	c.forgetRollout(key)
	c.publishRoutes()

	stopCtx := context.WithoutCancel(ctx)
	var errs []error
	for _, r := range revs {
		c.opts.Autoscaler.Forget(r.Key())
		if err := c.opts.Runtime.Remove(stopCtx, r.Key()); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", r.Name, err))
		}
		c.opts.Activator.Unregister(r.Key())
	}
	c.log.Info("function deleted", zap.String("function", key.String()), zap.Int("revisions", len(revs)))
	return errors.Join(errs...)
}

// forget deletes a function and its revisions from the store and memory,
// and returns the revisions.
func (c *ControlPlane) forget(key api.FunctionKey) ([]*api.Revision, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	_, ok := c.fns[key]
	revs := c.revisionsOfLocked(key)
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("function %s: %w", key, ErrNotFound)
	}
	err := c.opts.Store.Update(func(tx Tx) error {
		for _, r := range revs {
			if err := tx.DeleteRevision(r.Key()); err != nil {
				return err
			}
		}
		return tx.DeleteFunction(key)
	})
	if err != nil {
		return nil, fmt.Errorf("deleting %s: %w", key, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.fns, key)
	delete(c.rejected, key)
	for _, r := range revs {
		c.deleteRevisionLocked(r.Key())
		delete(c.state, r.Key())
		delete(c.retired, r.Key())
	}
	return revs, nil
}
