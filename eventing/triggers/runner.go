package triggers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/cron"
	"github.com/wakefn/wake/eventing/delivery"
	"github.com/wakefn/wake/eventing/kafka"
	"github.com/wakefn/wake/eventing/pace"
)

// Options configure a Runner.
type Options struct {
	// RouterAddr is the router's host:port. Every request to a host under
	// Domain is dialed there, whatever the URL's port says.
	RouterAddr string
	// Domain is wake's domain ("localhost" when empty).
	Domain string
	// CronStore keeps the cron fire records; nil keeps them in memory, so
	// a restart forgets them.
	CronStore cron.Store
	// Clock times cron schedules and delivery backoff; nil is the real
	// clock.
	Clock      clock.Clock
	Registerer prometheus.Registerer // nil: no metrics registered
	Logger     *zap.Logger           // nil: no logs
	// Prewarmer wakes the function sinks of cron triggers ahead of their
	// fires; nil means no pre-warming. See also SetPrewarmer.
	Prewarmer Prewarmer
	// KafkaRetryBackoff is the first wait before a Kafka partition
	// redelivers an event that failed for good with nowhere to go; 0 is
	// the kafka package's default.
	KafkaRetryBackoff time.Duration
}

// Runner runs triggers. Start it, then Run, Stop and Status triggers
// (the control plane's triggerRunner); Close stops everything.
type Runner struct {
	opts    Options
	log     *zap.Logger
	client  *http.Client
	clock   clock.Clock
	metrics *metrics
	sched   *cron.Scheduler

	// opMu serializes Run and Stop, which may wait for a consumer to
	// finish; mu guards the fields below and is never held while waiting.
	opMu      sync.Mutex
	mu        sync.Mutex
	trigs     map[string]*running // by namespace/name
	ctx       context.Context     // Start's; nil before
	cancelAll context.CancelFunc
	wg        sync.WaitGroup // the scheduler and the consumers
}

// running is one trigger as the Runner runs it. Fields set at start do not
// change; an update that changes more than the rate limit replaces it.
type running struct {
	key       string
	gen       int64
	spec      api.TriggerSpec
	sink, dls string
	deliverer *delivery.Deliverer

	// cron
	schedule cron.Schedule
	limiter  *rate.Limiter // rate.Inf when unlimited
	lastFire atomic.Pointer[time.Time]

	// cron pre-warming (prewarm.go): prewarm says the loop runs for this
	// trigger; its cancel and done are set when it starts, under r.mu.
	prewarm       bool
	prewarmAnn    string // the wake.dev/prewarm annotation, to notice a change
	prewarmSink   api.FunctionKey
	prewarmLead   time.Duration // from the annotation; 0: the Prewarmer's default
	prewarmCancel context.CancelFunc
	prewarmDone   chan struct{}

	// kafka
	pacer    *pace.Pacer
	consumer *kafka.Consumer
	cancel   context.CancelFunc
	done     chan struct{}

	rateLimit                                           atomic.Pointer[float64]
	delivered, deadLettered, failed, retried, throttled atomic.Int64
}

// New returns a Runner; nothing runs before Start.
func New(o Options) (*Runner, error) {
	if o.RouterAddr == "" {
		return nil, errors.New("triggers: Options.RouterAddr is required")
	}
	if o.Domain == "" {
		o.Domain = "localhost"
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	r := &Runner{
		opts: o, log: o.Logger, clock: o.Clock,
		client:  routerClient(o.RouterAddr, o.Domain),
		metrics: newMetrics(o.Registerer),
		trigs:   map[string]*running{},
	}
	sched, err := cron.New(cron.Options{Fire: r.fire, Clock: o.Clock, Store: o.CronStore, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	r.sched = sched
	return r, nil
}

// SetPrewarmer sets Options.Prewarmer, for a Prewarmer built after the
// Runner (the control plane, which needs the Runner first). Call it
// before Start and Run.
func (r *Runner) SetPrewarmer(p Prewarmer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.Prewarmer = p
}

// routerClient is the HTTP client of deliveries: hosts under domain are
// dialed at the router, others as the URL says. Many idle connections
// per host, since every function shares the router's address.
func routerClient(routerAddr, domain string) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err == nil && (host == domain || strings.HasSuffix(host, "."+domain)) {
			addr = routerAddr
		}
		return dialer.DialContext(ctx, network, addr)
	}
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: t}
}

