package demand

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
)

func TestTwoGatewaysAreSummed(t *testing.T) {
	l := newLeader(t)
	a, b := newFakeSource(), newFakeSource()
	a.add(revKey, []string{"i1", "i2"}, activator.Stats{Concurrency: 2, InFlight: 3, Queued: 1, Requests: 10, Ready: 2})
	b.add(revKey, []string{"i1"}, activator.Stats{Concurrency: 1.5, InFlight: 1, Requests: 4, Ready: 3})
	startReporter(t, l, ReporterOptions{Controllers: []string{l.url}, Gateway: "gw-a", Source: a})
	startReporter(t, l, ReporterOptions{Controllers: []string{l.url}, Gateway: "gw-b", Source: b})

	l.clock.Step(DefaultInterval)
	waitFor(t, "both reports", func() bool { return l.reports.Load() == 2 })
	if got := l.Gateways(); got != 2 {
		t.Errorf("Gateways() = %d, want 2", got)
	}
	want := autoscaler.Sample{Concurrency: 3.5, InFlight: 4, Requests: 14, Ready: 3}
	if diff := cmp.Diff(want, l.Sample(revKey)); diff != "" {
		t.Errorf("Sample (-want +got):\n%s", diff)
	}
}

func TestRequestsOfAFailedReportAreCarriedOver(t *testing.T) {
	l := newLeader(t)
	src := newFakeSource()
	src.add(revKey, nil,
		activator.Stats{Concurrency: 4, InFlight: 4, Requests: 5, Ready: 1},
		activator.Stats{Concurrency: 1, InFlight: 1, Requests: 3, Ready: 1})
	startReporter(t, l, ReporterOptions{Controllers: []string{l.url}, Gateway: "gw-a", Source: src, Token: testToken})

	l.fail.Store(1)
	l.clock.Step(DefaultInterval)
	waitFor(t, "the refused report", func() bool { return l.requests.Load() == 1 })
	l.clock.Step(DefaultInterval)
	waitFor(t, "the next report", func() bool { return l.reports.Load() == 1 })
	// The lost report's requests arrive with the next; its concurrency,
	// a level rather than a count, is superseded.
	want := autoscaler.Sample{Concurrency: 1, InFlight: 1, Requests: 8, Ready: 1}
	if diff := cmp.Diff(want, l.Sample(revKey)); diff != "" {
		t.Errorf("Sample (-want +got):\n%s", diff)
	}
}

func TestReporterFailsOverToTheNextController(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // connections are refused
	l := newLeader(t)
	follower := newLeader(t) // answers every request 503
	follower.fail.Store(1 << 40)
	src := newFakeSource()
	src.add(revKey, nil, activator.Stats{Requests: 1})
	startReporter(t, l, ReporterOptions{Controllers: []string{down.URL, follower.url, l.url}, Gateway: "gw-a", Source: src, Token: testToken})

	for i := int64(1); i <= 3; i++ {
		l.clock.Step(DefaultInterval)
		waitFor(t, "a report on the third controller", func() bool { return l.reports.Load() == i })
	}
	// Once found, the leader keeps being used: the follower was asked once.
	if got := follower.requests.Load(); got != 1 {
		t.Errorf("the follower got %d requests, want 1", got)
	}
}

