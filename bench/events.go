package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The events scenario: a backlog of Kafka records drained into a no-op
// function, once by a wake trigger and once by a bare franz-go consumer
// POSTing to the same instance directly, in interleaved rounds.
const (
	eventsTopic      = "bench"
	eventsPartitions = 4
	eventsValueBytes = 100
	eventsFunction   = "noop"
	// eventsPoll is how often the trigger's status.delivered is read.
	eventsPoll = 100 * time.Millisecond
	// eventsRoundTimeout bounds one drain of the backlog.
	eventsRoundTimeout = 5 * time.Minute
)

// eventsTargets are compared in this order within each round.
var eventsTargets = []string{"wake", "bare"}

// eventsRow is one consumer: the medians over the rounds.
type eventsRow struct {
	Target    string  `json:"target"`
	EventsPS  float64 `json:"events_per_s"`
	Seconds   float64 `json:"seconds"`
	FirstMs   float64 `json:"first_delivery_ms"` // start to the first event delivered
	Errors    int     `json:"errors"`            // summed over the rounds
	WakeCPU1k float64 `json:"wake_serve_cpu_s_per_1k"`
	// ConsumerCPU1k is the bare consumer's CPU (the bench process) per
	// 1,000 events; 0 for wake, whose consumer is inside wake serve.
	ConsumerCPU1k float64 `json:"consumer_cpu_s_per_1k,omitempty"`
	FnCPU1k       float64 `json:"function_cpu_s_per_1k"`
}

type eventsResult struct {
	Records    int         `json:"records"`
	Partitions int         `json:"partitions"`
	ValueBytes int         `json:"value_bytes"`
	Rounds     int         `json:"rounds"`
	Rows       []eventsRow `json:"rows"`
	// RatioWakeBare is wake's events/s over the bare consumer's.
	RatioWakeBare float64 `json:"ratio_wake_bare"`
	// DeliveryCPU1k is wake serve's CPU per 1,000 events less what the
	// embedded broker alone used per 1,000 events in the bare rounds:
	// the cost of wake's consumer, delivery and routing.
	DeliveryCPU1k float64 `json:"wake_delivery_cpu_s_per_1k"`
}

// eventsSample is one drain of the backlog.
type eventsSample struct {
	seconds, first              float64
	errors                      int
	wakeCPU, consumerCPU, fnCPU float64 // CPU-seconds
}

func runEvents(ctx context.Context, c *config, bins binaries) (*eventsResult, error) {
	n := c.events
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	broker := fmt.Sprintf("127.0.0.1:%d", port)
	w, err := startWake(ctx, c, bins, "events", "--kafka-embedded", broker)
	if err != nil {
		return nil, err
	}
	defer w.close()
	spec := fnSpec{name: eventsFunction, annotations: map[string]string{"min-scale": "1", "max-scale": "1", "initial-scale": "1"}}
	if err := w.apply(ctx, manifest(bins.testfn, spec)); err != nil {
		return nil, err
	}
	rev := eventsFunction + "-00001"
	if err := w.waitReplicas(ctx, rev, 1, 30*time.Second); err != nil {
		return nil, err
	}
	fnPid, direct, err := instanceAddr(w.pid(), rev)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := produceBacklog(ctx, broker, n); err != nil {
		return nil, err
	}
	fmt.Printf("events: %d records of %d bytes in %d partitions produced in %s; %d round(s) of wake, bare; function instance at %s\n",
		n, eventsValueBytes, eventsPartitions, time.Since(t0).Round(time.Millisecond), c.rounds, direct)

	samples := map[string][]eventsSample{}
	for round := 1; round <= c.rounds; round++ {
		for _, target := range eventsTargets {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			cpu0, err := eventsCPU(w.pid(), fnPid)
			if err != nil {
				return nil, err
			}
			var s eventsSample
			name := fmt.Sprintf("%s-%d", target, round)
			switch target {
			case "wake":
				s, err = drainWake(ctx, w, broker, name, n)
			case "bare":
				s, err = drainBare(ctx, broker, "bench."+name, "http://"+direct+"/", n)
			}
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round, target, err)
			}
			cpu1, err := eventsCPU(w.pid(), fnPid)
			if err != nil {
				return nil, err
			}
			s.wakeCPU, s.consumerCPU, s.fnCPU = cpu1[0]-cpu0[0], cpu1[1]-cpu0[1], cpu1[2]-cpu0[2]
			samples[target] = append(samples[target], s)
			fmt.Fprintf(os.Stderr, "  round %d %-4s %8.0f events/s  %6.2f s  first after %5.0f ms  errors %d\n",
				round, target, float64(n)/s.seconds, s.seconds, s.first*1000, s.errors)
			time.Sleep(time.Second) // let the last round's connections and goroutines settle
		}
	}
	res := eventsRows(samples, n)
	res.Rounds = c.rounds
	res.print()
	return res, nil
}

