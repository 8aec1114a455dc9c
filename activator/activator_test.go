package activator

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
)

// fakeWaker records wakes; the test may block on them.
type fakeWaker struct {
	woken chan api.RevisionKey
}

func newFakeWaker() *fakeWaker { return &fakeWaker{woken: make(chan api.RevisionKey, 10000)} }

func (f *fakeWaker) Wake(rev api.RevisionKey) { f.woken <- rev }

var (
	fnKey  = api.FunctionKey{Namespace: "default", Name: "hello"}
	revKey = api.RevisionKey{Namespace: "default", Name: "hello-00001"}
)

func testRevision(cc, timeoutSeconds int64, h2c bool) *api.Revision {
	rev := &api.Revision{}
	rev.Namespace, rev.Name = revKey.Namespace, revKey.Name
	rev.Labels = map[string]string{api.LabelFunction: fnKey.Name}
	rev.Spec.ContainerConcurrency = &cc
	rev.Spec.TimeoutSeconds = &timeoutSeconds
	c := api.Container{Command: []string{"fn"}}
	if h2c {
		c.Ports = []api.ContainerPort{{Name: api.PortNameH2C}}
	}
	rev.Spec.Containers = []api.Container{c}
	return rev
}

// harness is an activator behind a real HTTP server on loopback.
type harness struct {
	act   *Activator
	waker *fakeWaker
	reg   *prometheus.Registry
	url   string
}

// paths are the two ways a request reaches the activator: the HTTP/1.1
// fast path (router.Server with the activator as its FastHandler), and
// net/http (every connection the fast path hands over, and HTTP/2).
var paths = []string{"fast", "net/http"}

// bothPaths runs a test once per path.
func bothPaths(t *testing.T, test func(t *testing.T, path string)) {
	for _, p := range paths {
		t.Run(p, func(t *testing.T) { test(t, p) })
	}
}

// newHarness serves hello.default.localhost → hello-00001 through a real
// router.Server on loopback, with or without the fast path.
func newHarness(t *testing.T, path string, rev *api.Revision, opts Options) *harness {
	t.Helper()
	h := &harness{waker: newFakeWaker(), reg: prometheus.NewRegistry()}
	opts.Waker, opts.Registerer = h.waker, h.reg
	h.act = New(opts)
	h.act.Register(rev)
	rt := router.New(router.Options{Next: h.act})
	rt.SetTable(router.NewTable("localhost", []router.Route{{Function: fnKey,
		Targets: []router.Target{{Revision: revKey.Name, Percent: 100}}}}))
	sopts := router.ServerOptions{Router: rt}
	if path == "fast" {
		sopts.Fast = h.act
	}
	srv := router.NewServer(sopts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	h.url = "http://" + ln.Addr().String()
	return h
}

// backend starts an instance on loopback and returns its endpoint.
func backend(t *testing.T, id string, h http.Handler) runtime.Endpoint {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return runtime.Endpoint{ID: id, Addr: strings.TrimPrefix(srv.URL, "http://")}
}

func (h *harness) get(t *testing.T, ctx context.Context, path string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url+path, nil)
	req.Host = "hello.default.localhost"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

func hello(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello from ", r.Host) }

func TestProxiesToReadyInstance(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		var seen http.Header
		ep := backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = r.Header.Clone()
			hello(w, r)
		}))
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})

		req, _ := http.NewRequest("GET", h.url+"/", nil)
		req.Host = "hello.default.localhost"
		req.Header.Set("Connection", "X-Hop")
		req.Header.Set("X-Hop", "for the first hop only")
		req.Header.Set("Keep-Alive", "timeout=5")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(body) != "hello from hello.default.localhost" {
			t.Fatalf("got %d %q, want 200 with the original Host", res.StatusCode, body)
		}
		for _, k := range []string{"X-Hop", "Keep-Alive"} {
			if v := seen.Get(k); v != "" {
				t.Errorf("instance saw hop-by-hop header %s: %q", k, v)
			}
		}
		if got := seen.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("instance saw X-Forwarded-For %q, want 127.0.0.1", got)
		}
		if got := seen.Get("X-Forwarded-Host"); got != "hello.default.localhost" {
			t.Errorf("instance saw X-Forwarded-Host %q", got)
		}
		if got, want := seen.Values("Forwarded"), []string{`for=127.0.0.1;host="hello.default.localhost";proto=http`}; strings.Join(got, "|") != want[0] {
			t.Errorf("instance saw Forwarded %q, want %q", got, want)
		}
		if got := testutil.ToFloat64(h.act.metrics.requests.WithLabelValues("default", "hello", "hello-00001", "200")); got != 1 {
			t.Errorf("wake_requests_total{code=200} = %v, want 1", got)
		}
	})
}

