package demand

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/runtime"
)

func TestSampleWeighsReportsByTheirPeriod(t *testing.T) {
	l := newLeader(t)
	// 4 in flight for half a second, then none for one and a half: the
	// average over the two seconds is 1, not the mean of the reports (2).
	l.report(t, "gw-a", t0.Add(500*time.Millisecond), 500*time.Millisecond,
		RevisionReport{Concurrency: 4, InFlight: 4, Requests: 4, Ready: 1})
	l.report(t, "gw-a", t0.Add(2*time.Second), 1500*time.Millisecond,
		RevisionReport{Concurrency: 0, Requests: 1, Ready: 1})
	want := autoscaler.Sample{Concurrency: 1, InFlight: 0, Requests: 5, Ready: 1}
	if diff := cmp.Diff(want, l.Sample(revKey)); diff != "" {
		t.Errorf("Sample over two reports (-want +got):\n%s", diff)
	}

	l.report(t, "gw-a", t0.Add(2500*time.Millisecond), 500*time.Millisecond,
		RevisionReport{Concurrency: 3, InFlight: 3, Ready: 1})
	want = autoscaler.Sample{Concurrency: 3, InFlight: 3, Ready: 1}
	if diff := cmp.Diff(want, l.Sample(revKey)); diff != "" {
		t.Errorf("Sample over one report (-want +got):\n%s", diff)
	}
	// Nothing new since: the latest level holds, no request is counted twice.
	if diff := cmp.Diff(want, l.Sample(revKey)); diff != "" {
		t.Errorf("Sample with no new report (-want +got):\n%s", diff)
	}
}

func TestStaleGatewayIsForgotten(t *testing.T) {
	l := newLeader(t)
	l.report(t, "gw-a", t0, time.Second, RevisionReport{Concurrency: 5, InFlight: 5, Ready: 4})
	l.report(t, "gw-b", t0, time.Second, RevisionReport{Concurrency: 1, InFlight: 1, Ready: 2})
	if got := l.Gateways(); got != 2 {
		t.Fatalf("Gateways() = %d, want 2", got)
	}
	l.clock.Step(2 * time.Second)
	l.report(t, "gw-b", t0.Add(2*time.Second), time.Second, RevisionReport{Concurrency: 1, InFlight: 1, Ready: 2})
	l.clock.Step(DefaultMaxAge - time.Second + time.Millisecond) // gw-a is silent for just over MaxAge

	if got := l.Gateways(); got != 1 {
		t.Errorf("Gateways() after gw-a went silent = %d, want 1", got)
	}
	want := autoscaler.Sample{Concurrency: 1, InFlight: 1, Ready: 2}
	if diff := cmp.Diff(want, l.Sample(revKey)); diff != "" {
		t.Errorf("Sample without gw-a (-want +got):\n%s", diff)
	}
	l.clock.Step(DefaultMaxAge)
	// No gateway at all is no data, not an idle revision.
	if diff := cmp.Diff(autoscaler.Sample{NoData: true}, l.Sample(revKey)); diff != "" {
		t.Errorf("Sample with no live gateway (-want +got):\n%s", diff)
	}
}

// startDrain calls Drain on its own goroutine and returns once it is
// waiting, so reports sent after count as received after the call.
func startDrain(t *testing.T, l *leader, ctx context.Context, id string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.Drain(ctx, revKey, runtime.Endpoint{ID: id}) }()
	waitFor(t, "Drain to start", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.draining == 1
	})
	return done
}

func assertWaiting(t *testing.T, done <-chan error, after string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("Drain returned %v after %s, want it to wait", err, after)
	case <-time.After(50 * time.Millisecond):
	}
}

func assertDrained(t *testing.T, done <-chan error, want error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, want) {
			t.Errorf("Drain = %v, want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Drain did not return")
	}
}

