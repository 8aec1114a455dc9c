package delivery

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/clock"
)

// fakeClock records every wait asked of it and, unless hold is set, fires
// the timer at once after moving its time forward by the wait, so backoff
// is observed without sleeping.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waits   []time.Duration
	hold    bool          // timers never fire
	waiting chan struct{} // gets a value for each timer made, if non-nil
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	t := &fakeTimer{ch: make(chan time.Time, 1)}
	if !c.hold {
		c.now = c.now.Add(d)
		t.ch <- c.now
	}
	if c.waiting != nil {
		c.waiting <- struct{}{}
	}
	return t
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

type fakeTimer struct{ ch chan time.Time }

func (t *fakeTimer) C() <-chan time.Time        { return t.ch }
func (t *fakeTimer) Stop() bool                 { return true }
func (t *fakeTimer) Reset(d time.Duration) bool { return true }

var _ Clock = (*fakeClock)(nil)
var _ Clock = clock.RealClock{}

// received is one request as a sink saw it, decoded with the SDK.
type received struct {
	encoding binding.Encoding
	header   http.Header
	event    *event.Event
}

// sink is an httptest server that decodes every request as a CloudEvent
// and answers with respond(n), n counting requests from 1.
type sink struct {
	*httptest.Server
	t       *testing.T
	mu      sync.Mutex
	got     []received
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newSink(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *sink {
	s := &sink{t: t, respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			t.Errorf("method = %s, want POST", r.Method)
		}
		m := cehttp.NewMessageFromHttpRequest(r)
		enc := m.ReadEncoding()
		ev, err := binding.ToEvent(r.Context(), m)
		if err != nil {
			t.Errorf("sink could not decode the request as a CloudEvent: %v", err)
		}
		s.mu.Lock()
		s.got = append(s.got, received{encoding: enc, header: r.Header.Clone(), event: ev})
		n := len(s.got)
		s.mu.Unlock()
		if s.respond != nil {
			s.respond(n, w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) Received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// status answers the given codes in order, then 200.
func status(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= len(codes) {
			w.WriteHeader(codes[n-1])
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

func testEvent() event.Event {
	e := event.New()
	e.SetID("cron-nightly-42")
	e.SetSource("/apis/v1/namespaces/default/triggers/nightly")
	e.SetType("dev.wake.cron.tick")
	e.SetSubject("nightly job: 100% done")
	e.SetTime(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC))
	if err := e.SetData(event.ApplicationJSON, map[string]int{"run": 42}); err != nil {
		panic(err)
	}
	return e
}

func newDeliverer(t *testing.T, spec Spec, clk Clock, enc Encoding) *Deliverer {
	t.Helper()
	d, err := New(spec, Options{Clock: clk, Encoding: enc})
	if err != nil {
		t.Fatalf("New(%+v): %v", spec, err)
	}
	return d
}

// sameEvent compares what a sink decoded with what was sent.
func sameEvent(t *testing.T, want event.Event, got *event.Event) {
	t.Helper()
	if got == nil {
		t.Fatal("sink decoded no event")
	}
	if diff := cmp.Diff(want.String(), got.String()); diff != "" {
		t.Errorf("event at the sink (-sent +received):\n%s", diff)
	}
}

func TestDeliverFirstTime(t *testing.T) {
	s := newSink(t, status())
	clk := newFakeClock()
	d := newDeliverer(t, Spec{Retry: 3}, clk, Binary)
	e := testEvent()

	res := d.Deliver(context.Background(), s.URL, e)

	want := Result{Outcome: Delivered, Attempts: 1, StatusCode: 200}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
	got := s.Received()
	if len(got) != 1 {
		t.Fatalf("sink got %d requests, want 1", len(got))
	}
	if got[0].encoding != binding.EncodingBinary {
		t.Errorf("encoding = %v, want binary", got[0].encoding)
	}
	for _, h := range []string{"ce-id", "ce-source", "ce-type", "ce-specversion", "ce-time", "ce-subject"} {
		if got[0].header.Get(h) == "" {
			t.Errorf("header %s missing; headers: %v", h, got[0].header)
		}
	}
	// Byte-compatible with sdk-go and Knative: no §3.1.3.2 percent-encoding
	// (see encode), so SDK receivers read the value back unchanged.
	if h := got[0].header.Get("ce-subject"); h != "nightly job: 100% done" {
		t.Errorf("ce-subject = %q, want it as sdk-go writes it", h)
	}
	sameEvent(t, e, got[0].event)
	if w := clk.Waits(); len(w) != 0 {
		t.Errorf("waited %v, want no waits", w)
	}
}

func TestDeliverStructured(t *testing.T) {
	s := newSink(t, status())
	d := newDeliverer(t, Spec{}, newFakeClock(), Structured)
	e := testEvent()

	if res := d.Deliver(context.Background(), s.URL, e); res.Outcome != Delivered {
		t.Fatalf("Outcome = %v (%v), want delivered", res.Outcome, res.Err)
	}
	got := s.Received()[0]
	if got.encoding != binding.EncodingStructured {
		t.Errorf("encoding = %v, want structured", got.encoding)
	}
	if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/cloudevents+json") {
		t.Errorf("Content-Type = %q, want application/cloudevents+json", ct)
	}
	if h := got.header.Get("ce-id"); h != "" {
		t.Errorf("structured request has ce-id header %q", h)
	}
	sameEvent(t, e, got.event)
}

func TestDeliverRetriesThenSucceeds(t *testing.T) {
	s := newSink(t, status(503, 503))
	clk := newFakeClock()
	d := newDeliverer(t, Spec{Retry: 3, BackoffPolicy: BackoffExponential, BackoffDelay: "PT0.1S"}, clk, Binary)

	res := d.Deliver(context.Background(), s.URL, testEvent())

	want := Result{Outcome: Delivered, Attempts: 3, StatusCode: 200, Duration: 300 * time.Millisecond}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, clk.Waits()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	for i, r := range s.Received() {
		if r.event.ID() != "cron-nightly-42" {
			t.Errorf("attempt %d: ce-id = %q, want it stable across retries", i+1, r.event.ID())
		}
	}
}

func TestDeliverLinearBackoff(t *testing.T) {
	s := newSink(t, status(500, 500, 500))
	clk := newFakeClock()
	d := newDeliverer(t, Spec{Retry: 3, BackoffPolicy: BackoffLinear, BackoffDelay: "PT1S"}, clk, Binary)

	if res := d.Deliver(context.Background(), s.URL, testEvent()); res.Outcome != Delivered || res.Attempts != 4 {
		t.Fatalf("Result = %+v, want delivered after 4 attempts", res)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, clk.Waits()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestDeliverNonRetryableGoesToDeadLetter(t *testing.T) {
	s := newSink(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("field run: must be a string"))
	})
	dls := newSink(t, status())
	clk := newFakeClock()
	d := newDeliverer(t, Spec{Retry: 5, DeadLetterSink: dls.URL}, clk, Binary)
	e := testEvent()

	res := d.Deliver(context.Background(), s.URL, e)

	if res.Outcome != DeadLettered || res.Attempts != 1 || res.StatusCode != 400 ||
		res.DeadLetterAttempts != 1 || res.DeadLetterStatusCode != 200 {
		t.Errorf("Result = %+v, want dead-lettered after 1 attempt with 400", res)
	}
	var se *StatusError
	if !errors.As(res.Err, &se) || se.Code != 400 {
		t.Errorf("Err = %v, want a *StatusError with code 400", res.Err)
	}
	if w := clk.Waits(); len(w) != 0 {
		t.Errorf("waited %v before dead-lettering a 400, want no waits", w)
	}
	got := dls.Received()
	if len(got) != 1 {
		t.Fatalf("dead-letter sink got %d requests, want 1", len(got))
	}
	dl := got[0].event
	wantExt := map[string]interface{}{
		ExtErrorDest: s.URL,
		ExtErrorCode: "400",
		ExtErrorData: base64.StdEncoding.EncodeToString([]byte("field run: must be a string")),
	}
	if diff := cmp.Diff(wantExt, dl.Extensions()); diff != "" {
		t.Errorf("dead-letter extensions (-want +got):\n%s", diff)
	}
	if dl.ID() != e.ID() || string(dl.Data()) != string(e.Data()) {
		t.Errorf("dead-lettered event = %v, want the original with extensions", dl)
	}
}

func TestDeliverRetriesExhausted(t *testing.T) {
	t.Run("to dead letter", func(t *testing.T) {
		s := newSink(t, status(500, 502, 503, 504))
		dls := newSink(t, status())
		d := newDeliverer(t, Spec{Retry: 2, DeadLetterSink: dls.URL}, newFakeClock(), Binary)

		res := d.Deliver(context.Background(), s.URL, testEvent())

		if res.Outcome != DeadLettered || res.Attempts != 3 || res.StatusCode != 503 {
			t.Errorf("Result = %+v, want dead-lettered after 3 attempts, last 503", res)
		}
		got := dls.Received()
		if len(got) != 1 {
			t.Fatalf("dead-letter sink got %d requests, want 1", len(got))
		}
		if code := got[0].event.Extensions()[ExtErrorCode]; code != "503" {
			t.Errorf("%s = %v, want the last status 503", ExtErrorCode, code)
		}
		if _, ok := got[0].event.Extensions()[ExtErrorData]; ok {
			t.Errorf("%s set for an empty body", ExtErrorData)
		}
	})
	t.Run("no dead letter sink", func(t *testing.T) {
		s := newSink(t, status(500, 500, 500))
		d := newDeliverer(t, Spec{Retry: 2}, newFakeClock(), Binary)

		res := d.Deliver(context.Background(), s.URL, testEvent())

		var se *StatusError
		if res.Outcome != Failed || res.Attempts != 3 || !errors.As(res.Err, &se) || se.Code != 500 {
			t.Errorf("Result = %+v, want failed after 3 attempts with a 500 StatusError", res)
		}
	})
	t.Run("dead letter sink refuses too", func(t *testing.T) {
		s := newSink(t, status(500, 500))
		dls := newSink(t, status(500, 500))
		d := newDeliverer(t, Spec{Retry: 1, DeadLetterSink: dls.URL}, newFakeClock(), Binary)

		res := d.Deliver(context.Background(), s.URL, testEvent())

		if res.Outcome != Failed || res.DeadLetterAttempts != 2 || res.DeadLetterStatusCode != 500 {
			t.Errorf("Result = %+v, want failed after 2 dead-letter attempts", res)
		}
		if !strings.Contains(res.Err.Error(), "dead-letter sink") {
			t.Errorf("Err = %v, want it to mention the dead-letter sink", res.Err)
		}
	})
}

func TestDeliverRetryableStatuses(t *testing.T) {
	tests := []struct {
		code  int
		retry bool
	}{
		{404, true}, {408, true}, {409, true}, {429, true}, {500, true}, {503, true}, {599, true},
		{301, false}, {400, false}, {401, false}, {403, false}, {410, false}, {413, false}, {422, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			s := newSink(t, status(tt.code))
			d := newDeliverer(t, Spec{Retry: 1}, newFakeClock(), Binary)
			res := d.Deliver(context.Background(), s.URL, testEvent())
			wantAttempts, wantOutcome := 1, Failed
			if tt.retry {
				wantAttempts, wantOutcome = 2, Delivered
			}
			if res.Attempts != wantAttempts || res.Outcome != wantOutcome {
				t.Errorf("%d: Result = %+v, want %v after %d attempts", tt.code, res, wantOutcome, wantAttempts)
			}
		})
	}
}

func TestDeliverRetryAfter(t *testing.T) {
	clockStart := newFakeClock().Now()
	tests := []struct {
		name          string
		code          int
		retryAfter    string
		retryAfterMax string
		want          time.Duration
	}{
		{"seconds on 429", 429, "5", "", 5 * time.Second},
		{"seconds on 503", 503, "7", "", 7 * time.Second},
		{"http date", 503, clockStart.Add(30 * time.Second).Format(http.TimeFormat), "", 30 * time.Second},
		{"date in the past", 503, clockStart.Add(-time.Hour).Format(http.TimeFormat), "", 100 * time.Millisecond},
		{"shorter than backoff", 429, "0", "", 100 * time.Millisecond},
		{"capped at a minute", 429, "3600", "", time.Minute},
		{"capped by retryAfterMax", 429, "3600", "PT10S", 10 * time.Second},
		{"ignored with PT0S", 429, "5", "PT0S", 100 * time.Millisecond},
		{"ignored on 500", 500, "5", "", 100 * time.Millisecond},
		{"garbage", 429, "soon", "", 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", tt.retryAfter)
					w.WriteHeader(tt.code)
				}
			})
			clk := newFakeClock()
			d := newDeliverer(t, Spec{Retry: 1, BackoffDelay: "PT0.1S", RetryAfterMax: tt.retryAfterMax}, clk, Binary)

			if res := d.Deliver(context.Background(), s.URL, testEvent()); res.Outcome != Delivered {
				t.Fatalf("Result = %+v, want delivered", res)
			}
			if diff := cmp.Diff([]time.Duration{tt.want}, clk.Waits()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeliverRetryAfterCapGrowsWithBackoff(t *testing.T) {
	// With a 2-minute backoff the default cap is the backoff itself.
	p := Policy{BackoffPolicy: BackoffExponential, BackoffDelay: 2 * time.Minute, RetryAfterMax: -1}
	d := NewFromPolicy(p, Options{Clock: newFakeClock()})
	got := d.wait(1, &attemptResponse{code: 429, retryAfter: "86400"})
	if got != 2*time.Minute {
		t.Errorf("wait = %v, want 2m (max of backoff and 1m)", got)
	}
}

func TestDeliverTimeoutPerAttempt(t *testing.T) {
	release := make(chan struct{})
	s := newSink(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before s.Close
	clk := newFakeClock()
	d := newDeliverer(t, Spec{Retry: 1, Timeout: "PT0.05S"}, clk, Binary)

	res := d.Deliver(context.Background(), s.URL, testEvent())

	if res.Outcome != Failed || res.Attempts != 2 || res.StatusCode != 0 {
		t.Errorf("Result = %+v, want failed after 2 timed-out attempts", res)
	}
	if !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("Err = %v, want context.DeadlineExceeded", res.Err)
	}
	if len(clk.Waits()) != 1 {
		t.Errorf("waits = %v, want one backoff between the attempts", clk.Waits())
	}
}

func TestDeliverConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/"
	l.Close()
	dls := newSink(t, status())
	clk := newFakeClock()
	d := newDeliverer(t, Spec{Retry: 2, DeadLetterSink: dls.URL}, clk, Binary)

	res := d.Deliver(context.Background(), url, testEvent())

	if res.Outcome != DeadLettered || res.Attempts != 3 || res.StatusCode != 0 {
		t.Errorf("Result = %+v, want dead-lettered after 3 refused attempts", res)
	}
	if len(clk.Waits()) != 2 {
		t.Errorf("waits = %v, want 2 backoffs", clk.Waits())
	}
	ext := dls.Received()[0].event.Extensions()
	if _, ok := ext[ExtErrorCode]; ok {
		t.Errorf("%s set although the sink never answered", ExtErrorCode)
	}
	data, _ := base64.StdEncoding.DecodeString(ext[ExtErrorData].(string))
	if !strings.Contains(string(data), "refused") {
		t.Errorf("%s = %q, want the connection error", ExtErrorData, data)
	}
}

func TestDeliverCancelledDuringBackoff(t *testing.T) {
	s := newSink(t, status(503, 503))
	dls := newSink(t, status())
	clk := newFakeClock()
	clk.hold = true
	clk.waiting = make(chan struct{}, 1)
	d := newDeliverer(t, Spec{Retry: 3, DeadLetterSink: dls.URL}, clk, Binary)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	done := make(chan Result)
	go func() { done <- d.Deliver(ctx, s.URL, testEvent()) }()
	<-clk.waiting // the loop is in its first backoff
	cancel()
	var res Result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Deliver did not return after cancel")
	}

	if res.Outcome != Cancelled || res.Attempts != 1 || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("Result = %+v, want cancelled after 1 attempt", res)
	}
	if n := len(dls.Received()); n != 0 {
		t.Errorf("dead-letter sink got %d requests after cancel, want 0", n)
	}
}

func TestDeliverCancelledDuringAttempt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := newSink(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	d := newDeliverer(t, Spec{Retry: 3}, newFakeClock(), Binary)

	res := d.Deliver(ctx, s.URL, testEvent())

	if res.Outcome != Cancelled || res.Attempts != 1 || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("Result = %+v, want cancelled after 1 attempt", res)
	}
}

