package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/pace"
)

// commitTimeout bounds a commit, and leaving the group at shutdown, so
// that an unreachable broker cannot keep Run from returning.
const commitTimeout = 10 * time.Second

// ErrRunTwice is returned by a second call to Run.
var ErrRunTwice = errors.New("kafka: Run called twice")

// Consumer consumes a Kafka trigger's topics as a member of its consumer
// group and delivers each record as a CloudEvent. See the package doc for
// the semantics.
type Consumer struct {
	cfg     Config
	cl      *kgo.Client
	log     *zap.Logger
	source  string // eventSource(cfg.Trigger)
	metrics *metrics
	started atomic.Bool

	pacer *pace.Pacer

	delivered, deadLettered atomic.Uint64

	// commitMu serializes commits with the release of partitions, so a
	// periodic commit never lands for a partition already handed back.
	commitMu sync.Mutex
	mu       sync.Mutex // guards parts
	parts    map[topicPartition]*partition
}

type topicPartition struct {
	topic     string
	partition int32
}

// New validates cfg and builds the Kafka client; it does not connect.
// Errors name the field at fault.
func New(cfg Config) (*Consumer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	sec, err := cfg.securityOpts()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg:     cfg,
		log:     cfg.Logger.With(zap.String("trigger", cfg.Trigger)),
		source:  eventSource(cfg.Trigger),
		metrics: m,
		pacer:   cfg.Pacer,
		parts:   make(map[topicPartition]*partition),
	}
	reset := kgo.NewOffset().AtEnd()
	if cfg.InitialOffset == api.OffsetEarliest {
		reset = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("wake"),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.ConsumeResetOffset(reset),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		// Rebalances wait while the poll loop hands fetched records to
		// partitions (microseconds, it never blocks on a delivery), so
		// no record of a revoked partition is handed out after its
		// revoke.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.WithLogger(kgoLogger{c.log}),
		// A dead-letter topic that does not exist yet is created on the
		// first dead letter where the broker allows it
		// (auto.create.topics.enable); without this, producing to it
		// would retry forever and hold its partition.
		kgo.AllowAutoTopicCreation(),
	}
	opts = append(opts, sec...)
	opts = append(opts, cfg.clientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	c.cl = cl
	return c, nil
}

// Run consumes until ctx ends. Then, in order: it stops fetching, lets
// in-flight deliveries finish within RebalanceGrace (then cancels them),
// commits what was delivered, leaves the group, closes the client and
// deletes the trigger's metric series. It returns nil after ctx ends.
func (c *Consumer) Run(ctx context.Context) error {
	if c.started.Swap(true) {
		return ErrRunTwice
	}
	commitCtx, stopCommits := context.WithCancel(context.Background())
	commitsDone := make(chan struct{})
	go func() {
		defer close(commitsDone)
		c.commitLoop(commitCtx)
	}()

	c.poll(ctx)

	stopCommits()
	<-commitsDone
	c.commitMu.Lock()
	c.release(c.take(nil), c.cfg.RebalanceGrace, true)
	c.commitMu.Unlock()

	// Leaving revokes every partition once more; nothing is left to
	// commit by then. AllowRebalance first: with BlockRebalanceOnPoll a
	// leave waits for it, forever if never called.
	c.cl.AllowRebalance()
	leaveCtx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	if err := c.cl.LeaveGroupContext(leaveCtx); err != nil {
		c.log.Warn("leaving the consumer group", zap.Error(err))
	}
	cancel()
	c.cl.Close()
	if c.metrics != nil {
		c.metrics.deleteTrigger(c.cfg.Trigger)
	}
	return nil
}

// poll fetches and hands records to partitions until ctx ends.
func (c *Consumer) poll(ctx context.Context) {
	for {
		fetches := c.cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			c.cl.AllowRebalance()
			return
		}
		hadErr, hadRecords := false, false
		fetches.EachError(func(topic string, p int32, err error) {
			hadErr = true
			c.log.Warn("fetch error", zap.String("topic", topic), zap.Int32("partition", p), zap.Error(err))
		})
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if fp.Err != nil && len(fp.Records) == 0 {
				return
			}
			hadRecords = hadRecords || len(fp.Records) > 0
			c.partition(fp.Topic, fp.Partition).add(fp.Records, fp.HighWatermark)
		})
		c.cl.AllowRebalance()
		if hadErr && !hadRecords {
			// Do not spin on a persistent error (unknown topic,
			// authorization): the client retries on its own.
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// partition returns the partition for topic/id, creating it on its first
// fetch.
func (c *Consumer) partition(topic string, id int32) *partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	tp := topicPartition{topic, id}
	p, ok := c.parts[tp]
	if !ok {
		p = newPartition(c, topic, id)
		c.parts[tp] = p
	}
	return p
}

// take removes and returns the partitions named (all of them for nil).
func (c *Consumer) take(tps map[string][]int32) []*partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*partition
	for tp, p := range c.parts {
		if tps == nil || slices.Contains(tps[tp.topic], tp.partition) {
			out = append(out, p)
			delete(c.parts, tp)
		}
	}
	return out
}

// release stops partitions (in parallel, each with grace), then commits
// what they finished when commit is set, and drops their series. The
// caller holds commitMu.
func (c *Consumer) release(parts []*partition, grace time.Duration, commit bool) {
	if len(parts) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() { p.stop(grace) })
	}
	wg.Wait()
	if commit {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		c.commit(ctx, parts)
		cancel()
	}
	resume := map[string][]int32{}
	for _, p := range parts {
		resume[p.topic] = append(resume[p.topic], p.id)
		if c.metrics != nil {
			c.metrics.deletePartition(c.cfg.Trigger, p.topic, p.id)
		}
	}
	// A partition paused here and assigned again later must be fetched.
	c.cl.ResumeFetchPartitions(resume)
}

