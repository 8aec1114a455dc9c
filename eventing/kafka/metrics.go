package kafka

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the consumer's series. Several consumers may share one
// registry: the second to register adopts the first's vector.
type metrics struct {
	lag *prometheus.GaugeVec
}

// newMetrics returns nil for a nil registerer.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wake_trigger_kafka_lag",
		Help: "Records of a partition not yet delivered: from the oldest undelivered record to the high watermark.",
	}, []string{"trigger", "topic", "partition"})
	if err := reg.Register(lag); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		existing, ok := are.ExistingCollector.(*prometheus.GaugeVec)
		if !ok {
			return nil, err
		}
		lag = existing
	}
	return &metrics{lag: lag}, nil
}

func (m *metrics) deletePartition(trigger, topic string, partition int32) {
	m.lag.DeleteLabelValues(trigger, topic, strconv.FormatInt(int64(partition), 10))
}

func (m *metrics) deleteTrigger(trigger string) {
	m.lag.DeletePartialMatch(prometheus.Labels{"trigger": trigger})
}
