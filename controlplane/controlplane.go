package controlplane

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	act "github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/rollout"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
)

// What the control plane needs from the packages it drives, declared here
// where they are used.

type routePublisher interface {
	SetTable(*router.Table)
}

type activator interface {
	Register(rev *api.Revision)
	Unregister(rev api.RevisionKey)
	Update(rev api.RevisionKey, s runtime.State)
	ColdStarts(rev api.RevisionKey) []act.ColdStart
	Outcomes(rev api.RevisionKey) act.Outcomes
}

type scaler interface {
	Upsert(rev *api.Revision, opts autoscaler.UpsertOptions)
	Forget(rev api.RevisionKey)
	Status(rev api.RevisionKey, history bool) (autoscaler.Status, bool)
	Spec(rev *api.Revision) autoscaler.Spec
	SetReachable(reachable func(api.RevisionKey) bool)
	// Wake is the activator's path to wake a revision: at zero it scales
	// to the activation scale; with instances up it restarts their idle
	// clock. Pre-warming uses it.
	Wake(rev api.RevisionKey)
}

// Options configure a ControlPlane.
type Options struct {
	Store   Store           // required
	Runtime runtime.Runtime // required
	Router  routePublisher  // required
	// Activator is this process's data plane; nil when requests pass
	// elsewhere (Kubernetes mode: the gateways), and then revisions show
	// no cold starts and rollout steps judge RemoteOutcomes.
	Activator activator
	// RemoteOutcomes, with no Activator, are the requests each revision
	// served in the processes where requests pass, for rollout analysis;
	// nil means none were seen.
	RemoteOutcomes func(api.RevisionKey) act.Outcomes
	Autoscaler     scaler // required
	// Triggers runs triggers; nil means this server refuses them.
	Triggers triggerRunner
	// Domain is the suffix of every function's host; "" means "localhost".
	Domain string
	// URLPort is appended to the URLs in status when not 80, so that they
	// can be used as they are; 0 means none.
	URLPort int
	// LocalCommands: instances run on this machine, so a container needs a
	// command, and relative paths resolve against the manifest's directory.
	LocalCommands bool
	// ExternalSpec: functions are written by someone else, Kubernetes
	// users through the API server, and reach the control plane through
	// SyncFunction. It keeps the metadata they come with (generation, UID,
	// creation time), decides whether a function needs a new revision by
	// its latest revision's template hash rather than by the function as
	// last seen (which may already hold the new template after a
	// restart), and makes each new revision owned by its function.
	ExternalSpec bool
	Logger       *zap.Logger        // nil means no logs
	Clock        clock.PassiveClock // nil means the real clock
	// OnChange is called after a revision's instances or readiness
	// changed, and after new routes were published, with no lock held, so
	// that a watcher (the console) can look at once rather than poll. It
	// must not block. Nil means no one watches.
	OnChange func()
}

// ControlPlane turns applied functions into revisions and routes, keeps
// them in the store, and tells the router, activator, autoscaler and
// runtime about them. It also receives the runtime's reports and keeps
// revision status.
//
// Reads are served from memory; every write goes to the store first.
type ControlPlane struct {
	opts  Options
	log   *zap.Logger
	clock clock.PassiveClock

	writeMu   sync.Mutex // serializes writes to the store
	publishMu sync.Mutex // serializes route publishing
	rolloutMu sync.Mutex // guards rollouts and the Rollouts in it (rollouts.go)
	rollouts  map[api.FunctionKey]*rollout.Rollout

	mu    sync.Mutex // guards the maps below
	fns   map[api.FunctionKey]*api.Function
	revs  map[api.RevisionKey]*api.Revision
	byFn  map[api.FunctionKey]map[api.RevisionKey]*api.Revision // revs again, by function: no scan of all revisions per function
	state map[api.RevisionKey]runtime.State
	trigs map[api.TriggerKey]*api.Trigger
	// trigErr is why the runner refused a trigger, until it takes it.
	trigErr map[api.TriggerKey]string
	// rejected: functions whose latest generation SyncFunction refused.
	rejected map[api.FunctionKey]rejection
}