// onRevoked runs on the client's group goroutine when partitions are
// revoked (cooperative rebalance, or leaving): their deliveries get
// RebalanceGrace, what finished is committed, then they are released.
func (c *Consumer) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	parts := c.take(revoked)
	if len(parts) > 0 {
		c.log.Info("partitions revoked", zap.Any("partitions", revoked))
	}
	c.release(parts, c.cfg.RebalanceGrace, true)
}

// onLost runs when the group session was lost: another member may own
// the partitions already, so deliveries are cancelled at once and nothing
// is committed.
func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	parts := c.take(lost)
	if len(parts) > 0 {
		c.log.Warn("partitions lost", zap.Any("partitions", lost))
	}
	c.release(parts, 0, false)
}

// commitLoop commits delivered offsets every CommitInterval.
func (c *Consumer) commitLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.commitMu.Lock()
		c.mu.Lock()
		parts := make([]*partition, 0, len(c.parts))
		for _, p := range c.parts {
			parts = append(parts, p)
		}
		c.mu.Unlock()
		// Not ctx: a commit under way at shutdown is let finish.
		cctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		c.commit(cctx, parts)
		cancel()
		c.commitMu.Unlock()
	}
}

// commit commits each partition's delivered prefix, where it moved, and
// waits for the answer. The caller holds commitMu.
func (c *Consumer) commit(ctx context.Context, parts []*partition) {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	byTP := map[topicPartition]*partition{}
	for _, p := range parts {
		eo, ok := p.toCommit()
		if !ok {
			continue
		}
		if offsets[p.topic] == nil {
			offsets[p.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[p.topic][p.id] = eo
		byTP[topicPartition{p.topic, p.id}] = p
	}
	if len(offsets) == 0 {
		return
	}
	c.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			c.log.Warn("commit failed", zap.Error(err))
			return
		}
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				p := byTP[topicPartition{t.Topic, rp.Partition}]
				if p == nil {
					continue
				}
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					c.log.Warn("commit failed", zap.String("topic", t.Topic), zap.Int32("partition", rp.Partition), zap.Error(err))
					continue
				}
				p.setCommitted(offsets[t.Topic][rp.Partition].Offset)
			}
		}
	})
}

// SetRateLimit changes the trigger's rate limit, in events per second (0
// means unlimited), without a restart. Deliveries waiting for a token
// wait again under the new limit.
func (c *Consumer) SetRateLimit(perSecond float64) { c.pacer.SetLimit(perSecond) }

// waitToken waits for the trigger's pacer: any pause a sink asked for,
// then a token of the rate in force.
func (c *Consumer) waitToken(ctx context.Context) error { return c.pacer.Wait(ctx) }

// Stats is a snapshot of a consumer.
type Stats struct {
	// Delivered and DeadLettered count records since New (a redelivered
	// record counts each time it is delivered). DeadLettered counts both
	// the Deliver's DeadLettered outcomes and records produced to the
	// dead-letter topic.
	Delivered, DeadLettered uint64
	// Redelivering is how many partitions wait out a backoff before
	// redelivering a Failed record.
	Redelivering int
	// Lag is per owned partition, sorted by topic and partition.
	Lag []PartitionLag
	// RateLimit is in events per second; 0 means unlimited.
	RateLimit float64
	// Pace is the pacer's state: the configured limit and the rate in
	// force, learned from the sink when lower.
	Pace pace.State
}

// PartitionLag is how many records of a partition are not yet delivered:
// from the oldest undelivered record to the high watermark of the last
// fetch.
type PartitionLag struct {
	Topic     string
	Partition int32
	Lag       int64
}

// Stats returns a snapshot; it takes each partition's lock briefly.
func (c *Consumer) Stats() Stats {
	s := Stats{Delivered: c.delivered.Load(), DeadLettered: c.deadLettered.Load()}
	s.Pace = c.pacer.State()
	s.RateLimit = s.Pace.InForce
	c.mu.Lock()
	parts := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		parts = append(parts, p)
	}
	c.mu.Unlock()
	for _, p := range parts {
		if p.waiting.Load() > 0 {
			s.Redelivering++
		}
		p.mu.Lock()
		lag, ok := p.lagNow()
		p.mu.Unlock()
		if ok {
			s.Lag = append(s.Lag, PartitionLag{Topic: p.topic, Partition: p.id, Lag: lag})
		}
	}
	slices.SortFunc(s.Lag, func(a, b PartitionLag) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return s
}

// splitTrigger splits "namespace/name"; New has validated it.
func splitTrigger(trigger string) (ns, name string) {
	ns, name, _ = strings.Cut(trigger, "/")
	return ns, name
}

// kgoLogger passes the client's warnings and errors to zap.
type kgoLogger struct{ log *zap.Logger }

func (l kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	fields := make([]zap.Field, 0, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fields = append(fields, zap.Any(fmt.Sprint(keyvals[i]), keyvals[i+1]))
	}
	switch level {
	case kgo.LogLevelError:
		l.log.Error("kafka client: "+msg, fields...)
	default:
		l.log.Warn("kafka client: "+msg, fields...)
	}
}
