package autoscaler

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// metrics are the autoscaler's per-revision gauges, for active revisions
// only (see SeriesIdle). A nil *metrics (no
// registry) hands out nil *revisionGauges, whose methods do nothing.
type metrics struct {
	desired  *prometheus.GaugeVec
	panic    *prometheus.GaugeVec
	observed *prometheus.GaugeVec
}

var revisionLabels = []string{"namespace", "function", "revision"}

// newMetrics registers the gauges. A second Autoscaler on the same
// registry shares the first one's gauges rather than failing.
func newMetrics(reg prometheus.Registerer, log *zap.Logger) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		desired: register(reg, log, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wake_desired_instances",
			Help: "Instances the autoscaler wants for a revision.",
		}, revisionLabels)),
		panic: register(reg, log, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wake_autoscaler_panic",
			Help: "1 while the autoscaler is in panic mode for a revision, else 0.",
		}, revisionLabels)),
		observed: register(reg, log, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wake_autoscaler_observed",
			Help: "The scaling metric's average over the stable and panic windows at the last decision (concurrency, or requests per second; see the metric label).",
		}, append([]string{"window", "metric"}, revisionLabels...))),
	}
	if m.desired == nil || m.panic == nil || m.observed == nil {
		return nil
	}
	return m
}

func register(reg prometheus.Registerer, log *zap.Logger, g *prometheus.GaugeVec) *prometheus.GaugeVec {
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

// SeriesIdle is how long a revision's gauges outlive its activity: they
// are made at the first decision that wants an instance (or sees load),
// and deleted once every decision for SeriesIdle wanted none and saw
// none, so idle revisions, however many, have no series. It is the
// activator's SeriesIdle, for the same reasons: longer than scrape
// intervals and dashboard windows, so the gauges are seen back at 0
// before they go.
const SeriesIdle = 10 * time.Minute

// revisionGauges are one revision's series, while it is active. All its
// methods are called under the revision's lock.
type revisionGauges struct {
	m                    *metrics
	labels               []string
	live                 bool      // the gauges exist
	lastActive           time.Time // the last decision with an instance wanted or load seen
	metric               string    // the label value observed was last set with
	desired, panic       prometheus.Gauge
	stable, panicAverage prometheus.Gauge
}

func (m *metrics) forRevision(namespace, function, name string) *revisionGauges {
	if m == nil {
		return nil
	}
	return &revisionGauges{m: m, labels: []string{namespace, function, name}}
}

// set puts a decision taken at now on the gauges, making them if the
// decision is activity.
func (g *revisionGauges) set(d Decision, now time.Time) {
	if g == nil {
		return
	}
	if d.Desired > 0 || d.Panicking || d.Stable > 0 || d.Panic > 0 {
		g.lastActive = now
	} else if !g.live {
		return // idle, and no series to bring back to 0
	}
	if !g.live {
		g.live = true
		g.desired, g.panic = g.m.desired.WithLabelValues(g.labels...), g.m.panic.WithLabelValues(g.labels...)
	}
	g.desired.Set(float64(d.Desired))
	p := 0.0
	if d.Panicking {
		p = 1
	}
	g.panic.Set(p)
	if d.Metric == "" || d.Activation {
		return // the starting count, or a wake: no averages to show
	}
	if d.Metric != g.metric {
		g.deleteObserved()
		g.metric = d.Metric
		g.stable = g.m.observed.WithLabelValues(append([]string{"stable", d.Metric}, g.labels...)...)
		g.panicAverage = g.m.observed.WithLabelValues(append([]string{"panic", d.Metric}, g.labels...)...)
	}
	g.stable.Set(d.Stable)
	g.panicAverage.Set(d.Panic)
}

// expire deletes the gauges once the revision has been idle for
// SeriesIdle at now. A revision that comes back gets them again at its
// next active decision.
func (g *revisionGauges) expire(now time.Time) {
	if g == nil || !g.live || now.Sub(g.lastActive) < SeriesIdle {
		return
	}
	g.delete()
}

func (g *revisionGauges) deleteObserved() {
	if g.metric == "" {
		return
	}
	g.m.observed.DeleteLabelValues(append([]string{"stable", g.metric}, g.labels...)...)
	g.m.observed.DeleteLabelValues(append([]string{"panic", g.metric}, g.labels...)...)
	g.metric = ""
}

// delete drops the revision's series.
func (g *revisionGauges) delete() {
	if g == nil {
		return
	}
	g.m.desired.DeleteLabelValues(g.labels...)
	g.m.panic.DeleteLabelValues(g.labels...)
	g.deleteObserved()
	g.live = false
}