// Start runs the cron scheduler until Close. Triggers may be Run before
// or after.
func (r *Runner) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx != nil {
		return
	}
	r.ctx, r.cancelAll = context.WithCancel(ctx)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		_ = r.sched.Run(r.ctx)
	}()
	for _, t := range r.trigs {
		if t.spec.Kafka != nil && t.consumer != nil && t.done == nil {
			r.startConsumerLocked(t)
		}
		r.startPrewarmLocked(t)
	}
}

// Close stops every trigger: the scheduler stops firing, consumers stop
// fetching, deliveries in flight are cancelled, and what Kafka delivered
// is committed. It returns when all of that is done.
func (r *Runner) Close() {
	r.mu.Lock()
	cancelAll := r.cancelAll
	r.mu.Unlock()
	if cancelAll != nil {
		cancelAll()
	}
	r.wg.Wait()
}

// Run starts a trigger or updates the running one. A change of the rate
// limit alone is taken live; any other change restarts the trigger (a
// cron trigger keeps its fire record, a Kafka trigger its group's
// offsets).
func (r *Runner) Run(t *api.Trigger, sinkURI, deadLetterURI string) error {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	key := t.Key().String()
	r.mu.Lock()
	cur := r.trigs[key]
	r.mu.Unlock()
	if cur != nil && cur.gen == t.Generation && cur.sink == sinkURI && cur.dls == deadLetterURI &&
		cur.prewarmAnn == t.Annotations[api.AnnotationPrewarm] {
		cur.setRateLimit(t.Spec.RateLimit)
		return nil
	}
	next, err := r.build(key, t, sinkURI, deadLetterURI)
	if err != nil {
		return err
	}
	if cur != nil {
		r.stop(cur, next.spec.Cron != nil)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trigs[key] = next
	if next.spec.Cron != nil {
		if err := r.sched.Set(cron.Trigger{Name: key, Schedule: next.schedule,
			Misfire:     cron.MisfirePolicy(next.spec.Cron.MisfirePolicy),
			Concurrency: cron.ConcurrencyPolicy(next.spec.Cron.ConcurrencyPolicy)}); err != nil {
			delete(r.trigs, key)
			return err
		}
		r.startPrewarmLocked(next)
	} else if r.ctx != nil {
		r.startConsumerLocked(next)
	}
	r.log.Info("trigger running", zap.String("trigger", key), zap.String("sink", sinkURI), zap.Int64("generation", t.Generation))
	return nil
}

// build makes a trigger's running state without starting it.
func (r *Runner) build(key string, t *api.Trigger, sinkURI, deadLetterURI string) (*running, error) {
	next := &running{key: key, gen: t.Generation, spec: t.DeepCopy().Spec, sink: sinkURI, dls: deadLetterURI,
		limiter: rate.NewLimiter(rate.Inf, 1)}
	var spec delivery.Spec
	if d := t.Spec.Delivery; d != nil {
		spec = delivery.Spec{BackoffPolicy: delivery.BackoffPolicy(d.BackoffPolicy), BackoffDelay: d.BackoffDelay,
			Timeout: d.Timeout, RetryAfterMax: d.RetryAfterMax, DeadLetterSink: deadLetterURI}
		if d.Retry != nil {
			spec.Retry = int(*d.Retry)
		}
	}
	opts := delivery.Options{Client: r.client, Clock: r.clock, Logger: r.log.With(zap.String("trigger", key))}
	if t.Spec.Kafka != nil {
		// A Kafka trigger's backlog can go as fast as the sink lets it:
		// its pacer learns how fast that is (see package pace).
		limit := 0.0
		if t.Spec.RateLimit != nil {
			limit = *t.Spec.RateLimit
		}
		next.pacer = pace.New(limit, r.clock)
		opts.Throttle = next.pacer
	}
	var err error
	next.deliverer, err = delivery.New(spec, opts)
	if err != nil {
		return nil, err
	}
	switch {
	case t.Spec.Cron != nil:
		if next.schedule, err = cron.ParseSchedule(t.Spec.Cron.Schedule, t.Spec.Cron.Timezone); err != nil {
			return nil, err
		}
		next.prewarmAnn = t.Annotations[api.AnnotationPrewarm]
		next.prewarmSink, next.prewarm = r.prewarmSink(t)
		next.prewarmLead, _, _ = t.Prewarm()
	case t.Spec.Kafka != nil:
		if next.consumer, err = r.newConsumer(next); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("trigger %s has neither kafka nor cron", key)
	}
	next.setRateLimit(t.Spec.RateLimit)
	return next, nil
}

// Stop stops a trigger. A Kafka trigger's deliveries in flight end (or are
// cancelled) and what was delivered is committed before Stop returns.
func (r *Runner) Stop(key api.TriggerKey) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	r.mu.Lock()
	cur := r.trigs[key.String()]
	delete(r.trigs, key.String())
	r.mu.Unlock()
	if cur == nil {
		return
	}
	r.stop(cur, false)
	r.metrics.forget(cur.key)
}

