package controlplane

import (
	"context"
	"fmt"
	"sync"

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
	// RevisionGC is when non-active revisions are deleted (Knative's
	// config-gc); a function's annotations override it. nil means
	// api.DefaultRevisionGC. Nothing is collected unless RunRevisionGC or
	// SweepRevisions runs.
	RevisionGC *api.RevisionGC
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
	// retired: revisions kept as metadata only (gcsweep.go); gcVerdicts:
	// the latest sweep's decision for each revision.
	retired    map[api.RevisionKey]bool
	gcVerdicts map[api.RevisionKey]gcVerdict
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
		retired:  map[api.RevisionKey]bool{},
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
		if c.startsRetired(rev) {
			continue
		}
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
	revived := c.reviveLocked(func(yield func(api.RevisionKey) bool) {
		for _, r := range routes {
			for _, t := range r.Targets {
				if !yield(api.RevisionKey{Namespace: r.Function.Namespace, Name: t.Revision}) {
					return
				}
			}
		}
	})
	c.mu.Unlock()
	// A retired revision that a route names again serves before the route
	// is published.
	c.revive(revived)
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
