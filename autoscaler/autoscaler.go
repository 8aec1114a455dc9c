package autoscaler

import (
	"context"
	"errors"
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
	// Registerer, when set, gets the gauge
	// wake_desired_instances{namespace,function,revision}. nil means no
	// metrics.
	Registerer prometheus.Registerer
	// SampleInterval is how often every revision is sampled. 0 means
	// DefaultSampleInterval (1s, the width of a window bucket).
	SampleInterval time.Duration
	// DecisionInterval is how often every revision's count is decided,
	// right after a sample so it sees the freshest data; it is rounded to
	// a whole number of sample intervals, at least one. 0 means
	// DefaultDecisionInterval (2s, as Knative's tick).
	DecisionInterval time.Duration
	// ScaleToZeroGracePeriod is how long an idle revision keeps one
	// instance after its window empties. 0 means
	// DefaultScaleToZeroGracePeriod (30s).
	ScaleToZeroGracePeriod time.Duration
}

// UpsertOptions say how a revision joins the autoscaler.
type UpsertOptions struct {
	// Initial: the revision was just created and starts at its
	// initial-scale (default 1, as Knative). False (e.g. revisions found
	// when wake restarts): it starts at min-scale.
	Initial bool
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
	gauge      *prometheus.GaugeVec // nil: no metrics
	sampleTick time.Duration
	decideTick int // decide on every decideTick-th sample tick
	grace      time.Duration

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
	key    api.RevisionKey
	name   string           // key.String(), for logs
	gauge  prometheus.Gauge // nil: no metrics
	labels []string         // the gauge's: namespace, function, revision
	woken  atomic.Bool      // a Wake is pending; coalesces Wakes until the loop samples

	mu        sync.Mutex
	decider   *Decider
	desired   int
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
		grace:      opts.ScaleToZeroGracePeriod,
		kick:       make(chan struct{}, 1),
		barrier:    make(chan chan struct{}),
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
	if a.grace <= 0 {
		a.grace = DefaultScaleToZeroGracePeriod
	}
	a.gauge = newGauge(opts.Registerer, a.log)
	return a
}

// newGauge registers wake_desired_instances. A second Autoscaler on the
// same registry shares the first one's gauge rather than failing.
func newGauge(reg prometheus.Registerer, log *zap.Logger) *prometheus.GaugeVec {
	if reg == nil {
		return nil
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wake_desired_instances",
		Help: "Instances the autoscaler wants for a revision.",
	}, []string{"namespace", "function", "revision"})
	err := reg.Register(g)
	if err == nil {
		return g
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
			return existing
		}
	}
	log.Error("autoscaler metrics disabled", zap.Error(err))
	return nil
}

// Upsert starts managing a revision; its starting count (see
// UpsertOptions) is sent to the Scaler by the loop at once. Upserting a
// managed revision only refreshes its settings: its history, count and
// idle clock stay, and no Scale call follows, so a reconciler may upsert on
// every pass.
func (a *Autoscaler) Upsert(rev *api.Revision, opts UpsertOptions) {
	key, s := rev.Key(), rev.Scaling()
	a.mu.Lock()
	defer a.mu.Unlock()
	if v, ok := a.revs.Load(key); ok {
		r := v.(*revision)
		r.mu.Lock()
		r.decider.SetScaling(s)
		r.mu.Unlock()
		return
	}
	d := NewDecider(DeciderOptions{Scaling: s, Grace: a.grace, Now: a.clock.Now(), Initial: opts.Initial})
	r := &revision{key: key, name: key.String(), decider: d, desired: d.Desired(), applied: -1}
	if a.gauge != nil {
		r.labels = []string{rev.Namespace, rev.FunctionName(), rev.Name}
		r.gauge = a.gauge.WithLabelValues(r.labels...)
		r.gauge.Set(float64(r.desired))
	}
	a.revs.Store(key, r)
	a.log.Debug("revision added", zap.String("revision", r.name), zap.Int("desired", r.desired), zap.Bool("initial", opts.Initial))
	a.enqueue(r)
}

// Forget stops managing a revision and drops its gauge. It does not scale
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
	if a.gauge != nil {
		// Under a.mu, so an Upsert re-adding the revision sets its gauge
		// after this delete, never before.
		a.gauge.DeleteLabelValues(r.labels...)
	}
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
	v, ok := a.revs.Load(key)
	if !ok {
		return 0, false
	}
	r := v.(*revision)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.desired, !r.forgotten
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
