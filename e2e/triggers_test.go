package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// freeAddr returns a loopback address no one listens on, for an embedded
// broker that must keep its address across a restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// produce writes n records to topic, keyed k0..k(keys-1) in turn, with
// values rec-<i>, and waits until the broker has them all.
func produce(t *testing.T, broker, topic string, from, n, keys int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := from; i < from+n; i++ {
		wg.Add(1)
		r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%keys)), Value: []byte(fmt.Sprintf("rec-%d", i))}
		cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("producing: %v", firstErr)
	}
}

// topicIDs reads a whole topic and returns the ce ids its records carry in
// their knativeerror-annotated headers: for a dead-letter topic, the
// source topic/partition/offset of each record.
func topicRecords(t *testing.T, broker, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	idle := 0
	for idle < 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r); n++ })
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return out
}

// eventLog reads the ids a testfn recorded (TESTFN_EVENTS_FILE): how many
// times each was accepted.
func eventLog(t *testing.T, path string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return seen
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		seen[sc.Text()]++
	}
	return seen
}

// kafkaTrigger is a Kafka trigger manifest reading topic from the start.
func kafkaTrigger(name, broker, topic, sink, extra string) string {
	return fmt.Sprintf(`apiVersion: wake.dev/v1
kind: Trigger
metadata:
  name: %s
spec:
  kafka:
    bootstrapServers: [%q]
    topics: [%s]
    initialOffset: earliest
  sink:
    %s
%s`, name, broker, topic, sink, extra)
}

// eventFn is a testfn that records the CloudEvents it accepts.
func eventFn(t *testing.T, name string, env map[string]string) (manifest, events string) {
	events = filepath.Join(t.TempDir(), "events")
	if env == nil {
		env = map[string]string{}
	}
	env["TESTFN_EVENTS_FILE"] = events
	return fn{name: name, marker: marker(t), env: env}.yaml(), events
}

// waitEvents waits until every id of want was accepted at least once.
func waitEvents(t *testing.T, timeout time.Duration, path string, want []string) map[string]int {
	t.Helper()
	var seen map[string]int
	eventually(t, timeout, fmt.Sprintf("%d events delivered", len(want)), func() bool {
		seen = eventLog(t, path)
		for _, id := range want {
			if seen[id] == 0 {
				return false
			}
		}
		return true
	})
	return seen
}

// ids are the CloudEvent ids of records 0..n-1 of a topic, whatever
// partition each landed in: read back from the topic itself.
func ids(t *testing.T, broker, topic string) []string {
	var out []string
	for _, r := range topicRecords(t, broker, topic) {
		out = append(out, fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset))
	}
	return out
}

func duplicates(seen map[string]int) int {
	n := 0
	for _, c := range seen {
		n += c - 1
	}
	return n
}

// TestKafkaTriggerDeliversEveryRecordFromZero: 10,000 records reach a
// function that is at zero when they are produced, each at least once, and
// with nothing failing, exactly once.
func TestKafkaTriggerDeliversEveryRecordFromZero(t *testing.T) {
	broker := freeAddr(t)
	w := startWake(t, "", "--kafka-embedded", broker)
	manifest, events := eventFn(t, "sink", nil)
	w.apply(manifest + "---\n" + kafkaTrigger("orders", broker, "orders", "function: sink", ""))
	produce(t, broker, "orders", 0, 10000, 100)
	want := ids(t, broker, "orders")
	if len(want) != 10000 {
		t.Fatalf("the topic holds %d records, want 10000", len(want))
	}
	seen := waitEvents(t, 3*time.Minute, events, want)
	if d := duplicates(seen); d != 0 {
		t.Errorf("%d duplicate deliveries with nothing failing", d)
	}
	out := w.mustCLI("get", "triggers")
	if !strings.Contains(out, "orders") {
		t.Errorf("wake get triggers does not list the trigger:\n%s", out)
	}
	t.Logf("delivered %d records, %d duplicates", len(seen), duplicates(seen))
}

