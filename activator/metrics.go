package activator

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	api "github.com/wakefn/wake/api/v1"
)

// SeriesIdle is how long a revision's series outlive its last activity.
//
// A revision has series only while it is active: from the first request,
// instance or cold start, until it has had no request in flight or
// queued, no instance and no use of its series for SeriesIdle (checked
// when /metrics is scraped). Idle revisions, however many, cost nothing
// per scrape: at 10,000 idle functions, wake serve's scrape went from
// 148 MB (119 series per revision) and 3–8 s to 8 KB and under 10 ms.
//
// Ten minutes is longer than the usual scrape intervals (15–60 s) and the
// dashboard's rate windows (1–5 m), so a revision that goes quiet shows
// its last requests, and its gauges back at 0, before its series go; and
// a revision called every few minutes keeps its series rather than
// churning them. A series that comes back starts its counters at zero
// again: Prometheus' rate() and increase() treat that as a counter reset,
// as after a restart, so no increase is lost to the dashboard.
const SeriesIdle = 10 * time.Minute

// metrics are the activator's Prometheus series. Labels are bounded: one
// set per active revision (see SeriesIdle; all removed with the revision)
// and, for requests, per status code. metrics is the collector the
// registry sees: each scrape first drops the series of revisions idle for
// SeriesIdle, then collects the rest.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	coldStarts     *prometheus.CounterVec
	coldDuration   *prometheus.HistogramVec
	coldPhase      *prometheus.HistogramVec
	queueDepth     *prometheus.GaugeVec
	readyInstances *prometheus.GaugeVec
	protocolErrors *prometheus.CounterVec

	now  func() time.Time
	idle time.Duration

	liveMu sync.Mutex
	live   map[*revisionMetrics]struct{} // revisions that have series
}

var revisionLabels = []string{"namespace", "function", "revision"}

// coldBuckets are the buckets of cold-start durations, 5 ms to 5 min.
var coldBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// newMetrics makes the series' families and registers them with reg (nil:
// none). now is the clock of SeriesIdle; nil means time.Now.
func newMetrics(reg prometheus.Registerer, now func() time.Time) *metrics {
	if now == nil {
		now = time.Now
	}
	m := &metrics{
		now:  now,
		idle: SeriesIdle,
		live: make(map[*revisionMetrics]struct{}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wake_requests_total",
			Help: "Requests served, by function, revision and HTTP status code.",
		}, append(revisionLabels, "code")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wake_request_duration_seconds",
			Help:    "Time from a request's arrival at wake to the end of its response, queueing included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, revisionLabels),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wake_cold_starts_total",
			Help: "Times a revision at zero instances was woken by a request.",
		}, revisionLabels),
		coldDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wake_cold_start_duration_seconds",
			Help:    "For requests that arrived at a revision with no instance: arrival to the first byte of the response.",
			Buckets: coldBuckets,
		}, revisionLabels),
		coldPhase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wake_cold_start_phase_seconds",
			Help:    "For each wake-up from zero, how the first request's wait divided: queue (before the instance was forked, and after it was warm), start (fork to first answer), ready (to the readiness probe passing), warmup (the warm-up requests).",
			Buckets: coldBuckets,
		}, append(revisionLabels[:3:3], "phase")),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wake_activator_queue_depth",
			Help: "Requests held by the activator waiting for an instance.",
		}, revisionLabels),
		readyInstances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wake_ready_instances",
			Help: "Instances ready to take requests.",
		}, revisionLabels),
		protocolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wake_upstream_protocol_errors_total",
			Help: "Responses from instances that broke HTTP/1.1 framing, by kind: extra_bytes (bytes past a response's end, or on an idle connection), malformed (a head that cannot be framed exactly), truncated (the connection ended inside a body). The connection is closed each time.",
		}, append(revisionLabels, "kind")),
	}
	if reg != nil {
		reg.MustRegister(m)
	}
	return m
}

func (m *metrics) vecs() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.coldStarts, m.coldDuration, m.coldPhase, m.queueDepth, m.readyInstances, m.protocolErrors}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, v := range m.vecs() {
		v.Describe(ch)
	}
}

// Collect implements prometheus.Collector: it drops idle revisions'
// series, then collects. Its cost is one check per active revision plus
// the series themselves; idle revisions cost nothing.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.sweep()
	for _, v := range m.vecs() {
		v.Collect(ch)
	}
}

// sweep deletes the series of every revision idle for m.idle.
func (m *metrics) sweep() {
	m.liveMu.Lock()
	live := make([]*revisionMetrics, 0, len(m.live))
	for rm := range m.live {
		live = append(live, rm)
	}
	m.liveMu.Unlock()
	now := m.now()
	for _, rm := range live {
		rm.expire(now, m.idle)
	}
}

// revisionMetrics is one revision's handle on its series, which exist only
// while it is active (see SeriesIdle). Its methods create them at first
// use. Cost on the request path while they exist: an atomic pointer load,
// an atomic flag load, and the series' own update (a sync.Map read for the
// status code's counter); no label hashing.
type revisionMetrics struct {
	m      *metrics
	labels []string
	// lock and busyLocked are the revision's: a revision with a request
	// in flight or queued, or an instance, keeps its series, and its
	// gauges change only under lock, so they are never deleted under a
	// change.
	lock       sync.Locker
	busyLocked func() bool

	cur        atomic.Pointer[revisionSeries] // nil: no series
	mu         sync.Mutex                     // creates and deletes the series
	removed    bool                           // under mu: the revision is gone, make none
	lastActive time.Time                      // under mu
}

