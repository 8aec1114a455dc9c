package router

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails its first Accepts as a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// Running out of file descriptors must not stop the data plane.
func TestAcceptSurvivesRunningOutOfFiles(t *testing.T) {
	rt := New(Options{Next: &recorder{}})
	srv := NewServer(ServerOptions{Router: rt, Fast: &slowFast{}, ErrorLog: log.New(io.Discard, "", 0)})
	inner, _ := net.Listen("tcp", "127.0.0.1:0")
	ln := &flakyListener{Listener: inner}
	ln.failures.Store(3)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer srv.Close()
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: nope.default.localhost\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a failure bound, not a timing assertion
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != 404 {
		t.Fatalf("after EMFILE: %v %v, want the request answered", res, err)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v", err)
	default:
	}
}

func TestTemporaryAcceptErrors(t *testing.T) {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED} {
		if !temporary(&net.OpError{Op: "accept", Err: e}) {
			t.Errorf("%v: not temporary", e)
		}
	}
	if temporary(net.ErrClosed) || temporary(errors.New("boom")) {
		t.Error("a closed listener counts as temporary")
	}
}

// limitedServer serves with short timeouts, so that the tests below see
// them act.
func limitedServer(t *testing.T) string {
	t.Helper()
	rt := New(Options{Next: &recorder{}})
	srv := NewServer(ServerOptions{Router: rt, Fast: &slowFast{}, ReadHeaderTimeout: 200 * time.Millisecond,
		IdleTimeout: 300 * time.Millisecond, ErrorLog: log.New(io.Discard, "", 0)})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedWithin reads until the server closes c, failing the test if it
// does not within the bound; it returns how long it took.
func closedWithin(t *testing.T, c net.Conn, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(bound))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", bound)
	}
	return time.Since(start)
}

// A client sending its head a byte at a time (slowloris) is cut off once
// the head has taken ReadHeaderTimeout, on both the fast path and the
// net/http one it hands unusual requests to.
func TestSlowlorisIsCutOff(t *testing.T) {
	for name, first := range map[string]string{
		"fast path": "GET / HTTP/1.1\r\nHost: hello.default.localhost\r\n",
		"net/http":  "GET / HTTP/1.0\r\nHost: hello.default.localhost\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", limitedServer(t))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, first)
			trickled := make(chan int)
			go func() {
				n := 0
				for ; n < 200; n++ {
					if _, err := fmt.Fprintf(c, "X-%d: y\r\n", n); err != nil {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				trickled <- n
			}()
			closedWithin(t, c, 10*time.Second)
			c.Close()
			if n := <-trickled; n >= 200 {
				t.Errorf("the server took all %d trickled header lines", n)
			}
		})
	}
}

func TestIdleConnectionIsClosed(t *testing.T) {
	c, err := net.Dial("tcp", limitedServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closedWithin(t, c, 10*time.Second)
}

// A head larger than the fast path's buffer goes to net/http, which
// refuses one over 1 MiB with 431 rather than reading it all. The server
// closes with part of the head unread, so its kernel may send a reset
// that overtakes the 431 on a loaded machine: a reset is tried again, a
// few times, and only a 431 passes.
func TestHugeHeadIsRefused(t *testing.T) {
	addr := limitedServer(t)
	for try := 1; ; try++ {
		res, err := sendHugeHead(addr)
		if errors.Is(err, syscall.ECONNRESET) && try < 5 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("2 MiB head: %d, want 431", res.StatusCode)
		}
		return
	}
}

func sendHugeHead(addr string) (*http.Response, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	go func() {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: hello.default.localhost\r\nX-Big: ")
		io.WriteString(c, strings.Repeat("a", 2<<20))
		io.WriteString(c, "\r\n\r\n")
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return http.ReadResponse(bufio.NewReader(c), nil)
}

// Past MaxConns a connection is answered 503 with Retry-After at once,
// and the connections already open are served as before.
func TestConnectionsPastTheBoundGet503(t *testing.T) {
	rt := New(Options{Next: &recorder{}})
	srv := NewServer(ServerOptions{Router: rt, Fast: &slowFast{}, MaxConns: 2, ErrorLog: log.New(io.Discard, "", 0)})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	get := func(c net.Conn) (*http.Response, error) {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: nope.default.localhost\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		return http.ReadResponse(bufio.NewReader(c), nil)
	}
	var open []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if res, err := get(c); err != nil || res.StatusCode != 404 {
			t.Fatalf("a connection within the bound: %v %v", res, err)
		}
		open = append(open, c)
	}
	over, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	res, err := get(over)
	if err != nil || res.StatusCode != 503 || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("the connection past the bound: %v %v, want 503 with Retry-After", res, err)
	}
	b, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(b), "too many connections") {
		t.Errorf("body %q", b)
	}
	open[0].Close()
	placeAgain(t, func() (*http.Response, error) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return get(c)
	}, 404)
}

// placeAgain sends requests with try until one is answered want: the
// place a closed connection left under MaxConns is taken again. It fails
// the test after 10 s (a failure bound, not a timing assertion).
func placeAgain(t *testing.T, try func() (*http.Response, error), want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := try()
		if err == nil && res.StatusCode == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place after a connection closed: %v %v", res, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
