package activator

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	api "github.com/wakefn/wake/api/v1"
)

// metrics are the activator's Prometheus series. Labels are bounded: one
// set per revision (removed with it) and, for requests, per status code.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	coldStarts     *prometheus.CounterVec
	coldDuration   *prometheus.HistogramVec
	coldPhase      *prometheus.HistogramVec
	queueDepth     *prometheus.GaugeVec
	readyInstances *prometheus.GaugeVec
	protocolErrors *prometheus.CounterVec
}

var revisionLabels = []string{"namespace", "function", "revision"}

// coldBuckets are the buckets of cold-start durations, 5 ms to 5 min.
var coldBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
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
		reg.MustRegister(m.requests, m.duration, m.coldStarts, m.coldDuration, m.coldPhase, m.queueDepth, m.readyInstances, m.protocolErrors)
	}
	return m
}

// revisionMetrics are one revision's series, resolved once at registration
// so the request path does no label hashing (a sync.Map read for the code).
type revisionMetrics struct {
	labels       []string
	requests     *prometheus.CounterVec
	codes        sync.Map // int → prometheus.Counter
	duration     prometheus.Observer
	coldStarts   prometheus.Counter
	coldDuration prometheus.Observer
	coldPhases   [numPhases]prometheus.Observer // but create: see createPhase
	// createPhase is the create phase's series, made at a container's
	// first cold start, so that revisions of commands have none.
	createPhase    func() prometheus.Observer
	queueDepth     prometheus.Gauge
	readyInstances prometheus.Gauge
}

func (m *metrics) forRevision(fn api.FunctionKey, rev api.RevisionKey) revisionMetrics {
	l := []string{rev.Namespace, fn.Name, rev.Name}
	var phases [numPhases]prometheus.Observer
	for i, name := range phaseNames {
		if i != phaseCreate {
			phases[i] = m.coldPhase.WithLabelValues(rev.Namespace, fn.Name, rev.Name, name)
		}
	}
	return revisionMetrics{
		coldPhases: phases,
		createPhase: func() prometheus.Observer {
			return m.coldPhase.WithLabelValues(rev.Namespace, fn.Name, rev.Name, phaseNames[phaseCreate])
		},
		labels:         l,
		requests:       m.requests,
		duration:       m.duration.WithLabelValues(l...),
		coldStarts:     m.coldStarts.WithLabelValues(l...),
		coldDuration:   m.coldDuration.WithLabelValues(l...),
		queueDepth:     m.queueDepth.WithLabelValues(l...),
		readyInstances: m.readyInstances.WithLabelValues(l...),
	}
}

func (rm *revisionMetrics) countRequest(code int) {
	if c, ok := rm.codes.Load(code); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := rm.requests.WithLabelValues(append(rm.labels[:3:3], strconv.Itoa(code))...)
	rm.codes.Store(code, c)
	c.Inc()
}

// forget deletes every series of a revision.
func (m *metrics) forget(fn api.FunctionKey, rev api.RevisionKey) {
	match := prometheus.Labels{"namespace": rev.Namespace, "function": fn.Name, "revision": rev.Name}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.requests, m.duration, m.coldStarts, m.coldDuration, m.coldPhase, m.queueDepth, m.readyInstances, m.protocolErrors,
	} {
		v.DeletePartialMatch(match)
	}
}