// eventsRows takes each consumer's medians over the rounds.
func eventsRows(samples map[string][]eventsSample, n int) *eventsResult {
	res := &eventsResult{Records: n, Partitions: eventsPartitions, ValueBytes: eventsValueBytes}
	per1k := func(cpu float64) float64 { return ratio(cpu, float64(n)/1000) }
	for _, target := range eventsTargets {
		ss := samples[target]
		if len(ss) == 0 {
			continue
		}
		pick := func(f func(eventsSample) float64) float64 {
			xs := make([]float64, len(ss))
			for i, s := range ss {
				xs[i] = f(s)
			}
			return median(xs)
		}
		row := eventsRow{Target: target,
			EventsPS:  pick(func(s eventsSample) float64 { return ratio(float64(n), s.seconds) }),
			Seconds:   pick(func(s eventsSample) float64 { return s.seconds }),
			FirstMs:   pick(func(s eventsSample) float64 { return s.first * 1000 }),
			WakeCPU1k: pick(func(s eventsSample) float64 { return per1k(s.wakeCPU) }),
			FnCPU1k:   pick(func(s eventsSample) float64 { return per1k(s.fnCPU) }),
		}
		if target == "bare" {
			row.ConsumerCPU1k = pick(func(s eventsSample) float64 { return per1k(s.consumerCPU) })
		}
		for _, s := range ss {
			row.Errors += s.errors
		}
		res.Rows = append(res.Rows, row)
	}
	wake, bare := findEventsRow(res.Rows, "wake"), findEventsRow(res.Rows, "bare")
	res.RatioWakeBare = ratio(wake.EventsPS, bare.EventsPS)
	res.DeliveryCPU1k = wake.WakeCPU1k - bare.WakeCPU1k
	return res
}

func findEventsRow(rows []eventsRow, target string) eventsRow {
	for _, r := range rows {
		if r.Target == target {
			return r
		}
	}
	return eventsRow{}
}

func (r *eventsResult) print() {
	fmt.Printf("\nevents: medians of %d round(s), each draining %d records of %d bytes from %d partitions\n\n",
		r.Rounds, r.Records, r.ValueBytes, r.Partitions)
	fmt.Println(r.table())
	fmt.Printf("wake/bare %.2f; wake's consumer, delivery and routing (wake serve less the broker): %.3f CPU-s per 1k events\n",
		r.RatioWakeBare, r.DeliveryCPU1k)
}

// table is the events scenario as a Markdown table.
func (r *eventsResult) table() string {
	t := newTable("consumer", "events", "events/s", "drain s", "first event ms", "wake serve CPU s/1k", "bare consumer CPU s/1k", "function CPU s/1k", "errors")
	for _, row := range r.Rows {
		consumer := "-"
		if row.Target == "bare" {
			consumer = f3(row.ConsumerCPU1k)
		}
		t.add(row.Target, fmt.Sprint(r.Records), fmt.Sprintf("%.0f", row.EventsPS), fmt.Sprintf("%.2f", row.Seconds),
			fmt.Sprintf("%.0f", row.FirstMs), f3(row.WakeCPU1k), consumer, f3(row.FnCPU1k), fmt.Sprint(row.Errors))
	}
	return t.String()
}

// eventsCPU returns the CPU-seconds so far of wake serve, of this process
// (the bare consumer) and of the function instance.
func eventsCPU(wakePid, fnPid int) ([3]float64, error) {
	var out [3]float64
	for i, pid := range []int{wakePid, os.Getpid(), fnPid} {
		s, err := cpuSeconds(pid)
		if err != nil {
			return out, err
		}
		out[i] = s
	}
	return out, nil
}

// instanceAddr finds the instance of revision rev among wake serve's
// children, by its K_REVISION, and returns its PID and the loopback address
// it listens on (its PORT): the bare consumer calls that same process.
func instanceAddr(wakePid int, rev string) (int, string, error) {
	for _, pid := range children(wakePid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		var port string
		var ours bool
		for _, kv := range strings.Split(string(b), "\x00") {
			if p, ok := strings.CutPrefix(kv, "PORT="); ok {
				port = p
			}
			ours = ours || kv == "K_REVISION="+rev
		}
		if ours && port != "" {
			return pid, "127.0.0.1:" + port, nil
		}
	}
	return 0, "", fmt.Errorf("no instance of %s among wake serve's children", rev)
}

// produceBacklog creates the topic with eventsPartitions partitions and
// produces n records of eventsValueBytes, spread evenly over them.
func produceBacklog(ctx context.Context, broker string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(eventsTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	create := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = eventsTopic, eventsPartitions, 1
	create.Topics = append(create.Topics, t)
	resp, err := create.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", eventsTopic, err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return fmt.Errorf("creating topic %s: %+v", eventsTopic, resp.Topics)
	}
	value := []byte(strings.Repeat("x", eventsValueBytes))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		wg.Add(1)
		r := &kgo.Record{Partition: int32(i % eventsPartitions), Value: value}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("producing: %w", firstErr)
	}
	return nil
}

// triggerStatus is the part of a trigger the harness reads.
type triggerStatus struct {
	Status struct {
		Delivered int64 `json:"delivered"`
		Failed    int64 `json:"failed"`
	} `json:"status"`
}