func TestReporterOptionsAreChecked(t *testing.T) {
	src := newFakeSource()
	tests := []struct {
		name string
		opts ReporterOptions
		want string
	}{
		{"no controller", ReporterOptions{Gateway: "gw", Source: src}, "Controllers: at least one"},
		{"bad url", ReporterOptions{Controllers: []string{"wake-controller:8082"}, Gateway: "gw", Source: src}, `Controllers[0]: "wake-controller:8082" is not an http(s) base URL`},
		{"no gateway", ReporterOptions{Controllers: []string{"http://c"}, Source: src}, "Gateway: required"},
		{"no token", ReporterOptions{Controllers: []string{"http://c"}, Gateway: "gw", Source: src}, "Token: required"},
		{"no source", ReporterOptions{Controllers: []string{"http://c"}, Gateway: "gw", Token: testToken}, "Source: required"},
		{"negative interval", ReporterOptions{Controllers: []string{"http://c"}, Gateway: "gw", Source: src, Token: testToken, Interval: -time.Second}, "Interval: -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewReporter(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewReporter = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// newWaker returns a Reporter used only as a Waker, on l's clock.
func newWaker(t *testing.T, l *leader, controllers ...string) *Reporter {
	t.Helper()
	r, err := NewReporter(ReporterOptions{Controllers: controllers, Gateway: "gw-a", Source: newFakeSource(), Clock: l.clock, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// idle reports whether no wake-up of key is being sent.
func (r *Reporter) idle(key api.RevisionKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.wakes[key]
	return s == nil || !s.sending
}

func TestWakeCallsAreCoalesced(t *testing.T) {
	l := newLeader(t)
	r := newWaker(t, l, l.url)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				r.Wake(revKey)
			}
		})
	}
	wg.Wait()
	waitFor(t, "the wake-up to be sent", func() bool { return r.idle(revKey) })
	if got := l.waker.count(revKey); got != 1 {
		t.Fatalf("800 calls woke the autoscaler %d times, want 1", got)
	}

	r.Wake(revKey) // within wakeCoalesce of the last: dropped at once
	if !r.idle(revKey) || l.requests.Load() != 1 {
		t.Errorf("a call within %v of a wake-up sent another (%d requests)", wakeCoalesce, l.requests.Load())
	}
	other := api.RevisionKey{Namespace: "default", Name: "other-00001"}
	r.Wake(other) // another revision is not held back
	waitFor(t, "the other revision's wake-up", func() bool { return l.waker.count(other) == 1 })

	l.clock.Step(wakeCoalesce)
	r.Wake(revKey)
	waitFor(t, "the wake-up after the pause", func() bool { return l.waker.count(revKey) == 2 })
}

func TestFailedWakeIsRetriedOnTheNextController(t *testing.T) {
	follower := newLeader(t)
	follower.fail.Store(1 << 40)
	l := newLeader(t)
	r := newWaker(t, l, follower.url, l.url)

	r.Wake(revKey)
	waitFor(t, "the wake-up to wait out its back-off", func() bool { return l.clock.Waiters() == 1 })
	if got := follower.requests.Load(); got != 1 {
		t.Fatalf("the first controller got %d wake-ups, want 1", got)
	}
	l.clock.Step(wakeBackoff)
	waitFor(t, "the wake-up on the second controller", func() bool { return l.waker.count(revKey) == 1 })
}

func TestFailedWakeIsRetriedWhileCallsKeepComing(t *testing.T) {
	l := newLeader(t)
	l.fail.Store(2) // the leader is not elected yet for two wake-ups
	r := newWaker(t, l, l.url)

	r.Wake(revKey)
	waitFor(t, "the first attempt", func() bool { return r.idle(revKey) && l.requests.Load() == 1 })
	r.Wake(revKey) // within wakeBackoff of the failure: merged
	if !r.idle(revKey) {
		t.Fatalf("a call within %v of a failed wake-up sent another", wakeBackoff)
	}
	l.clock.Step(wakeBackoff)
	r.Wake(revKey)
	waitFor(t, "the second attempt", func() bool { return r.idle(revKey) && l.requests.Load() == 2 })
	if got := l.waker.count(revKey); got != 0 {
		t.Fatalf("autoscaler woken %d times while the leader refused", got)
	}
	l.clock.Step(wakeBackoff)
	r.Wake(revKey)
	waitFor(t, "the wake-up once the leader answers", func() bool { return l.waker.count(revKey) == 1 })
	if got := l.requests.Load(); got != 3 {
		t.Errorf("the leader got %d wake-ups, want 3", got)
	}
}