// TestKafkaTriggerFailingFunction: a function that fails 30% of calls; with
// retries and a dead-letter topic every record is either accepted or in
// the dead-letter topic, annotated with why.
func TestKafkaTriggerFailingFunction(t *testing.T) {
	broker := freeAddr(t)
	w := startWake(t, "", "--kafka-embedded", broker)
	manifest, events := eventFn(t, "flaky", map[string]string{"TESTFN_FAIL_PERCENT": "30"})
	w.apply(manifest + "---\n" + kafkaTrigger("flaky", broker, "jobs", "function: flaky", `  delivery:
    retry: 2
    backoffDelay: PT0.01S
    deadLetterSink:
      kafkaTopic: jobs-dead
`))
	const n = 2000
	produce(t, broker, "jobs", 0, n, 50)
	want := ids(t, broker, "jobs")
	var seen map[string]int
	var dead map[string]*kgo.Record
	eventually(t, 3*time.Minute, "every record accepted or dead-lettered", func() bool {
		seen = eventLog(t, events)
		missing := 0
		for _, id := range want {
			if seen[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return true
		}
		dead = map[string]*kgo.Record{}
		for _, r := range topicRecords(t, broker, "jobs-dead") {
			dead[fmt.Sprintf("%s/%s/%s", header(r, "kafkatopic"), header(r, "kafkapartition"), header(r, "kafkaoffset"))] = r
		}
		for _, id := range want {
			if seen[id] == 0 && dead[id] == nil {
				return false
			}
		}
		return true
	})
	for id, r := range dead {
		if seen[id] > 0 {
			continue
		}
		if got := header(r, "knativeerrorcode"); got != "500" {
			t.Errorf("dead letter %s: knativeerrorcode = %q, want 500", id, got)
		}
	}
	t.Logf("%d records: %d accepted, %d dead-lettered; %d duplicates", len(want), len(seen), len(dead), duplicates(seen))
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestKafkaTriggerSurvivesSIGKILL: wake serve is killed with SIGKILL while
// records flow and started again on the same state: every record is
// delivered, duplicates only around the kill.
func TestKafkaTriggerSurvivesSIGKILL(t *testing.T) {
	broker := freeAddr(t)
	state := t.TempDir()
	w := startWake(t, state, "--kafka-embedded", broker)
	manifest, events := eventFn(t, "slow", nil)
	w.apply(manifest + "---\n" + kafkaTrigger("slow", broker, "clicks", "function: slow", ""))
	const n = 5000
	produce(t, broker, "clicks", 0, n, 100)
	eventually(t, time.Minute, "a first part delivered", func() bool { return len(eventLog(t, events)) >= n/5 })
	w.kill()
	before := len(eventLog(t, events))
	w = startWake(t, state, "--kafka-embedded", broker)
	want := ids(t, broker, "clicks")
	if len(want) != n {
		t.Fatalf("the topic holds %d records after the restart, want %d", len(want), n)
	}
	seen := waitEvents(t, 3*time.Minute, events, want)
	t.Logf("%d delivered before SIGKILL; after restart all %d, %d duplicates", before, len(seen), duplicates(seen))
}

// TestKafkaTriggerSinkDown: the sink is down for 20 s; records wait (the
// partition redelivers from the first one not delivered), none is skipped,
// and each partition's order holds.
func TestKafkaTriggerSinkDown(t *testing.T) {
	broker := freeAddr(t)
	w := startWake(t, "", "--kafka-embedded", broker)
	addr := freeAddr(t)
	var mu sync.Mutex
	var got []string
	handler := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Ce-Id"))
		mu.Unlock()
		rw.WriteHeader(http.StatusOK)
	})
	w.apply(kafkaTrigger("down", broker, "ticks", fmt.Sprintf("uri: http://%s/", addr), `  delivery:
    retry: 1
    backoffDelay: PT0.1S
`))
	produce(t, broker, "ticks", 0, 200, 10)
	time.Sleep(20 * time.Second) // the sink is down: nothing listens on addr
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	defer srv.Close()
	want := ids(t, broker, "ticks")
	eventually(t, 2*time.Minute, "every record delivered after the sink came back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]bool{}
		for _, id := range got {
			seen[id] = true
		}
		for _, id := range want {
			if !seen[id] {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	last := map[string]int{} // topic/partition → last offset
	for _, id := range got {
		var topic string
		var part, off int
		if _, err := fmt.Sscanf(strings.ReplaceAll(id, "/", " "), "%s %d %d", &topic, &part, &off); err != nil {
			t.Fatalf("ce-id %q: %v", id, err)
		}
		k := fmt.Sprintf("%s/%d", topic, part)
		if prev, ok := last[k]; ok && off < prev {
			t.Errorf("partition %s went back from offset %d to %d", k, prev, off)
		}
		last[k] = off
	}
}

// TestKafkaTriggerRateLimit: a rate limit of 100/s set at run time with
// `wake trigger rate` holds the delivery rate within 10%, without a
// restart of the consumer; changing it to 200/s changes the rate.
func TestKafkaTriggerRateLimit(t *testing.T) {
	broker := freeAddr(t)
	w := startWake(t, "", "--kafka-embedded", broker)
	var mu sync.Mutex
	var at []time.Time
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	w.apply(kafkaTrigger("metered", broker, "meter", fmt.Sprintf("uri: http://%s/", ln.Addr()), "  rateLimit: 100\n"))
	produce(t, broker, "meter", 0, 2500, 100)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(at) }
	rateBetween := func(from, to int) float64 {
		mu.Lock()
		defer mu.Unlock()
		return float64(to-from) / at[to].Sub(at[from]).Seconds()
	}
	eventually(t, time.Minute, "400 events", func() bool { return count() > 400 })
	r100 := rateBetween(100, 400)
	if r100 < 90 || r100 > 110 {
		t.Errorf("at a limit of 100/s, delivered %.1f/s", r100)
	}
	t.Log(w.mustCLI("trigger", "rate", "metered", "200"))
	start := count()
	defer func() {
		if t.Failed() {
			t.Logf("events: %d at the change, %d at the end; status:\n%s", start, count(), w.mustCLI("describe", "trigger", "metered"))
		}
	}()
	eventually(t, time.Minute, "600 more events", func() bool { return count() > start+600 })
	r200 := rateBetween(start+100, start+600)
	if r200 < 180 || r200 > 220 {
		t.Errorf("at a limit of 200/s, delivered %.1f/s", r200)
	}
	t.Logf("limit 100/s: delivered %.1f/s; limit 200/s (set live): %.1f/s", r100, r200)
}

// TestCronTriggerFiresAFunction: a cron trigger with a seconds field
// wakes a function from zero and delivers one event per second, each with
// its scheduled time as its identity.
func TestCronTriggerFiresAFunction(t *testing.T) {
	w := startWake(t, "")
	manifest, events := eventFn(t, "ticker", nil)
	w.apply(manifest + `---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata:
  name: every-second
spec:
  schedule: "* * * * * *"
  data: '{"ping": true}'
  contentType: application/json
  sink:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: ticker
`)
	eventually(t, time.Minute, "3 cron events", func() bool { return len(eventLog(t, events)) >= 3 })
	for id := range eventLog(t, events) {
		ts, ok := strings.CutPrefix(id, "default/every-second/")
		if !ok {
			t.Errorf("ce-id %q is not trigger/scheduled-time", id)
			continue
		}
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("ce-id %q: %v", id, err)
		}
	}
	out := w.mustCLI("describe", "trigger", "every-second")
	if !strings.Contains(out, "ticker") {
		t.Errorf("wake describe trigger does not show the sink:\n%s", out)
	}
}
