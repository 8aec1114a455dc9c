package triggers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/cron"
)

// guard bounds every wait on another goroutine; time moves with the fake
// clock.
const guard = 10 * time.Second

type received struct {
	host, path string
	header     http.Header
	body       string
}

// sink is a loopback HTTP server that records what it receives and answers
// with code.
func sink(t *testing.T, code int) (*httptest.Server, chan received) {
	t.Helper()
	got := make(chan received, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{host: r.Host, path: r.URL.Path, header: r.Header.Clone(), body: string(b)}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func next(t *testing.T, ch chan received) received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(guard):
		t.Fatal("nothing received")
		return received{}
	}
}

func cronTrigger(name, schedule string, sink api.Sink) *api.Trigger {
	t := &api.Trigger{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Generation: 1},
		Spec: api.TriggerSpec{
			Cron: &api.CronTrigger{Schedule: schedule, Data: `{"hello":"world"}`, ContentType: "application/json"},
			Sink: sink,
		},
	}
	t.SetDefaults()
	return t
}

func newRunner(t *testing.T, routerAddr string, clk *testingclock.FakeClock, store cron.Store) *Runner {
	t.Helper()
	r, err := New(Options{RouterAddr: routerAddr, Domain: "example.test", Clock: clk, CronStore: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	t.Cleanup(func() { cancel(); r.Close() })
	return r
}

// stepUntil moves the fake clock a second at a time until the sink gets a
// request.
func stepUntil(t *testing.T, clk *testingclock.FakeClock, ch chan received) received {
	t.Helper()
	deadline := time.Now().Add(guard)
	for time.Now().Before(deadline) {
		if clk.HasWaiters() {
			clk.Step(time.Second)
		}
		select {
		case r := <-ch:
			return r
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatal("the trigger never fired")
	return received{}
}

// TestCronToFunctionThroughRouter: a cron trigger whose sink is a function
// POSTs a PingSource-shaped CloudEvent to the router's address with the
// function's host, and its id is the trigger and the scheduled time.
func TestCronToFunctionThroughRouter(t *testing.T) {
	router, got := sink(t, http.StatusOK)
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 23, 9, 59, 58, 0, time.UTC))
	r := newRunner(t, strings.TrimPrefix(router.URL, "http://"), clk, nil)
	trig := cronTrigger("tick", "0 10 * * *", api.Sink{Function: "hello"})
	if err := r.Run(trig, "http://hello.default.example.test:8080", ""); err != nil {
		t.Fatal(err)
	}
	req := stepUntil(t, clk, got)
	if req.host != "hello.default.example.test:8080" {
		t.Errorf("Host = %q, want the function's host", req.host)
	}
	for h, want := range map[string]string{
		"Ce-Id":          "default/tick/2026-11-23T10:00:00Z",
		"Ce-Source":      "/apis/v1/namespaces/default/pingsources/tick",
		"Ce-Type":        "dev.knative.sources.ping",
		"Ce-Specversion": "1.0",
		"Ce-Time":        "2026-11-23T10:00:00Z",
		"Content-Type":   "application/json",
	} {
		if got := req.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if req.body != `{"hello":"world"}` {
		t.Errorf("body = %q", req.body)
	}
	deadline := time.Now().Add(guard)
	for {
		st, ok := r.Status(trig.Key())
		if ok && st.Delivered == 1 {
			if st.LastFireTime == nil || !st.LastFireTime.Time.Equal(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)) {
				t.Errorf("LastFireTime = %v", st.LastFireTime)
			}
			if st.NextFireTime == nil || !st.NextFireTime.Time.Equal(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)) {
				t.Errorf("NextFireTime = %v", st.NextFireTime)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never counted the delivery: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCronDeadLetter: a sink that refuses an event for good (400) sends it
// to the dead-letter sink with Knative's knativeerror* attributes.
func TestCronDeadLetter(t *testing.T) {
	refusing, _ := sink(t, http.StatusBadRequest)
	dls, dead := sink(t, http.StatusAccepted)
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 23, 9, 59, 58, 0, time.UTC))
	r := newRunner(t, "127.0.0.1:1", clk, nil)
	trig := cronTrigger("tick", "* * * * * *", api.Sink{URI: refusing.URL})
	trig.Spec.Delivery = &api.DeliverySpec{DeadLetterSink: &api.DeadLetterSink{Sink: api.Sink{URI: dls.URL}}}
	if err := r.Run(trig, refusing.URL, dls.URL); err != nil {
		t.Fatal(err)
	}
	req := stepUntil(t, clk, dead)
	if got := req.header.Get("Ce-Knativeerrorcode"); got != "400" {
		t.Errorf("knativeerrorcode = %q, want 400", got)
	}
	if got := req.header.Get("Ce-Knativeerrordest"); got != refusing.URL {
		t.Errorf("knativeerrordest = %q, want %q", got, refusing.URL)
	}
}

// TestRunUpdatesRateLimitInPlace: re-running a trigger with only a new rate
// limit keeps the running trigger (and its counters) and shows the limit.
func TestRunUpdatesRateLimitInPlace(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	r := newRunner(t, "127.0.0.1:1", clk, nil)
	trig := cronTrigger("tick", "@hourly", api.Sink{URI: "http://127.0.0.1:1"})
	if err := r.Run(trig, "http://127.0.0.1:1", ""); err != nil {
		t.Fatal(err)
	}
	before := r.trigs["default/tick"]
	limit := 2.5
	trig.Spec.RateLimit = &limit
	if err := r.Run(trig, "http://127.0.0.1:1", ""); err != nil {
		t.Fatal(err)
	}
	if r.trigs["default/tick"] != before {
		t.Error("a rate limit change restarted the trigger")
	}
	st, _ := r.Status(trig.Key())
	if st.RateLimit == nil || *st.RateLimit != 2.5 {
		t.Errorf("RateLimit = %v, want 2.5", st.RateLimit)
	}
	if got := before.limiter.Limit(); got != 2.5 {
		t.Errorf("limiter = %v, want 2.5", got)
	}
	r.Stop(trig.Key())
	if _, ok := r.Status(trig.Key()); ok {
		t.Error("a stopped trigger still has a status")
	}
}
