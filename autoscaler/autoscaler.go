package autoscaler

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	api "github.com/wakefn/wake/api/v1"
)

// Defaults of Options.
const (
	DefaultSampleInterval   = time.Second
	DefaultDecisionInterval = 2 * time.Second
)

// Scaler sets a revision's instance count. runtime.Runtime satisfies it.
// Scale should return at once (instances start in the background): the
// loop calls it inline, so a slow Scale delays other revisions' decisions
// and wakes.
type Scaler interface {
	Scale(ctx context.Context, rev api.RevisionKey, n int) error
}

// Options configure an Autoscaler.
type Options struct {
	// Sample reads a revision's counts from the activator and starts a new
	// period. Required. It is called from the loop goroutine only, never
	// under the autoscaler's locks, and never from Wake.
	Sample func(rev api.RevisionKey) Sample
	// Scaler applies decisions. Required.
	Scaler Scaler
	// Clock is the only source of time. nil means the real clock.
	Clock clock.WithTicker
	// Logger gets one line per change of a revision's count. nil means no
	// logs.
	Logger *zap.Logger
	// Registerer, when set, gets the per-revision gauges
	// wake_desired_instances, wake_autoscaler_panic and
	// wake_autoscaler_observed{window}. nil means no metrics.
	Registerer prometheus.Registerer
	// SampleInterval is how often every revision is sampled. 0 means
	// DefaultSampleInterval (1s, the width of a window bucket).
	SampleInterval time.Duration
	// DecisionInterval is how often every revision's count is decided,
	// right after a sample so it sees the freshest data; it is rounded to
	// a whole number of sample intervals, at least one. 0 means
	// DefaultDecisionInterval (2s, as Knative's tick).
	DecisionInterval time.Duration
	// Config is the server-wide defaults of every revision's settings.
	// nil means DefaultConfig().
	Config *Config
	// History is how many decisions that changed something are kept per
	// revision for Status. 0 means DefaultHistory.
	History int
}

// DefaultHistory is how many changing decisions each revision keeps.
const DefaultHistory = 20

// UpsertOptions say how a revision joins the autoscaler.
type UpsertOptions struct {
	// Initial: the revision was just created and starts at its
	// initial-scale (default 1, as Knative). False (e.g. revisions found
	// when wake restarts): it starts at min-scale.
	Initial bool
	// Current is how many instances the runtime kept running across a
	// restart of the control plane (Kubernetes mode: a new leader adopts
	// the Deployments' replicas). Without Initial, the revision starts
	// there rather than at min-scale, as if the count had been applied, so
	// a failover scales nothing down; the usual windows and delays bring it
	// down from there when the load says so.
	Current int
}

// Autoscaler runs one Decider per revision: it samples every
// SampleInterval, decides every DecisionInterval, acts on Wake at once, and
// calls the Scaler when a revision's count changes. All deciding and
// scaling happens on the goroutine of Run; the other methods are safe for
// concurrent use and never call out.
type Autoscaler struct {
	sample     func(api.RevisionKey) Sample
	scaler     Scaler
	clock      clock.WithTicker
	log        *zap.Logger
	metrics    *metrics // nil: no metrics
	sampleTick time.Duration
	decideTick int // decide on every decideTick-th sample tick
	config     Config
	history    int

	// revs maps api.RevisionKey to *revision. A sync.Map because Wake reads
	// it on the request path, from every core, while revisions come and go
	// rarely: its reads take no lock.
	revs sync.Map
	mu   sync.Mutex // serializes Upsert and Forget (and their gauge writes)

	pendMu  sync.Mutex
	pending []*revision   // woken or upserted, for the loop to handle now
	spare   []*revision   // loop only: the last batch's array, reused so Wake does not allocate
	kick    chan struct{} // cap 1: tells the loop pending is not empty
	barrier chan chan struct{}
	running atomic.Bool
}

