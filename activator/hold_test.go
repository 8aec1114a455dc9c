package activator

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wakefn/wake/runtime"
)

// Past the bound over all revisions, a request is refused at once, and
// every way out of the queue gives its place back.
func TestOverloadIs503WithRetryAfter(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{QueueDepth: 10, MaxQueued: 1})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { h.get(t, ctx, "/"); close(done) }()
		<-h.waker.woken
		code, body, hdr := h.get(t, context.Background(), "/")
		if code != 503 || hdr.Get("Retry-After") != "1" || !strings.Contains(body, "across all functions") {
			t.Errorf("got %d %q Retry-After=%q, want 503 saying wake holds its most, with Retry-After", code, body, hdr.Get("Retry-After"))
		}
		cancel() // a client that leaves gives its place back
		<-done
		waitFor(t, "the place to be given back", func() bool { return h.act.queued.used.Load() == 0 })

		// Dispatched requests give theirs back too.
		served := make(chan int)
		go func() { code, _, _ := h.get(t, context.Background(), "/"); served <- code }()
		<-h.waker.woken
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", http.HandlerFunc(hello))}})
		if code := <-served; code != 200 {
			t.Fatalf("held request: %d", code)
		}
		if n := h.act.queued.used.Load(); n != 0 {
			t.Errorf("%d places still taken after the queue emptied", n)
		}
	})
}

// The fast path holds small bodies in memory (to resend one on a stale
// connection) only within the bounds; past them bodies stream, and both
// arrive whole.
func TestBufferedBodiesStayWithinBounds(t *testing.T) {
	h := newHarness(t, "fast", testRevision(0, 10, false), Options{MaxRevisionBufferedBytes: 1000})
	rv := h.act.lookup(revKey)
	body := strings.Repeat("x", 600)
	results := make(chan string, 2)
	post := func() {
		req, _ := http.NewRequest("POST", h.url+"/", strings.NewReader(body))
		req.Host = "hello.default.localhost"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			results <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		results <- string(b)
	}
	go post()
	<-h.waker.woken
	if got := rv.buffered.used.Load(); got != 600 {
		t.Fatalf("first body: %d bytes held, want 600", got)
	}
	go post()
	<-h.waker.woken
	if got, total := rv.buffered.used.Load(), h.act.buffered.used.Load(); got != 600 || total != 600 {
		t.Fatalf("second body past the bound: %d bytes held (%d in all), want the first's 600 only", got, total)
	}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // whole first: net/http's server is not full duplex
		w.Write(b)
	})
	h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", echo)}})
	for range 2 {
		if got := <-results; got != body {
			t.Errorf("echoed %d bytes (%.40q), want the 600 sent", len(got), got)
		}
	}
	if got := h.act.buffered.used.Load(); got != 0 {
		t.Errorf("%d bytes still counted after both were answered", got)
	}
}

// A revision at zero refused because others fill the activator still
// wakes: it must not stay at zero for as long as the flood lasts.
func TestOverloadedRevisionAtZeroStillWakes(t *testing.T) {
	h := newHarness(t, "fast", testRevision(0, 10, false), Options{MaxQueued: 1})
	h.act.queued.take(1) // another revision's flood holds the only place
	code, _, _ := h.get(t, context.Background(), "/")
	if code != 503 {
		t.Fatalf("got %d, want 503 while the activator is full", code)
	}
	select {
	case got := <-h.waker.woken:
		if got != revKey {
			t.Errorf("woke %v", got)
		}
	default:
		t.Error("the refused revision at zero was not woken")
	}
}