func TestDrainWaitsForEveryGateway(t *testing.T) {
	l := newLeader(t)
	// gw-a never used i1, but its report predates the call: it must say
	// so again, since it may not have seen i1 leave the ready set yet.
	l.report(t, "gw-a", t0, time.Second, RevisionReport{Busy: []string{"i2"}})
	l.report(t, "gw-b", t0, time.Second, RevisionReport{Busy: []string{"i1", "i2"}})
	done := startDrain(t, l, context.Background(), "i1")

	l.report(t, "gw-b", t0.Add(time.Second), time.Second, RevisionReport{Busy: []string{"i1", "i2"}})
	assertWaiting(t, done, "gw-b still uses i1")
	l.report(t, "gw-b", t0.Add(time.Second), time.Second, RevisionReport{Busy: []string{"i2"}})
	assertWaiting(t, done, "only gw-b reported since the call")
	l.report(t, "gw-a", t0.Add(time.Second), time.Second, RevisionReport{Busy: []string{"i2"}})
	assertDrained(t, done, nil)
}

func TestDrainStopsWaitingForASilentGateway(t *testing.T) {
	l := newLeader(t)
	l.report(t, "gw-a", t0, time.Second, RevisionReport{Busy: []string{"i1"}})
	l.report(t, "gw-b", t0, time.Second, RevisionReport{Busy: []string{"i1"}})
	done := startDrain(t, l, context.Background(), "i1")

	l.clock.Step(2 * time.Second)
	l.report(t, "gw-a", t0.Add(2*time.Second), time.Second, RevisionReport{})
	assertWaiting(t, done, "gw-b is still live")
	l.clock.Step(DefaultMaxAge - 2*time.Second + time.Millisecond) // gw-b silent past MaxAge
	assertDrained(t, done, nil)
}

