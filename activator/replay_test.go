package activator

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wakefn/wake/runtime"
)

func TestIdleConnectionOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := newConnPool(ln.Addr().String(), "i1", nil)
	c, _, err := p.get(true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if c.state() != idleOpen {
		t.Fatal("an idle connection the instance keeps reads as closed")
	}
	server.Write([]byte("x"))
	deadline := time.Now().Add(5 * time.Second) // bytes cross loopback in microseconds
	for c.state() != idleData {
		if time.Now().After(deadline) {
			t.Fatal("an idle connection the instance sent a byte on does not say so")
		}
		time.Sleep(time.Millisecond)
	}
	c.br.ReadByte()
	server.Close()
	for c.state() != idleClosed {
		if time.Now().After(deadline) {
			t.Fatal("a connection the instance closed still reads as open")
		}
		time.Sleep(time.Millisecond)
	}
}

// A POST must not reach an instance twice: when the instance drops the
// connection without answering, the client gets 502, not a resend. An
// idle connection the instance closed beforehand does not cost the POST
// anything: it is seen closed and a new one is used.
func TestPostIsNeverSentTwice(t *testing.T) {
	h := newHarness(t, "fast", testRevision(0, 10, false), Options{})
	var posts, gets atomic.Int32
	ep := backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet:
			gets.Add(1)
			io.WriteString(w, "ok")
		case r.URL.Path == "/die":
			posts.Add(1)
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close() // the instance died mid-request
		default:
			posts.Add(1)
			w.Header().Set("Connection", "close")
			io.WriteString(w, "posted") // answered, then the connection goes
		}
	}))
	h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})
	send := func(method, path string) (int, string) {
		var body io.Reader
		if method != http.MethodGet {
			body = strings.NewReader("body")
		}
		req, _ := http.NewRequest(method, h.url+path, body)
		req.Host = "hello.default.localhost"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	// A GET leaves a kept-alive connection in the pool; shutting its read
	// side stands for the instance having closed it: reads see EOF.
	if code, _ := send(http.MethodGet, "/"); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	ep2 := h.act.lookup(revKey).endpoints[0]
	idle := <-ep2.pool.idle
	idle.nc.(*net.TCPConn).CloseRead()
	ep2.pool.put(idle)
	if code, body := send(http.MethodPost, "/"); code != 200 || body != "posted" {
		t.Errorf("POST after the instance closed an idle connection: %d %q, want 200", code, body)
	}
	// Now the POST takes a kept-alive connection that is open, and the
	// instance dies on it.
	if code, _ := send(http.MethodGet, "/"); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	posts.Store(0)
	code, body := send(http.MethodPost, "/die")
	if code != http.StatusBadGateway || !strings.Contains(body, "may have died") {
		t.Errorf("POST the instance died on: %d %q, want 502", code, body)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("the POST reached the instance %d times, want once", n)
	}
}
