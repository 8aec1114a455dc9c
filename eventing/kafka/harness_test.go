package kafka

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/delivery"
)

// cluster is an in-process Kafka (kfake) with a producer and an admin
// client over loopback TCP.
type cluster struct {
	t     *testing.T
	addrs []string
	cl    *kgo.Client
}

func newCluster(t *testing.T, partitions int32, topics ...string) *cluster {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &cluster{t: t, addrs: kc.ListenAddrs(), cl: cl}
}

// produce writes n records to each partition of topic; record i of a
// partition has value "P-i" and key keyOf(i) (nil keyOf: no key).
func (c *cluster) produce(topic string, partitions int32, n int, keyOf func(i int) string) {
	c.t.Helper()
	var recs []*kgo.Record
	for p := range partitions {
		for i := range n {
			r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i),
				Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("text/plain")}, {Key: "origin", Value: []byte("test")}}}
			if keyOf != nil {
				r.Key = []byte(keyOf(i))
			}
			recs = append(recs, r)
		}
	}
	if err := c.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		c.t.Fatal(err)
	}
}

// committed returns the group's committed offsets of topic's partitions
// (-1 where none).
func (c *cluster) committed(group, topic string, partitions int32) []int64 {
	c.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = []kmsg.OffsetFetchRequestTopic{rt}
	resp, err := req.RequestWith(context.Background(), c.cl)
	if err != nil {
		c.t.Fatal(err)
	}
	out := make([]int64, partitions)
	for i := range out {
		out[i] = -1
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out
}

// consumeAll reads every record of topic from the start, until n are read
// or the deadline passes.
func (c *cluster) consumeAll(topic string, n int) []*kgo.Record {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	return out
}

// config is a fast-rebalancing test consumer of topic.
func (c *cluster) config(t *testing.T, group string, d Deliver, topics ...string) Config {
	return Config{
		Trigger:           "ns/trig",
		Brokers:           c.addrs,
		Topics:            topics,
		Group:             group,
		InitialOffset:     api.OffsetEarliest,
		Deliver:           d,
		RebalanceGrace:    2 * time.Second,
		RedeliveryBackoff: 20 * time.Millisecond,
		CommitInterval:    50 * time.Millisecond,
		Logger:            zaptest.NewLogger(t),
		clientOpts: []kgo.Opt{
			kgo.FetchMaxWait(100 * time.Millisecond),
			kgo.HeartbeatInterval(100 * time.Millisecond),
			kgo.SessionTimeout(6 * time.Second),
		},
	}
}

// start runs a consumer until the returned stop is called; stop waits for
// Run and fails the test if it takes longer than 20s.
func start(t *testing.T, cfg Config) (*Consumer, func()) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return 20s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

// eventually polls cond every 10ms until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// delivery is one call of a recorder's Deliver.
type call struct {
	consumer  string
	topic     string
	partition int32
	offset    int64
	key       string
	at        time.Time
	event     event.Event
}

// recorder is a fake sink: it records calls and answers with outcome
// (nil: Delivered).
type recorder struct {
	mu      sync.Mutex
	calls   []call
	outcome func(c call, attempt int) delivery.Result
	tries   map[string]int
}

func (r *recorder) deliver(consumer string) Deliver {
	return func(ctx context.Context, e event.Event) delivery.Result {
		parts := strings.Split(e.ID(), "/")
		p, _ := strconv.Atoi(parts[1])
		off, _ := strconv.ParseInt(parts[2], 10, 64)
		key, _ := e.Extensions()[ExtKey].(string)
		c := call{consumer: consumer, topic: parts[0], partition: int32(p), offset: off, key: key, at: time.Now(), event: e}
		r.mu.Lock()
		if r.tries == nil {
			r.tries = map[string]int{}
		}
		r.tries[e.ID()]++
		attempt := r.tries[e.ID()]
		r.mu.Unlock()
		res := delivery.Result{Outcome: delivery.Delivered, Attempts: 1, StatusCode: 200}
		if r.outcome != nil {
			res = r.outcome(c, attempt)
		}
		if res.Outcome == delivery.Delivered {
			r.mu.Lock()
			r.calls = append(r.calls, c)
			r.mu.Unlock()
		}
		return res
	}
}

// delivered returns the successful calls so far.
func (r *recorder) delivered() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// distinct counts distinct delivered topic/partition/offset.
func (r *recorder) distinct() int {
	seen := map[string]bool{}
	for _, c := range r.delivered() {
		seen[c.event.ID()] = true
	}
	return len(seen)
}

// checkOrder fails unless, for each consumer and partition, offsets were
// delivered in increasing order.
func checkOrder(t *testing.T, calls []call) {
	t.Helper()
	type cp struct {
		consumer string
		p        int32
	}
	last := map[cp]int64{}
	for _, c := range calls {
		k := cp{c.consumer, c.partition}
		if l, ok := last[k]; ok && c.offset <= l {
			t.Errorf("consumer %q partition %d: offset %d delivered after %d", c.consumer, c.partition, c.offset, l)
		}
		last[k] = c.offset
	}
}