func TestDrainEndsWithItsContext(t *testing.T) {
	l := newLeader(t)
	l.report(t, "gw-a", t0, time.Second, RevisionReport{Busy: []string{"i1"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := startDrain(t, l, ctx, "i1")
	assertWaiting(t, done, "no report")
	cancel()
	assertDrained(t, done, context.Canceled)
}

func TestDrainWithNoGatewayReturnsAtOnce(t *testing.T) {
	l := newLeader(t)
	if err := l.Drain(context.Background(), revKey, runtime.Endpoint{ID: "i1"}); err != nil {
		t.Errorf("Drain with no gateway = %v, want nil", err)
	}
}

func TestBadInputIsRefusedWithTheReason(t *testing.T) {
	l := newLeader(t)
	sent := `"sent":"2026-03-01T12:00:01Z","since":"2026-03-01T12:00:00Z"`
	rev := func(fields string) string {
		return `{"gateway":"gw",` + sent + `,"revisions":[{"namespace":"default","name":"hello-00001"` + fields + `}]}`
	}
	tests := []struct {
		name, path, body string
		wantCode         int
		want             string
	}{
		{"empty", ReportPath, ``, 400, "body is empty"},
		{"not json", ReportPath, `{"gateway":`, 400, "not valid JSON"},
		{"wrong type", ReportPath, `{"gateway":3}`, 400, "gateway: want a string, got a JSON number"},
		{"two values", ReportPath, rev(``) + `{}`, 400, "more than one JSON value"},
		{"no gateway", ReportPath, `{` + sent + `}`, 400, "gateway: required"},
		{"no sent", ReportPath, `{"gateway":"gw"}`, 400, "sent: required"},
		{"since after sent", ReportPath, `{"gateway":"gw","since":"2026-03-01T12:00:02Z","sent":"2026-03-01T12:00:01Z"}`, 400, "since: 2026-03-01T12:00:02Z is after sent"},
		{"no revision name", ReportPath, `{"gateway":"gw",` + sent + `,"revisions":[{"namespace":"default"}]}`, 400, "revisions[0].name: required"},
		{"negative concurrency", ReportPath, rev(`,"concurrency":-1`), 400, "revisions[0].concurrency: -1, want a number >= 0"},
		{"queued over in flight", ReportPath, rev(`,"inFlight":1,"queued":2`), 400, "revisions[0].queued: 2, want between 0 and inFlight (1)"},
		{"empty busy id", ReportPath, rev(`,"busy":["i1",""]`), 400, `revisions[0].busy[1]: ""`},
		{"duplicate revision", ReportPath, `{"gateway":"gw",` + sent + `,"revisions":[{"namespace":"a","name":"b"},{"namespace":"a","name":"b"}]}`, 400, "revisions[1]: a/b is also revisions[0]"},
		{"too large", ReportPath, `{"gateway":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, "larger than"},
		{"negative outcome requests", ReportPath, rev(`,"outcomes":{"requests":-1}`), 400, "revisions[0].outcomes.requests: -1, want between 0 and 1125899906842624"},
		{"outcome requests past the cap", ReportPath, rev(`,"outcomes":{"requests":9223372036854775807}`), 400, "revisions[0].outcomes.requests: 9223372036854775807, want between 0 and"},
		{"more errors than requests", ReportPath, rev(`,"outcomes":{"requests":2,"errors":3}`), 400, "revisions[0].outcomes.errors: 3, want between 0 and requests (2)"},
		{"latency lengths differ", ReportPath, rev(`,"outcomes":{"requests":5,"latency":{"b":[1,2],"n":[1]}}`), 400, "revisions[0].outcomes.latency.n: 1 counts for 2 buckets"},
		{"latency bucket out of range", ReportPath, rev(`,"outcomes":{"requests":5,"latency":{"b":[340],"n":[1]}}`), 400, "revisions[0].outcomes.latency.b[0]: 340, want a bucket in [0, 340)"},
		{"negative latency bucket", ReportPath, rev(`,"outcomes":{"requests":5,"latency":{"b":[-1],"n":[1]}}`), 400, "revisions[0].outcomes.latency.b[0]: -1"},
		{"latency buckets out of order", ReportPath, rev(`,"outcomes":{"requests":5,"latency":{"b":[7,7],"n":[1,1]}}`), 400, "revisions[0].outcomes.latency.b[1]: 7, want more than latency.b[0] (7)"},
		{"negative latency count", ReportPath, rev(`,"outcomes":{"requests":5,"latency":{"b":[7],"n":[-1]}}`), 400, "revisions[0].outcomes.latency.n[0]: -1, want >= 0"},
		{"more durations than requests", ReportPath, rev(`,"outcomes":{"requests":2,"latency":{"b":[1,2],"n":[2,1]}}`), 400, "revisions[0].outcomes.latency: more durations than requests (2) by latency.n[1]"},
		{"huge latency counts", ReportPath, rev(`,"outcomes":{"requests":1125899906842624,"latency":{"b":[1,2],"n":[1125899906842624,1]}}`), 400, "revisions[0].outcomes.latency: more durations than requests"},
		{"latency not an object", ReportPath, rev(`,"outcomes":{"requests":2,"latency":[1]}`), 400, "outcomes.latency: want a"},
		{"wake without name", WakePath, `{"namespace":"default"}`, 400, "bad wake: name: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := postRaw(t, l.url+tt.path, []byte(tt.body))
			if code != tt.wantCode || !strings.Contains(msg, tt.want) {
				t.Errorf("POST %s %.40q = %d %q, want %d and a message with %q", tt.path, tt.body, code, msg, tt.wantCode, tt.want)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, l.url+ReportPath, nil)
	req.Header.Set("Authorization", "Bearer "+testToken.Token())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET %s = %d, want 405", ReportPath, res.StatusCode)
	}
	if got := l.Gateways(); got != 0 {
		t.Errorf("Gateways() after bad reports = %d, want 0", got)
	}
}

func TestWakeIsForwarded(t *testing.T) {
	l := newLeader(t)
	if code, msg := l.post(t, WakePath, WakeRequest{Namespace: revKey.Namespace, Name: revKey.Name}); code != http.StatusAccepted {
		t.Fatalf("wake answered %d %s, want 202", code, msg)
	}
	if got := l.waker.count(revKey); got != 1 {
		t.Errorf("autoscaler woken %d times, want 1", got)
	}
}