// New returns a control plane; Start loads what the store holds.
func New(opts Options) *ControlPlane {
	c := &ControlPlane{
		opts:  opts,
		log:   opts.Logger,
		clock: opts.Clock,
		fns:   map[api.FunctionKey]*api.Function{},
		revs:  map[api.RevisionKey]*api.Revision{},
		byFn:  map[api.FunctionKey]map[api.RevisionKey]*api.Revision{},
		state: map[api.RevisionKey]runtime.State{},
		trigs: map[api.TriggerKey]*api.Trigger{},

		rollouts: map[api.FunctionKey]*rollout.Rollout{},

		trigErr:  map[api.TriggerKey]string{},
		rejected: map[api.FunctionKey]rejection{},
	}
	if c.opts.Domain == "" {
		c.opts.Domain = "localhost"
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.opts.Activator == nil {
		c.opts.Activator = elsewhere{outcomes: c.opts.RemoteOutcomes}
	}
	return c
}

// elsewhere is the activator of a control plane whose requests pass in
// other processes: it holds no revision, and knows of the requests only
// what those processes report.
type elsewhere struct {
	outcomes func(api.RevisionKey) act.Outcomes
}

func (elsewhere) Register(*api.Revision)                     {}
func (elsewhere) Unregister(api.RevisionKey)                 {}
func (elsewhere) Update(api.RevisionKey, runtime.State)      {}
func (elsewhere) ColdStarts(api.RevisionKey) []act.ColdStart { return nil }
func (e elsewhere) Outcomes(k api.RevisionKey) act.Outcomes {
	if e.outcomes == nil {
		return act.Outcomes{}
	}
	return e.outcomes(k)
}

func (c *ControlPlane) now() metav1.Time { return metav1.NewTime(c.clock.Now()) }

// Start loads functions, revisions and triggers from the store, brings
// every revision back (cold: at min-scale, not initial-scale), publishes
// the routes and runs the triggers.
func (c *ControlPlane) Start(ctx context.Context) error {
	var fns []*api.Function
	var revs []*api.Revision
	var trigs []*api.Trigger
	err := c.opts.Store.View(func(tx Tx) error {
		var err error
		if fns, err = tx.Functions(); err != nil {
			return err
		}
		if revs, err = tx.Revisions(); err != nil {
			return err
		}
		trigs, err = tx.Triggers()
		return err
	})
	if err != nil {
		return fmt.Errorf("loading state: %w", err)
	}
	c.mu.Lock()
	for _, fn := range fns {
		c.fns[fn.Key()] = fn
	}
	for _, rev := range revs {
		c.putRevisionLocked(rev)
	}
	for _, t := range trigs {
		c.trigs[t.Key()] = t
	}
	c.mu.Unlock()
	c.resumeRollouts(fns)
	for _, rev := range revs {
		// Cold, after a restart: at min-scale, not initial-scale, unless
		// the runtime kept instances running.
		if err := c.activate(ctx, rev, autoscaler.UpsertOptions{}); err != nil {
			// One revision the runtime refuses (a namespace at its quota)
			// must not keep every other from serving: it says why in its
			// status, as on apply.
			c.log.Error("deploying a revision", zap.String("revision", rev.Key().String()), zap.Error(err))
			c.Update(rev.Key(), runtime.State{Failure: &runtime.Failure{Reason: "DeployFailed", Message: err.Error(), At: c.clock.Now()}})
		}
	}
	c.publishRoutes()
	if c.opts.Triggers != nil {
		c.runTriggers(trigs)
	} else if len(trigs) > 0 {
		c.log.Warn("the store holds triggers but this server runs none", zap.Int("triggers", len(trigs)))
	}
	c.log.Info("state loaded", zap.Int("functions", len(fns)), zap.Int("revisions", len(revs)), zap.Int("triggers", len(trigs)))
	return nil
}

// activate makes a revision serve: routable in the activator first (a
// route may point at it next), known to the runtime, then scaled.
func (c *ControlPlane) activate(ctx context.Context, rev *api.Revision, opts autoscaler.UpsertOptions) error {
	c.opts.Activator.Register(rev)
	if err := c.opts.Runtime.Deploy(ctx, rev); err != nil {
		return fmt.Errorf("deploying %s: %w", rev.Name, err)
	}
	if a, ok := c.opts.Runtime.(adopter); ok && !opts.Initial {
		opts.Current, _ = a.Replicas(rev.Key())
	}
	c.opts.Autoscaler.Upsert(rev, opts)
	return nil
}

// adopter is a runtime whose instances outlive the control plane
// (runtime/kube: the Deployments stay when a leader goes); Replicas is
// what it found running when Deploy adopted a revision, which the
// autoscaler starts from.
type adopter interface {
	Replicas(api.RevisionKey) (int, bool)
}

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

// publishRoutes builds the route table from memory and hands it to the
// router.
func (c *ControlPlane) publishRoutes() {
	// One publisher at a time, from building to SetTable: a table built
	// from older state must not land after a newer one.
	c.publishMu.Lock()
	defer c.publishMu.Unlock()
	// A revision that just became ready starts its rollout before any
	// route can send it the whole share.
	c.rolloutMu.Lock()
	started := c.startRolloutsLocked()
	rollouts := c.rolloutStatusLocked()
	c.rolloutMu.Unlock()
	c.mu.Lock()
	routes := make([]router.Route, 0, len(c.fns))
	for _, fn := range c.fns {
		route, _ := resolveTraffic(fn, c.revisionsOfLocked(fn.Key()), rollouts[fn.Key()], nil)
		routes = append(routes, route)
	}
	c.mu.Unlock()
	if len(started) > 0 {
		defer c.saveRollouts(started)
	}
	table := router.NewTable(c.opts.Domain, routes)
	for _, h := range table.Conflicts {
		c.log.Warn("host claimed twice; the function of that name wins over the tag", zap.String("host", h))
	}
	c.opts.Router.SetTable(table)
	c.opts.Autoscaler.SetReachable(reachableIn(routes))
	c.changed()
}

func (c *ControlPlane) changed() {
	if c.opts.OnChange != nil {
		c.opts.OnChange()
	}
}

// reachableIn reports, for a revision, whether one of routes sends it a
// share of traffic or names it with a tag.
func reachableIn(routes []router.Route) func(api.RevisionKey) bool {
	reached := map[api.RevisionKey]bool{}
	for _, r := range routes {
		for _, t := range r.Targets {
			if t.Percent > 0 || t.Tag != "" {
				reached[api.RevisionKey{Namespace: r.Function.Namespace, Name: t.Revision}] = true
			}
		}
	}
	return func(k api.RevisionKey) bool { return reached[k] }
}

// host is a function's host name: NAME.NAMESPACE.DOMAIN.
func (c *ControlPlane) host(fn api.FunctionKey) string { return router.Host(fn, c.opts.Domain) }

// url is how a user reaches a function (or, with TAG-NAME, a tag).
func (c *ControlPlane) url(fn api.FunctionKey) string {
	if c.opts.URLPort != 0 && c.opts.URLPort != 80 {
		return fmt.Sprintf("http://%s:%d", c.host(fn), c.opts.URLPort)
	}
	return "http://" + c.host(fn)
}

// revisionsOfLocked returns a function's revisions, oldest first.
func (c *ControlPlane) revisionsOfLocked(fn api.FunctionKey) []*api.Revision {
	out := make([]*api.Revision, 0, len(c.byFn[fn]))
	for _, r := range c.byFn[fn] {
		out = append(out, r)
	}
	sortRevisions(out)
	return out
}

// putRevisionLocked adds or replaces a revision in both maps.
func (c *ControlPlane) putRevisionLocked(rev *api.Revision) {
	key := rev.Key()
	c.revs[key] = rev
	fn := api.FunctionKey{Namespace: rev.Namespace, Name: rev.FunctionName()}
	if c.byFn[fn] == nil {
		c.byFn[fn] = map[api.RevisionKey]*api.Revision{}
	}
	c.byFn[fn][key] = rev
}

// deleteRevisionLocked removes a revision from both maps.
func (c *ControlPlane) deleteRevisionLocked(key api.RevisionKey) {
	rev, ok := c.revs[key]
	if !ok {
		return
	}
	delete(c.revs, key)
	fn := api.FunctionKey{Namespace: rev.Namespace, Name: rev.FunctionName()}
	delete(c.byFn[fn], key)
	if len(c.byFn[fn]) == 0 {
		delete(c.byFn, fn)
	}
}

// rolloutStatusLocked is every rollout's status as routes are built from
// it, by function; the caller holds rolloutMu.
func (c *ControlPlane) rolloutStatusLocked() map[api.FunctionKey]*api.RolloutStatus {
	out := make(map[api.FunctionKey]*api.RolloutStatus, len(c.rollouts))
	for k, ro := range c.rollouts {
		st := ro.Status()
		out[k] = &st
	}
	return out
}

// rolloutStatus is rolloutStatusLocked for readers. A status read from it
// is the one routes are built from, not the one last saved with the
// function, which lags: in Kubernetes mode the gateways route by the
// status, and a lagging one would give the canary the whole share.
func (c *ControlPlane) rolloutStatus() map[api.FunctionKey]*api.RolloutStatus {
	c.rolloutMu.Lock()
	defer c.rolloutMu.Unlock()
	return c.rolloutStatusLocked()
}

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
	rollouts := c.rolloutStatus()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*api.Function
	for k, fn := range c.fns {
		if namespace == "" || k.Namespace == namespace {
			out = append(out, c.withStatusLocked(fn, rollouts[k]))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
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
	return rev
}

// createOf is a cold start's create phase, shown only for containers.
func createOf(d time.Duration) *metav1.Duration {
	if d == 0 {
		return nil
	}
	return &metav1.Duration{Duration: d}
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