// revision is the autoscaler's state for one revision.
type revision struct {
	key     api.RevisionKey
	name    string          // key.String(), for logs
	metrics *revisionGauges // nil: no metrics
	woken   atomic.Bool     // a Wake is pending; coalesces Wakes until the loop samples

	mu        sync.Mutex
	decider   *Decider
	desired   int
	last      Decision   // the latest decision, changed or not
	observed  [2]float64 // stable and panic averages of the latest decision at a tick
	history   []Decision // ring of the latest decisions that changed something
	next      int        // where the ring writes next, once full
	trace     trace      // the state each decision left, over TraceSpan
	forgotten bool

	// scaleMu is held across a Scale call, so Forget can wait one out.
	scaleMu sync.Mutex
	applied int // under scaleMu: the count the Scaler last accepted, -1 before the first
}

// New returns an Autoscaler. It panics when Sample or Scaler is nil: that
// is a wiring bug, and failing at construction beats failing at the first
// request.
func New(opts Options) *Autoscaler {
	if opts.Sample == nil {
		panic("autoscaler.New: Options.Sample is required")
	}
	if opts.Scaler == nil {
		panic("autoscaler.New: Options.Scaler is required")
	}
	a := &Autoscaler{
		sample:     opts.Sample,
		scaler:     opts.Scaler,
		clock:      opts.Clock,
		log:        opts.Logger,
		sampleTick: opts.SampleInterval,
		config:     DefaultConfig(),
		history:    opts.History,
		kick:       make(chan struct{}, 1),
		barrier:    make(chan chan struct{}),
	}
	if opts.Config != nil {
		a.config = *opts.Config
	}
	if a.clock == nil {
		a.clock = clock.RealClock{}
	}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	if a.sampleTick <= 0 {
		a.sampleTick = DefaultSampleInterval
	}
	decide := opts.DecisionInterval
	if decide <= 0 {
		decide = DefaultDecisionInterval
	}
	a.decideTick = max(1, int((decide+a.sampleTick/2)/a.sampleTick))
	if a.history <= 0 {
		a.history = DefaultHistory
	}
	a.metrics = newMetrics(opts.Registerer, a.log)
	return a
}

// Spec is what the autoscaler runs a revision with: its annotations over
// the server's defaults, and its timeoutSeconds (the deadline a held
// backlog is planned to drain before).
func (a *Autoscaler) Spec(rev *api.Revision) Spec {
	s := a.config.Spec(rev.Scaling())
	if t := rev.Spec.TimeoutSeconds; t != nil && *t > 0 {
		s.RequestTimeout = time.Duration(*t) * time.Second
	}
	return s
}

// Upsert starts managing a revision; its starting count (see
// UpsertOptions) is sent to the Scaler by the loop at once. Upserting a
// managed revision only refreshes its settings: its history, count and
// idle clock stay, and no Scale call follows, so a reconciler may upsert on
// every pass.
func (a *Autoscaler) Upsert(rev *api.Revision, opts UpsertOptions) {
	key, spec := rev.Key(), a.Spec(rev)
	a.mu.Lock()
	defer a.mu.Unlock()
	if v, ok := a.revs.Load(key); ok {
		r := v.(*revision)
		r.mu.Lock()
		r.decider.SetSpec(spec)
		r.mu.Unlock()
		return
	}
	d := NewDecider(spec, a.clock.Now(), opts.Initial)
	applied := -1
	if !opts.Initial && opts.Current > 0 {
		d.Adopt(opts.Current)
		applied = opts.Current
	}
	r := &revision{key: key, name: key.String(), decider: d, desired: d.Desired(), applied: applied}
	r.metrics = a.metrics.forRevision(rev.Namespace, rev.FunctionName(), rev.Name)
	r.metrics.set(Decision{Desired: r.desired}, a.clock.Now())
	a.revs.Store(key, r)
	a.log.Debug("revision added", zap.String("revision", r.name), zap.Int("desired", r.desired), zap.Bool("initial", opts.Initial))
	a.enqueue(r)
}

// SetReachable tells the autoscaler which revisions a route sends traffic
// to (see Decider.SetReachable); reachable reports it for each managed
// revision. The control plane calls it whenever it publishes routes.
func (a *Autoscaler) SetReachable(reachable func(api.RevisionKey) bool) {
	a.revs.Range(func(k, v any) bool {
		r := v.(*revision)
		ok := reachable(k.(api.RevisionKey))
		r.mu.Lock()
		r.decider.SetReachable(ok)
		r.mu.Unlock()
		return true
	})
}

