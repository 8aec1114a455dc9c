package triggers

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Runner's Prometheus series, labelled by trigger
// (namespace/name): as many series as triggers.
type metrics struct {
	events    *prometheus.CounterVec
	retries   *prometheus.CounterVec
	throttled *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	prewarms  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wake_trigger_events_total",
			Help: "Events by how their delivery ended: delivered, dead_lettered (to a dead-letter sink), failed (refused for good: a Kafka trigger then produces it to its dead-letter topic or redelivers it), cancelled.",
		}, []string{"trigger", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wake_trigger_retries_total",
			Help: "Delivery attempts after an event's first.",
		}, []string{"trigger"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wake_trigger_throttled_total",
			Help: "Delivery attempts the sink refused for load (429, or 503 with Retry-After): a Kafka trigger slows down and sends them again, outside its retry policy.",
		}, []string{"trigger"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wake_trigger_delivery_seconds",
			Help:    "Time from an event's first attempt to the end of its delivery, retries and dead letter included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"trigger"}),
		prewarms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wake_trigger_prewarms_total",
			Help: "Times a cron trigger woke its function sink ahead of a fire (wake.dev/prewarm).",
		}, []string{"trigger"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.retries, m.throttled, m.duration, m.prewarms)
	}
	return m
}

// forget deletes a trigger's series.
func (m *metrics) forget(trigger string) {
	m.events.DeletePartialMatch(prometheus.Labels{"trigger": trigger})
	m.retries.DeleteLabelValues(trigger)
	m.throttled.DeleteLabelValues(trigger)
	m.duration.DeleteLabelValues(trigger)
	m.prewarms.DeleteLabelValues(trigger)
}