// revisionSeries are the series of one revision while it is active.
type revisionSeries struct {
	used           atomic.Bool // used since the last sweep
	codes          sync.Map    // int → prometheus.Counter
	duration       prometheus.Observer
	queueDepth     prometheus.Gauge
	readyInstances prometheus.Gauge
}

func (m *metrics) forRevision(fn api.FunctionKey, rev api.RevisionKey, lock sync.Locker, busyLocked func() bool) *revisionMetrics {
	return &revisionMetrics{m: m, labels: []string{rev.Namespace, fn.Name, rev.Name}, lock: lock, busyLocked: busyLocked}
}

// series returns the revision's series, creating them at first use; nil
// once the revision is removed.
func (rm *revisionMetrics) series() *revisionSeries {
	if s := rm.cur.Load(); s != nil {
		if !s.used.Load() {
			s.used.Store(true)
		}
		return s
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if s := rm.cur.Load(); s != nil || rm.removed {
		return s
	}
	m, l := rm.m, rm.labels
	s := &revisionSeries{
		duration:       m.duration.WithLabelValues(l...),
		queueDepth:     m.queueDepth.WithLabelValues(l...),
		readyInstances: m.readyInstances.WithLabelValues(l...),
	}
	s.used.Store(true)
	rm.lastActive = m.now()
	rm.cur.Store(s)
	m.liveMu.Lock()
	m.live[rm] = struct{}{}
	m.liveMu.Unlock()
	return s
}

// expire deletes the series if the revision has been idle for idle.
// A request that loaded the series just before they are deleted counts
// into the deleted ones: with no request for idle, that race needs one to
// arrive within nanoseconds of the scrape, and loses one count.
func (rm *revisionMetrics) expire(now time.Time, idle time.Duration) {
	rm.lock.Lock()
	defer rm.lock.Unlock()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	s := rm.cur.Load()
	if s == nil {
		return
	}
	if s.used.Swap(false) || rm.busyLocked() {
		rm.lastActive = now
		return
	}
	if now.Sub(rm.lastActive) < idle {
		return
	}
	rm.deleteLocked()
}

// remove deletes the series for good: the revision is gone.
func (rm *revisionMetrics) remove() {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.removed = true
	rm.deleteLocked()
}

// deleteLocked deletes every series of the revision. Under rm.mu.
func (rm *revisionMetrics) deleteLocked() {
	rm.cur.Store(nil)
	m := rm.m
	m.liveMu.Lock()
	delete(m.live, rm)
	m.liveMu.Unlock()
	match := prometheus.Labels{"namespace": rm.labels[0], "function": rm.labels[1], "revision": rm.labels[2]}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.requests, m.duration, m.coldStarts, m.coldDuration, m.coldPhase, m.queueDepth, m.readyInstances, m.protocolErrors,
	} {
		v.DeletePartialMatch(match)
	}
}

// countRequest counts a request answered without reaching an instance
// (its body failed); requestDone counts an answered one with its
// duration, looking the series up once.
func (rm *revisionMetrics) countRequest(code int) {
	if s := rm.series(); s != nil {
		s.count(rm, code)
	}
}

func (rm *revisionMetrics) requestDone(code int, d time.Duration) {
	if s := rm.series(); s != nil {
		s.count(rm, code)
		s.duration.Observe(d.Seconds())
	}
}

func (s *revisionSeries) count(rm *revisionMetrics, code int) {
	if c, ok := s.codes.Load(code); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := rm.m.requests.WithLabelValues(append(rm.labels[:3:3], strconv.Itoa(code))...)
	s.codes.Store(code, c)
	c.Inc()
}

// observeColdDuration, coldStart and observePhase record wake-ups from
// zero. Those are rare, so their series are looked up by label each time,
// and a revision that never woke from zero (or, for the create phase,
// runs a command, not an image) has none.
func (rm *revisionMetrics) observeColdDuration(d time.Duration) {
	if rm.series() == nil {
		return
	}
	rm.m.coldDuration.WithLabelValues(rm.labels...).Observe(d.Seconds())
}

func (rm *revisionMetrics) coldStart() {
	if rm.series() == nil {
		return
	}
	rm.m.coldStarts.WithLabelValues(rm.labels...).Inc()
}

func (rm *revisionMetrics) observePhase(phase int, d time.Duration) {
	if rm.series() == nil {
		return
	}
	rm.m.coldPhase.WithLabelValues(rm.labels[0], rm.labels[1], rm.labels[2], phaseNames[phase]).Observe(d.Seconds())
}

// protocolError counts one break of HTTP/1.1 framing; rare, so looked up
// by label.
func (rm *revisionMetrics) protocolError(kind protocolKind) {
	if rm.series() == nil {
		return
	}
	rm.m.protocolErrors.WithLabelValues(rm.labels[0], rm.labels[1], rm.labels[2], protocolKindNames[kind]).Inc()
}

// setQueueDepth and setReady set the gauges. Under the revision's lock.
// Zero on a revision with no series makes none: an idle revision's
// updates (the runtime reporting no instance) are not activity.
func (rm *revisionMetrics) setQueueDepth(n int) {
	if n == 0 && rm.cur.Load() == nil {
		return
	}
	if s := rm.series(); s != nil {
		s.queueDepth.Set(float64(n))
	}
}

func (rm *revisionMetrics) setReady(n int) {
	if n == 0 && rm.cur.Load() == nil {
		return
	}
	if s := rm.series(); s != nil {
		s.readyInstances.Set(float64(n))
	}
}