// stop stops what runs for a trigger, waiting for a consumer to commit;
// keepSchedule leaves a cron entry to be updated in place by the caller.
func (r *Runner) stop(cur *running, keepSchedule bool) {
	if cur.spec.Cron != nil && !keepSchedule {
		r.sched.Remove(cur.key)
	}
	r.mu.Lock()
	cancel, done := cur.cancel, cur.done
	pcancel, pdone := cur.prewarmCancel, cur.prewarmDone
	r.mu.Unlock()
	if pcancel != nil {
		pcancel()
		<-pdone
	}
	if cancel != nil {
		cancel()
		<-done
	}
}

func (t *running) setRateLimit(perSecond *float64) {
	if perSecond == nil {
		t.rateLimit.Store(nil)
	} else {
		v := *perSecond
		t.rateLimit.Store(&v)
	}
	if t.consumer != nil {
		lim := 0.0
		if perSecond != nil {
			lim = *perSecond
		}
		t.consumer.SetRateLimit(lim)
		return
	}
	if perSecond == nil {
		t.limiter.SetLimit(rate.Inf)
	} else {
		t.limiter.SetLimit(rate.Limit(*perSecond))
	}
}

// deliver sends one event of the trigger and counts how it ended.
func (r *Runner) deliver(ctx context.Context, t *running, e event.Event) delivery.Result {
	if o := t.spec.CEOverrides; o != nil {
		for k, v := range o.Extensions {
			e.SetExtension(k, v)
		}
	}
	res := t.deliverer.Deliver(ctx, t.sink, e)
	outcome := "cancelled"
	switch res.Outcome {
	case delivery.Delivered:
		t.delivered.Add(1)
		outcome = "delivered"
	case delivery.DeadLettered:
		t.deadLettered.Add(1)
		outcome = "dead_lettered"
	case delivery.Failed:
		t.failed.Add(1)
		outcome = "failed"
	}
	if res.Throttled > 0 {
		t.throttled.Add(int64(res.Throttled))
		r.metrics.throttled.WithLabelValues(t.key).Add(float64(res.Throttled))
	}
	if res.Attempts > 1 {
		t.retried.Add(int64(res.Attempts - 1))
		r.metrics.retries.WithLabelValues(t.key).Add(float64(res.Attempts - 1))
	}
	r.metrics.events.WithLabelValues(t.key, outcome).Inc()
	r.metrics.duration.WithLabelValues(t.key).Observe(res.Duration.Seconds())
	if res.Outcome == delivery.Failed {
		r.log.Warn("event not delivered", zap.String("trigger", t.key), zap.String("id", e.ID()),
			zap.Int("attempts", res.Attempts), zap.Error(res.Err))
	}
	return res
}

// Status is what the Runner observed of a trigger.
func (r *Runner) Status(key api.TriggerKey) (api.TriggerStatus, bool) {
	r.mu.Lock()
	t := r.trigs[key.String()]
	r.mu.Unlock()
	if t == nil {
		return api.TriggerStatus{}, false
	}
	st := api.TriggerStatus{
		Delivered: t.delivered.Load(), DeadLettered: t.deadLettered.Load(),
		Failed: t.failed.Load(), Retried: t.retried.Load(), Throttled: t.throttled.Load(),
		RateLimit: t.rateLimit.Load(),
	}
	if t.spec.Cron != nil {
		if last := t.lastFire.Load(); last != nil {
			lt := metav1Time(*last)
			st.LastFireTime = &lt
		}
		if next := t.schedule.Next(r.clock.Now()); !next.IsZero() {
			nt := metav1Time(next)
			st.NextFireTime = &nt
		}
		if s, ok := r.sched.Stats(t.key); ok {
			st.Skipped = int64(s.Skipped + s.Missed)
		}
	}
	if t.consumer != nil {
		r.kafkaStatus(t, &st)
	}
	return st, true
}
