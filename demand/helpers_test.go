package demand

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
)

var (
	t0     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	revKey = api.RevisionKey{Namespace: "default", Name: "hello-00001"}
	// testToken is the token every test leader accepts and every test
	// reporter sends, unless the test says otherwise.
	testToken = staticToken("test-report-token-0123456789abcdefghij")
)

// staticToken is a TokenSource that never changes.
type staticToken string

func (s staticToken) Token() string { return string(s) }

// fakeSource plays an activator: Sample hands out the queued stats of a
// revision one by one, then repeats the last with no new request;
// Outcomes returns what setOutcomes set last.
type fakeSource struct {
	mu       sync.Mutex
	stats    map[api.RevisionKey][]activator.Stats
	busy     map[api.RevisionKey][]string
	outcomes map[api.RevisionKey]activator.Outcomes
}

func newFakeSource() *fakeSource {
	return &fakeSource{
		stats:    map[api.RevisionKey][]activator.Stats{},
		busy:     map[api.RevisionKey][]string{},
		outcomes: map[api.RevisionKey]activator.Outcomes{},
	}
}

// setOutcomes registers key if it is not, and sets its outcomes.
func (f *fakeSource) setOutcomes(key api.RevisionKey, o activator.Outcomes) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.stats[key]; !ok {
		f.stats[key] = nil
	}
	f.outcomes[key] = o
}

func (f *fakeSource) Outcomes(key api.RevisionKey) activator.Outcomes {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.outcomes[key]
}

func (f *fakeSource) add(key api.RevisionKey, busy []string, stats ...activator.Stats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats[key] = append(f.stats[key], stats...)
	f.busy[key] = busy
}

func (f *fakeSource) Revisions() []api.RevisionKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []api.RevisionKey
	for k := range f.stats {
		keys = append(keys, k)
	}
	return keys
}

func (f *fakeSource) Sample(key api.RevisionKey) activator.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.stats[key]
	if len(q) == 0 {
		return activator.Stats{}
	}
	s := q[0]
	if len(q) > 1 {
		f.stats[key] = q[1:]
	} else {
		q[0].Requests = 0
	}
	return s
}

func (f *fakeSource) Busy(key api.RevisionKey) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.busy[key]
}

// fakeWaker counts wake-ups per revision.
type fakeWaker struct {
	mu    sync.Mutex
	woken map[api.RevisionKey]int
}

func (f *fakeWaker) Wake(key api.RevisionKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.woken == nil {
		f.woken = map[api.RevisionKey]int{}
	}
	f.woken[key]++
}

func (f *fakeWaker) count(key api.RevisionKey) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.woken[key]
}

// leader is a Collector behind a real HTTP server on loopback, counting
// the reports it accepted and every POST it answered.
type leader struct {
	*Collector
	guard    *Guard
	tokens   *Tokens
	clock    *testingclock.FakeClock
	waker    *fakeWaker
	url      string
	reports  atomic.Int64 // answered 204
	requests atomic.Int64 // every request, whatever the answer
	// fail, when set, answers the next requests 503 as a follower does.
	fail atomic.Int64
}

func newLeader(t *testing.T) *leader {
	t.Helper()
	l := &leader{clock: testingclock.NewFakeClock(t0), waker: &fakeWaker{}}
	l.Collector = NewCollector(CollectorOptions{Waker: l.waker, Clock: l.clock})
	var err error
	if l.tokens, err = NewTokens(testToken.Token(), TokensOptions{Clock: l.clock}); err != nil {
		t.Fatal(err)
	}
	if l.guard, err = NewGuard(GuardOptions{Tokens: l.tokens, Clock: l.clock}); err != nil {
		t.Fatal(err)
	}
	h := l.guard.Wrap(l.Handler())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.requests.Add(1)
		if l.fail.Add(-1) >= 0 {
			http.Error(w, "wake: this controller is not the leader and knows none", http.StatusServiceUnavailable)
			return
		}
		l.fail.Store(0)
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if r.URL.Path == ReportPath && rec.code == http.StatusNoContent {
			l.reports.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	l.url = srv.URL
	return l
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// post sends v to path and returns the status and body.
func (l *leader) post(t *testing.T, path string, v any) (int, string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return postRaw(t, l.url+path, b)
}

// postRaw posts body to url with the test token.
func postRaw(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	return postAuth(t, url, "Bearer "+testToken.Token(), body)
}

// postAuth posts body to url with the Authorization header auth ("" for
// none).
func postAuth(t *testing.T, url, auth string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(msg)
}

// report sends one gateway's report of revKey covering the period
// [sent-period, sent] and fails the test unless it is accepted.
func (l *leader) report(t *testing.T, gw string, sent time.Time, period time.Duration, rr RevisionReport) {
	t.Helper()
	rr.Namespace, rr.Name = revKey.Namespace, revKey.Name
	rep := Report{Gateway: gw, Since: sent.Add(-period), Sent: sent, Revisions: []RevisionReport{rr}}
	if code, msg := l.post(t, ReportPath, rep); code != http.StatusNoContent {
		t.Fatalf("report of %s answered %d %s, want 204", gw, code, msg)
	}
}

// startReporter runs a Reporter on l's clock until the test ends, and
// returns once its ticker is set, so a clock step reaches it.
func startReporter(t *testing.T, l *leader, opts ReporterOptions) *Reporter {
	t.Helper()
	opts.Clock = l.clock
	if opts.Token == nil {
		opts.Token = testToken
	}
	r, err := NewReporter(opts)
	if err != nil {
		t.Fatal(err)
	}
	waiters := l.clock.Waiters()
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the reporter's ticker", func() bool { return l.clock.Waiters() > waiters })
	return r
}

// waitFor polls cond until an HTTP round trip it waits for has landed.
// Timing decisions never wait on it: they run on the fake clock.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
