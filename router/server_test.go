package router

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/h1"
)

// slowFast answers on the fast path once release is closed.
type slowFast struct {
	started chan struct{}
	release chan struct{}
}

func (f *slowFast) ServeH1(ex *h1.Exchange, _ api.FunctionKey, rev api.RevisionKey) bool {
	close(f.started)
	<-f.release
	ex.ConsumeHead()
	io.WriteString(ex.Out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	return true
}

func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	rt := New(Options{Next: &recorder{}})
	rt.SetTable(NewTable("localhost", []Route{hello(Target{Revision: "hello-00001", Percent: 100})}))
	f := &slowFast{started: make(chan struct{}), release: make(chan struct{})}
	srv := NewServer(ServerOptions{Router: rt, Fast: f})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)

	idle, err := net.Dial("tcp", ln.Addr().String()) // a kept-alive connection with nothing to do
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, _ := net.Dial("tcp", ln.Addr().String())
	defer busy.Close()
	io.WriteString(busy, "GET / HTTP/1.1\r\nHost: hello.default.localhost\r\n\r\n")
	<-f.started

	shut := make(chan error)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(f.release)
	res, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the request in flight got %v %v, want its answer", res, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	idle.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection after Shutdown: %v, want closed", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestUnknownHostOnTheFastPath(t *testing.T) {
	rt := New(Options{Next: &recorder{}})
	srv := NewServer(ServerOptions{Router: rt, Fast: &slowFast{}})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: Nope.default.localhost:8080\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 404 || !strings.Contains(string(b), `"Nope.default.localhost:8080"`) {
		t.Errorf("got %d %q", res.StatusCode, b)
	}
}