func TestHoldsAtZeroUntilReady(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		done := make(chan string)
		go func() {
			code, body, _ := h.get(t, context.Background(), "/")
			done <- fmt.Sprint(code, " ", body)
		}()
		if got := <-h.waker.woken; got != revKey {
			t.Fatalf("woke %v, want %v", got, revKey)
		}
		if s := h.act.Sample(revKey); s.Queued != 1 || s.InFlight != 1 {
			t.Fatalf("while held: %+v, want 1 queued and counted in flight", s)
		}
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", http.HandlerFunc(hello))}})
		if got := <-done; got != "200 hello from hello.default.localhost" {
			t.Fatalf("held request got %q", got)
		}
		if got := testutil.ToFloat64(h.act.metrics.coldStarts.WithLabelValues("default", "hello", "hello-00001")); got != 1 {
			t.Errorf("wake_cold_starts_total = %v, want 1", got)
		}
		if got := testutil.CollectAndCount(h.act.metrics.coldDuration); got != 1 {
			t.Errorf("cold start histogram has %d series, want 1", got)
		}
	})
}

func TestQueueFullIs503WithRetryAfter(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{QueueDepth: 1})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go h.get(t, ctx, "/")
		<-h.waker.woken
		code, body, hdr := h.get(t, context.Background(), "/")
		if code != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(body, "hello-00001") {
			t.Errorf("got %d %q Retry-After=%q, want 503 naming the revision with Retry-After", code, body, hdr.Get("Retry-After"))
		}
	})
}

func TestTimeoutWhileQueuedIs504(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 1, false), Options{})
		code, body, _ := h.get(t, context.Background(), "/")
		if code != 504 || !strings.Contains(body, "waiting for an instance of revision hello-00001") {
			t.Errorf("got %d %q, want 504 saying it waited", code, body)
		}
		if s := h.act.Sample(revKey); s.Queued != 0 || s.InFlight != 0 {
			t.Errorf("after timeout: %+v, want nothing queued", s)
		}
	})
}

func TestClientCancelFreesItsPlace(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{QueueDepth: 1})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { h.get(t, ctx, "/"); close(done) }()
		<-h.waker.woken
		cancel()
		<-done
		waitFor(t, "the queue to empty", func() bool { return h.act.Sample(revKey).Queued == 0 })

		// The place is free again: the next request is held, not refused.
		go h.get(t, context.Background(), "/")
		<-h.waker.woken
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", http.HandlerFunc(hello))}})
		waitFor(t, "the second request to be served", func() bool { return h.act.Sample(revKey).InFlight == 0 })
	})
}

func TestContainerConcurrencyIsEnforced(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(1, 30, false), Options{})
		var inflight, peak atomic.Int64
		slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(2 * time.Millisecond) // the instance's work, not test timing
			hello(w, r)
		})
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", slow), backend(t, "i2", slow)}})
		var wg sync.WaitGroup
		var bad atomic.Int64
		for range 40 {
			wg.Go(func() {
				if code, _, _ := h.get(t, context.Background(), "/"); code != 200 {
					bad.Add(1)
				}
			})
		}
		wg.Wait()
		if bad.Load() != 0 {
			t.Errorf("%d requests failed", bad.Load())
		}
		if p := peak.Load(); p > 2 {
			t.Errorf("peak concurrency over two instances with containerConcurrency 1 was %d, want ≤ 2", p)
		}
	})
}

