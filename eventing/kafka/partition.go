package kafka

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/delivery"
)

// Headers added to a record produced to the dead-letter topic, besides
// Knative's delivery.ExtErrorDest, ExtErrorCode and ExtErrorData. Their
// names are valid CloudEvents extension names, so a KafkaSource reading
// the dead-letter topic turns them into extensions.
const (
	HeaderSourceTopic     = "kafkatopic"
	HeaderSourcePartition = "kafkapartition"
	HeaderSourceOffset    = "kafkaoffset"
)

// maxErrorData bounds knativeerrordata before base64, as eventing/delivery
// does.
const maxErrorData = 1024

// abandonAfter is how long stop waits, after cancelling deliveries, for a
// Deliver that ignores its context before giving up on it. Its record is
// not committed.
const abandonAfter = 5 * time.Second

// partition delivers the records of one owned topic partition. Records
// are routed to lanes: one lane per partition (OrderingPartition) or per
// record key (OrderingKey). A lane delivers its records one at a time, in
// offset order; lanes run in parallel up to MaxInFlightPerPartition
// deliveries. A partition lives from its first fetch to its revoke, loss
// or the consumer's shutdown; it is never reused.
type partition struct {
	c     *Consumer
	topic string
	id    int32
	lag   prometheus.Gauge

	sem chan struct{} // one slot per delivery in flight
	// intake ends when the partition stops: no delivery starts after it,
	// backoff and rate-limit waits end. deliveries ends after the grace:
	// in-flight deliveries are cancelled.
	intake, deliveries         context.Context
	stopIntake, stopDeliveries context.CancelFunc
	wg                         sync.WaitGroup // lane goroutines
	waiting                    atomic.Int32   // lanes waiting to redeliver

	mu        sync.Mutex
	stopped   bool
	lanes     map[string]*lane
	track     tracker
	hwm       int64 // high watermark of the last fetch; -1 unknown
	paused    bool
	committed int64 // last offset committed by this consumer; -1 none
}

type lane struct {
	queue []*kgo.Record
}

func newPartition(c *Consumer, topic string, id int32) *partition {
	p := &partition{
		c: c, topic: topic, id: id,
		sem:       make(chan struct{}, c.cfg.MaxInFlightPerPartition),
		lanes:     make(map[string]*lane),
		track:     newTracker(),
		hwm:       -1,
		committed: -1,
	}
	p.intake, p.stopIntake = context.WithCancel(context.Background())
	p.deliveries, p.stopDeliveries = context.WithCancel(context.Background())
	if c.metrics != nil {
		p.lag = c.metrics.lag.WithLabelValues(c.cfg.Trigger, topic, strconv.FormatInt(int64(id), 10))
	}
	return p
}

// add hands fetched records (in offset order) to their lanes and pauses
// fetching the partition when too many are outstanding. It never blocks
// on deliveries, so the poll loop (which blocks rebalances meanwhile)
// returns to the client at once.
func (p *partition) add(recs []*kgo.Record, hwm int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.hwm = hwm
	for _, r := range recs {
		p.track.add(r.Offset, r.LeaderEpoch)
		key := ""
		if p.c.cfg.Ordering == api.OrderingKey {
			key = string(r.Key) // a nil key is a key too: keyless records stay in order
		}
		l, ok := p.lanes[key]
		if !ok {
			l = &lane{}
			p.lanes[key] = l
			p.wg.Add(1)
			go p.runLane(key, l)
		}
		l.queue = append(l.queue, r)
	}
	if !p.paused && p.track.outstanding() >= p.c.cfg.MaxBufferedPerPartition {
		p.paused = true
		p.c.cl.PauseFetchPartitions(map[string][]int32{p.topic: {p.id}})
	}
	p.updateLag()
}

// runLane delivers a lane's records in order until it is empty or the
// partition stops.
func (p *partition) runLane(key string, l *lane) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if len(l.queue) == 0 || p.intake.Err() != nil {
			delete(p.lanes, key)
			p.mu.Unlock()
			return
		}
		r := l.queue[0]
		p.mu.Unlock()

		if !p.handle(r) {
			p.mu.Lock()
			delete(p.lanes, key)
			p.mu.Unlock()
			return
		}

		p.mu.Lock()
		l.queue[0] = nil
		l.queue = l.queue[1:]
		p.track.done(r.Offset)
		if !p.stopped {
			if p.paused && p.track.outstanding() <= p.c.cfg.MaxBufferedPerPartition/2 {
				p.paused = false
				p.c.cl.ResumeFetchPartitions(map[string][]int32{p.topic: {p.id}})
			}
			p.updateLag()
		}
		p.mu.Unlock()
	}
}