// Forget stops managing a revision and drops its gauges. It does not scale
// the revision down (removing it is the runtime's job, and the caller may
// call runtime.Remove as soon as Forget returns): if a Scale call for the
// revision is under way, Forget waits for it, and none starts after.
func (a *Autoscaler) Forget(key api.RevisionKey) {
	a.mu.Lock()
	v, ok := a.revs.LoadAndDelete(key)
	if !ok {
		a.mu.Unlock()
		return
	}
	r := v.(*revision)
	r.mu.Lock()
	r.forgotten = true
	r.mu.Unlock()
	// Under a.mu, so an Upsert re-adding the revision sets its gauges
	// after this delete, never before.
	r.metrics.delete()
	a.mu.Unlock()
	r.scaleMu.Lock()
	r.scaleMu.Unlock() //nolint:staticcheck // waiting out a Scale in progress is the point
	a.log.Debug("revision forgotten", zap.String("revision", r.name))
}

// Wake tells the autoscaler that a request is waiting at a revision with no
// instance free. The loop samples the revision and activates its Decider
// at once, not at its next tick. Unknown revisions are ignored.
//
// Cost on the request path: a lock-free map load and an atomic load while
// a wake is already pending (the common case in a burst); the first Wake
// of a burst adds a CAS, a short mutex and a non-blocking channel send. It
// never blocks, and allocates only when more revisions wait at once than
// ever before.
func (a *Autoscaler) Wake(key api.RevisionKey) {
	v, ok := a.revs.Load(key)
	if !ok {
		return
	}
	r := v.(*revision)
	// Load first: in a burst the flag is already set, and a plain load
	// keeps the cache line shared between cores where a CAS would not.
	if r.woken.Load() || !r.woken.CompareAndSwap(false, true) {
		return
	}
	a.enqueue(r)
}

// Desired is the count last decided for a revision; false when the
// revision is not managed.
func (a *Autoscaler) Desired(key api.RevisionKey) (int, bool) {
	st, ok := a.Status(key, false)
	return st.Desired, ok
}

// Status is what the autoscaler knows of a revision, for status, `wake get
// revisions -o wide` and `wake describe revision`.
type Status struct {
	Spec      Spec
	Desired   int
	Panicking bool
	// EffectiveMinScale is the minimum in force now (min-scale raised by
	// its schedule, 0 when no route reaches the revision);
	// MinScaleEntry the schedule's entry raising it, 0 for none.
	EffectiveMinScale, MinScaleEntry int
	Last                             Decision // the latest decision; zero before the first
	// Stable and Panic are the averages the latest decision at a tick saw
	// (a wake's decision has none).
	Stable, Panic float64
	History       []Decision // oldest first: the latest decisions that changed the count or the panic mode
	// Trace is the state the decisions left the revision in over the last
	// TraceSpan, oldest first (see TracePoint); with the history only.
	Trace []TracePoint
}

// Status returns a revision's autoscaling state; history says whether to
// copy the decision history and the trace too. False when the revision is not managed.
func (a *Autoscaler) Status(key api.RevisionKey, history bool) (Status, bool) {
	v, ok := a.revs.Load(key)
	if !ok {
		return Status{}, false
	}
	r := v.(*revision)
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{Spec: r.decider.Spec(), Desired: r.desired, Panicking: r.decider.Panicking(), Last: r.last,
		Stable: r.observed[0], Panic: r.observed[1]}
	st.EffectiveMinScale, st.MinScaleEntry = r.decider.EffectiveMinScale(a.clock.Now())
	if history {
		n := len(r.history)
		st.History = make([]Decision, 0, n)
		for i := range n {
			st.History = append(st.History, r.history[(r.next+i)%n])
		}
		r.trace.trim(a.clock.Now().UnixNano())
		st.Trace = r.trace.points()
	}
	return st, !r.forgotten
}

func (a *Autoscaler) enqueue(r *revision) {
	a.pendMu.Lock()
	a.pending = append(a.pending, r)
	a.pendMu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default: // the loop has been told already and will take the whole list
	}
}