func TestDrainWaitsForRequestsInFlight(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		release := make(chan struct{})
		started := make(chan struct{})
		ep := backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			hello(w, r)
		}))
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})
		done := make(chan int)
		go func() { code, _, _ := h.get(t, context.Background(), "/"); done <- code }()
		<-started

		h.act.Update(revKey, runtime.State{}) // the runtime took it out
		drained := make(chan error)
		go func() { drained <- h.act.Drain(context.Background(), revKey, ep) }()
		select {
		case <-drained:
			t.Fatal("Drain returned while a request was in flight")
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		if code := <-done; code != 200 {
			t.Errorf("request in flight during drain got %d, want 200", code)
		}
		if err := <-drained; err != nil {
			t.Errorf("Drain: %v", err)
		}
	})
}

func TestRefusedConnectionMovesToAnotherInstance(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		dead := runtime.Endpoint{ID: "dead", Addr: ln.Addr().String()}
		ln.Close() // nothing listens there any more: the instance died
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{dead, backend(t, "live", http.HandlerFunc(hello))}})
		for i := range 10 {
			if code, body, _ := h.get(t, context.Background(), "/"); code != 200 {
				t.Fatalf("request %d: %d %q, want 200 from the live instance", i, code, body)
			}
		}
	})
}

func TestInstanceDyingMidRequestIs502(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		ep := backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		}))
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})
		code, body, _ := h.get(t, context.Background(), "/")
		if code != 502 || !strings.Contains(body, "instance i1") || !strings.Contains(body, "died") {
			t.Errorf("got %d %q, want 502 saying the instance died", code, body)
		}
	})
}

func TestFailingRevisionAnswers503AtOnce(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 300, false), Options{})
		held := make(chan string)
		go func() { code, body, _ := h.get(t, context.Background(), "/"); held <- fmt.Sprint(code, " ", body) }()
		<-h.waker.woken
		h.act.Update(revKey, runtime.State{Failure: &runtime.Failure{
			Reason: "ExecFailed", Message: `command "./nope" not found`, RetryAt: time.Now().Add(5 * time.Second)}})
		for _, got := range []string{<-held, func() string { c, b, _ := h.get(t, context.Background(), "/"); return fmt.Sprint(c, " ", b) }()} {
			if !strings.HasPrefix(got, "503 ") || !strings.Contains(got, `command "./nope" not found`) {
				t.Errorf("got %q, want 503 naming the failure", got)
			}
		}
	})
}

func TestH2CTrailersAndStreaming(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, true), Options{})
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "Grpc-Status")
			fmt.Fprint(w, r.Proto)
			w.Header().Set("Grpc-Status", "0")
		}))
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = &p
		srv.Start()
		defer srv.Close()
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{{ID: "i1", Addr: strings.TrimPrefix(srv.URL, "http://")}}})

		client := &http.Client{Transport: NewH2CTransport()}
		req, _ := http.NewRequest("POST", h.url+"/", strings.NewReader("x"))
		req.Host = "hello.default.localhost"
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.Proto != "HTTP/2.0" || string(body) != "HTTP/2.0" {
			t.Errorf("client spoke %s, instance saw %q; want HTTP/2.0 both ways", res.Proto, body)
		}
		if got := res.Trailer.Get("Grpc-Status"); got != "0" {
			t.Errorf("trailer Grpc-Status = %q, want 0", got)
		}
	})
}