// handle delivers r until it is delivered or dead-lettered (true) or the
// partition stops (false). A Failed delivery with no dead-letter topic is
// redelivered after a backoff; the lane, and so the partition with
// OrderingPartition, waits meanwhile.
func (p *partition) handle(r *kgo.Record) bool {
	c := p.c
	e := toEvent(r, c.source)
	backoff := c.cfg.RedeliveryBackoff
	for {
		if !p.acquire() {
			return false
		}
		res := c.cfg.Deliver(p.deliveries, e)
		<-p.sem
		switch res.Outcome {
		case delivery.Delivered:
			c.delivered.Add(1)
			return true
		case delivery.DeadLettered:
			c.deadLettered.Add(1)
			return true
		case delivery.Failed:
			if c.cfg.DeadLetterTopic != "" {
				return p.deadLetter(r, res)
			}
		}
		if p.deliveries.Err() != nil {
			return false
		}
		c.log.Warn("delivery failed, will redeliver",
			zap.String("topic", r.Topic), zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset),
			zap.Stringer("outcome", res.Outcome), zap.Duration("backoff", backoff), zap.Error(res.Err))
		if !p.wait(backoff) {
			return false
		}
		backoff = min(2*backoff, c.cfg.MaxRedeliveryBackoff)
	}
}

// acquire takes a delivery slot and a rate-limit token; false when the
// partition stopped meanwhile.
func (p *partition) acquire() bool {
	select {
	case p.sem <- struct{}{}:
	case <-p.intake.Done():
		return false
	}
	if p.c.waitToken(p.intake) != nil {
		<-p.sem
		return false
	}
	return true
}

// wait sleeps d unless the partition stops first.
func (p *partition) wait(d time.Duration) bool {
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.intake.Done():
		return false
	}
}

// deadLetter produces r to the dead-letter topic, retrying with backoff
// until the broker acknowledges it (true) or the partition stops (false).
func (p *partition) deadLetter(r *kgo.Record, res delivery.Result) bool {
	c := p.c
	dl := deadLetterRecord(r, c.cfg.DeadLetterTopic, c.cfg.Sink, res)
	backoff := c.cfg.RedeliveryBackoff
	for {
		err := c.cl.ProduceSync(p.deliveries, dl).FirstErr()
		if err == nil {
			c.deadLettered.Add(1)
			return true
		}
		if p.deliveries.Err() != nil {
			return false
		}
		c.log.Warn("producing to the dead-letter topic failed, will retry",
			zap.String("topic", c.cfg.DeadLetterTopic), zap.String("source_topic", r.Topic),
			zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset), zap.Error(err))
		if !p.wait(backoff) {
			return false
		}
		backoff = min(2*backoff, c.cfg.MaxRedeliveryBackoff)
	}
}

// deadLetterRecord is r for the dead-letter topic: the same key, value
// and headers, plus why (Knative's knativeerror* names) and where it came
// from.
func deadLetterRecord(r *kgo.Record, topic, sink string, res delivery.Result) *kgo.Record {
	h := make([]kgo.RecordHeader, 0, len(r.Headers)+6)
	h = append(h, r.Headers...)
	h = append(h, kgo.RecordHeader{Key: delivery.ExtErrorDest, Value: []byte(sink)})
	var data []byte
	if res.StatusCode != 0 {
		h = append(h, kgo.RecordHeader{Key: delivery.ExtErrorCode, Value: []byte(strconv.Itoa(res.StatusCode))})
		var se *delivery.StatusError
		if errors.As(res.Err, &se) {
			data = se.Body
		}
	} else if res.Err != nil {
		data = []byte(res.Err.Error())
	}
	if len(data) > maxErrorData {
		data = data[:maxErrorData]
	}
	if len(data) > 0 {
		h = append(h, kgo.RecordHeader{Key: delivery.ExtErrorData, Value: []byte(base64.StdEncoding.EncodeToString(data))})
	}
	h = append(h,
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: []byte(strconv.FormatInt(int64(r.Partition), 10))},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
	)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: h, Timestamp: r.Timestamp}
}

// stop ends the partition: no delivery starts any more, in-flight ones get
// grace to finish and are then cancelled. It returns when every lane has
// exited, or abandonAfter after the cancel for a Deliver that ignores its
// context.
func (p *partition) stop(grace time.Duration) {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.stopIntake()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	if grace > 0 {
		t := time.NewTimer(grace)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
	p.stopDeliveries()
	t := time.NewTimer(abandonAfter)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		p.c.log.Error("a delivery ignored its cancelled context; abandoning it",
			zap.String("topic", p.topic), zap.Int32("partition", p.id))
	}
}

// toCommit is the offset to commit, if it moved since the last commit.
func (p *partition) toCommit() (kgo.EpochOffset, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.track.next <= p.committed {
		return kgo.EpochOffset{}, false
	}
	return kgo.EpochOffset{Epoch: p.track.epoch, Offset: p.track.next}, true
}

func (p *partition) setCommitted(offset int64) {
	p.mu.Lock()
	p.committed = max(p.committed, offset)
	p.mu.Unlock()
}

// lagNow is the partition's lag: records from the oldest not yet
// delivered (or, when all fetched ones are done, the next to fetch) to the
// high watermark. ok is false before the first fetch.
func (p *partition) lagNow() (lag int64, ok bool) {
	if p.hwm < 0 {
		return 0, false
	}
	pos := p.track.position()
	if pos < 0 {
		return 0, true // only empty fetches so far: at the end of the log
	}
	return max(0, p.hwm-pos), true
}

// updateLag sets the gauge; p.mu is held.
func (p *partition) updateLag() {
	if lag, ok := p.lagNow(); ok && p.lag != nil {
		p.lag.Set(float64(lag))
	}
}