func TestDeliverRejectsBadInput(t *testing.T) {
	s := newSink(t, status())
	d := newDeliverer(t, Spec{}, newFakeClock(), Binary)

	bad := testEvent()
	bad.SetID("")
	if res := d.Deliver(context.Background(), s.URL, bad); res.Outcome != Failed || !errors.Is(res.Err, ErrInvalidEvent) || res.Attempts != 0 {
		t.Errorf("event without id: Result = %+v, want failed with ErrInvalidEvent", res)
	}
	ctl := testEvent()
	ctl.SetSubject("line one\nline two")
	if res := d.Deliver(context.Background(), s.URL, ctl); res.Outcome != Failed || !errors.Is(res.Err, ErrInvalidEvent) || res.Attempts != 0 {
		t.Errorf("subject with a newline: Result = %+v, want failed with ErrInvalidEvent and no attempts", res)
	}
	if res := d.Deliver(context.Background(), "not a url", testEvent()); res.Outcome != Failed || !errors.Is(res.Err, ErrInvalidSink) {
		t.Errorf("bad sink: Result = %+v, want failed with ErrInvalidSink", res)
	}
	if n := len(s.Received()); n != 0 {
		t.Errorf("sink got %d requests, want 0", n)
	}
}

func TestDeliverStructuredCarriesControlCharacters(t *testing.T) {
	s := newSink(t, status())
	d := newDeliverer(t, Spec{}, newFakeClock(), Structured)
	e := testEvent()
	e.SetSubject("line one\nline two")
	if res := d.Deliver(context.Background(), s.URL, e); res.Outcome != Delivered {
		t.Fatalf("Result = %+v, want delivered", res)
	}
	sameEvent(t, e, s.Received()[0].event)
}

func TestNewRejectsBadSpec(t *testing.T) {
	if _, err := New(Spec{Retry: -1}, Options{}); err == nil || !strings.Contains(err.Error(), "delivery.retry") {
		t.Errorf("New: err = %v, want one naming delivery.retry", err)
	}
}
