package triggers

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.uber.org/zap"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/delivery"
	"github.com/wakefn/wake/eventing/kafka"
)

// newConsumer builds a Kafka trigger's consumer group member; it starts
// fetching in startConsumerLocked.
func (r *Runner) newConsumer(t *running) (*kafka.Consumer, error) {
	k := t.spec.Kafka
	cfg := kafka.Config{
		Trigger:           t.key,
		Brokers:           k.BootstrapServers,
		Topics:            k.Topics,
		Group:             k.ConsumerGroup,
		InitialOffset:     k.InitialOffset,
		SASL:              k.SASL,
		TLS:               k.TLS,
		Ordering:          t.spec.Ordering,
		Sink:              t.sink,
		Deliver:           func(ctx context.Context, e event.Event) delivery.Result { return r.deliver(ctx, t, e) },
		RedeliveryBackoff: r.opts.KafkaRetryBackoff,
		Pacer:             t.pacer,
		Registerer:        r.opts.Registerer,
		Logger:            r.log,
	}
	if d := t.spec.Delivery; d != nil && d.DeadLetterSink != nil {
		cfg.DeadLetterTopic = d.DeadLetterSink.KafkaTopic
	}
	if t.spec.RateLimit != nil {
		cfg.RateLimit = *t.spec.RateLimit
	}
	return kafka.New(cfg)
}

// startConsumerLocked runs a trigger's consumer until the Runner closes or
// the trigger stops.
func (r *Runner) startConsumerLocked(t *running) {
	ctx, cancel := context.WithCancel(r.ctx)
	t.cancel, t.done = cancel, make(chan struct{})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(t.done)
		if err := t.consumer.Run(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("kafka trigger stopped", zap.String("trigger", t.key), zap.Error(err))
		}
	}()
}

// kafkaStatus adds the consumer's view: events it dead-lettered to a
// topic (the deliverer saw them as failed), and the lag of the partitions
// it holds.
func (r *Runner) kafkaStatus(t *running, st *api.TriggerStatus) {
	s := t.consumer.Stats()
	toTopic := max(int64(s.DeadLettered)-st.DeadLettered, 0)
	st.DeadLettered += toTopic
	st.Failed = max(st.Failed-toTopic, 0)
	if p := s.Pace; p.Learned || !p.PausedUntil.IsZero() {
		st.Pace = &api.TriggerPace{RateInForce: p.InForce}
		if p.Learned {
			since := metav1Time(p.Since)
			st.Pace.Reason, st.Pace.Since = p.Reason, &since
		}
		if !p.PausedUntil.IsZero() {
			until := metav1Time(p.PausedUntil)
			st.Pace.PausedUntil = &until
		}
	}
	for _, l := range s.Lag {
		st.Lag = append(st.Lag, api.PartitionLag{Topic: l.Topic, Partition: l.Partition, Lag: l.Lag})
	}
}