func TestSampleAveragesConcurrencyOverTime(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rv := newRevision(revKey, fnKey, t0, 10)
	rv.metrics = newMetrics(nil, nil).forRevision(fnKey, revKey, &rv.mu, rv.busyLocked)
	ep := newEndpoint(runtime.Endpoint{ID: "i1"}, nil)
	rv.endpoints = []*endpoint{ep}
	// Two requests for the whole second, a third for its second half.
	for range 2 {
		rv.arrived.Add(1) // as serve counts it
		if _, err := rv.acquire(t0, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	rv.arrived.Add(1)
	if _, err := rv.acquire(t0.Add(500*time.Millisecond), nil, nil); err != nil {
		t.Fatal(err)
	}
	s := rv.sample(t0.Add(time.Second))
	if s.Concurrency != 2.5 || s.InFlight != 3 || s.Requests != 3 {
		t.Errorf("sample = %+v, want concurrency 2.5, 3 in flight, 3 requests", s)
	}
	rv.release(ep, t0.Add(1500*time.Millisecond))
	s = rv.sample(t0.Add(2 * time.Second))
	if s.Concurrency != 2.5 || s.InFlight != 2 || s.Requests != 0 {
		t.Errorf("second sample = %+v, want concurrency 2.5, 2 in flight, no new request", s)
	}
}

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

func BenchmarkServeRevisionWarm(b *testing.B) {
	act := New(Options{Waker: newFakeWaker()})
	act.Register(testRevision(0, 10, false))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{{ID: "i1", Addr: strings.TrimPrefix(srv.URL, "http://")}}})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		act.ServeRevision(w, r, fnKey, revKey)
	}))
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(front.URL)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
}

func deadEndpoint(t *testing.T, id string) runtime.Endpoint {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return runtime.Endpoint{ID: id, Addr: ln.Addr().String()}
}

func TestManyDeadInstancesGive502NotSilence(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		var eps []runtime.Endpoint
		for i := range 5 {
			eps = append(eps, deadEndpoint(t, fmt.Sprint("dead", i)))
		}
		h.act.Update(revKey, runtime.State{Ready: eps})
		code, body, _ := h.get(t, context.Background(), "/")
		if code != 502 || !strings.Contains(body, "died") {
			t.Errorf("got %d %q, want 502 saying the instance died", code, body)
		}
		waitFor(t, "the slots to be given back", func() bool { return h.act.Sample(revKey).InFlight == 0 })
	})
}

func TestRefusingInstanceGetsAnotherChance(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		ep := deadEndpoint(t, "flaky")
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})
		done := make(chan int)
		go func() { code, _, _ := h.get(t, context.Background(), "/"); done <- code }()
		// The request was refused and now waits; the instance listens again
		// on the same address, and the runtime never reported it gone.
		waitFor(t, "the request to queue", func() bool { return h.act.Sample(revKey).Queued == 1 })
		ln, err := net.Listen("tcp", ep.Addr)
		if err != nil {
			t.Skipf("port taken meanwhile: %v", err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(hello)}
		go srv.Serve(ln)
		defer srv.Close()
		if code := <-done; code != 200 {
			t.Errorf("got %d, want 200 once the instance answers again", code)
		}
	})
}

func TestBrokenUpgradeGivesItsSlotBack(t *testing.T) {
	// net/http only: upgrades never take the fast path.
	h := newHarness(t, "net/http", testRevision(1, 10, false), Options{})
	ep := backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("short"))
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})
	req, _ := http.NewRequest("GET", h.url+"/", nil)
	req.Host = "hello.default.localhost"
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "h2c")
	if res, err := http.DefaultClient.Do(req); err == nil {
		io.ReadAll(res.Body)
		res.Body.Close()
	}
	waitFor(t, "the slot to be given back", func() bool { return h.act.Sample(revKey).InFlight == 0 })
}

func TestAfterBackOffRequestsWakeTheRevisionAgain(t *testing.T) {
	h := newHarness(t, "fast", testRevision(0, 10, false), Options{})
	// The command failed a while ago; the runtime's back-off is over and the
	// revision went to zero. Someone fixed the command meanwhile.
	h.act.Update(revKey, runtime.State{Failure: &runtime.Failure{
		Reason: runtime.ReasonCrashLoopBackOff, Message: "exit 1", RetryAt: time.Now().Add(-time.Second)}})
	done := make(chan int)
	go func() { code, _, _ := h.get(t, context.Background(), "/"); done <- code }()
	<-h.waker.woken
	h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", http.HandlerFunc(hello))}})
	if code := <-done; code != 200 {
		t.Errorf("got %d, want the request held and served", code)
	}
}