// drainWake applies a trigger named name (so a consumer group of its own,
// from the earliest offset) and times from the apply until its
// status.delivered reaches n, read every eventsPoll; then deletes it.
func drainWake(ctx context.Context, w *wake, broker, name string, n int) (eventsSample, error) {
	var s eventsSample
	trigger := fmt.Sprintf(`apiVersion: wake.dev/v1
kind: Trigger
metadata:
  name: %s
spec:
  kafka:
    bootstrapServers: [%q]
    topics: [%s]
    initialOffset: earliest
  sink:
    function: %s
`, name, broker, eventsTopic, eventsFunction)
	path := "/apis/wake.dev/v1/namespaces/default/triggers/" + name
	start := time.Now()
	if err := w.apply(ctx, trigger); err != nil {
		return s, err
	}
	defer w.adminDo(context.WithoutCancel(ctx), http.MethodDelete, path, "", nil)
	deadline := start.Add(eventsRoundTimeout)
	for {
		b, err := w.adminDo(ctx, http.MethodGet, path, "", nil)
		if err != nil {
			return s, err
		}
		var t triggerStatus
		if err := json.Unmarshal(b, &t); err != nil {
			return s, fmt.Errorf("trigger %s: %w", name, err)
		}
		if t.Status.Delivered > 0 && s.first == 0 {
			s.first = time.Since(start).Seconds()
		}
		if t.Status.Delivered >= int64(n) {
			s.seconds = time.Since(start).Seconds()
			s.errors = int(t.Status.Failed)
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("trigger %s: %d of %d delivered after %s", name, t.Status.Delivered, n, eventsRoundTimeout)
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(eventsPoll):
		}
	}
}

// drainBare is the baseline: a franz-go consumer group (cooperative-sticky,
// manual commits) with one goroutine per partition, each POSTing its
// partition's records in order, one at a time, as binary-mode CloudEvents
// to url, and committing them once a fetch's records are delivered. It
// times from creating the client until n events were accepted.
//
// The group has one member and no rebalance happens while it runs, so a
// partition's goroutine lives until the drain ends; a consumer sharing its
// group would stop them on revoke.
func drainBare(ctx context.Context, broker, group, url string, n int) (eventsSample, error) {
	var s eventsSample
	ctx, cancel := context.WithTimeout(ctx, eventsRoundTimeout)
	defer cancel()
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(eventsTopic), kgo.ConsumerGroup(group),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return s, err
	}
	defer cl.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * eventsPartitions}}
	defer client.CloseIdleConnections()
	source := "/apis/v1/namespaces/default/kafkasources/" + group + "#" + eventsTopic

	var delivered, failed atomic.Int64
	var firstAt, doneAt atomic.Int64 // ns after start
	done := make(chan struct{})
	workers := map[int32]chan []*kgo.Record{}
	var wg sync.WaitGroup
	worker := func(recs <-chan []*kgo.Record) {
		defer wg.Done()
		for batch := range recs {
			for _, r := range batch {
				// A failed POST is retried until it succeeds, as a
				// consumer that must not skip a record would.
				for postEvent(ctx, client, url, source, r) != nil {
					if ctx.Err() != nil {
						return
					}
					failed.Add(1)
				}
				firstAt.CompareAndSwap(0, int64(time.Since(start)))
				if delivered.Add(1) == int64(n) {
					doneAt.Store(int64(time.Since(start)))
					close(done)
					cancel() // ends the poll below and the workers
				}
			}
			if err := cl.CommitRecords(ctx, batch...); err != nil && ctx.Err() == nil {
				failed.Add(1)
			}
		}
	}
	defer func() {
		cancel()
		for _, ch := range workers {
			close(ch)
		}
		wg.Wait()
	}()
	for {
		fetches := cl.PollFetches(ctx)
		select {
		case <-done:
			s.seconds = time.Duration(doneAt.Load()).Seconds()
			s.first = time.Duration(firstAt.Load()).Seconds()
			s.errors = int(failed.Load())
			return s, nil
		default:
		}
		if ctx.Err() != nil {
			return s, fmt.Errorf("bare consumer: %d of %d delivered: %w", delivered.Load(), n, ctx.Err())
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return s, fmt.Errorf("bare consumer: fetch: %w", errs[0].Err)
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			ch, ok := workers[p.Partition]
			if !ok {
				ch = make(chan []*kgo.Record, 1)
				workers[p.Partition] = ch
				wg.Add(1)
				go worker(ch)
			}
			select {
			case ch <- p.Records:
			case <-done:
			}
		})
	}
}

// postEvent POSTs r as a binary-mode CloudEvent, the shape wake's trigger
// sends, and reads the answer so the connection is reused.
func postEvent(ctx context.Context, client *http.Client, url, source string, r *kgo.Record) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.Value))
	if err != nil {
		return err
	}
	req.Header.Set("Ce-Id", r.Topic+"/"+strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10))
	req.Header.Set("Ce-Source", source)
	req.Header.Set("Ce-Type", "dev.knative.kafka.event")
	req.Header.Set("Ce-Specversion", "1.0")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return errors.New(res.Status)
	}
	return nil
}
