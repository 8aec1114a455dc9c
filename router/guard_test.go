package router

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// handlerFunc makes a function a RevisionHandler.
type handlerFunc func(w http.ResponseWriter, r *http.Request)

func (f handlerFunc) ServeRevision(w http.ResponseWriter, r *http.Request, _ api.FunctionKey, _ api.RevisionKey) {
	f(w, r)
}

// modes are the two ways the data plane runs: fast path on (net/http gets
// the connections it hands over), and off (net/http gets them all).
var modes = map[string]bool{"fast path on": true, "fast path off": false}

// guardedServer serves hello.default.localhost with next, on the fast path
// (a slowFast that answers at once) or not, and returns its address.
func guardedServer(t *testing.T, fast bool, maxConns int, next RevisionHandler) string {
	t.Helper()
	rt := New(Options{Next: next})
	rt.SetTable(NewTable("localhost", []Route{hello(Target{Revision: "hello-00001", Percent: 100})}))
	opts := ServerOptions{Router: rt, MaxConns: maxConns, ErrorLog: log.New(io.Discard, "", 0)}
	if fast {
		release := make(chan struct{})
		close(release)
		opts.Fast = &slowFast{started: make(chan struct{}, 1000), release: release}
	}
	srv := NewServer(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a failure bound, not a timing assertion
	return c, bufio.NewReader(c)
}

// first is a request the fast path hands to net/http, which keeps the
// connection open after it.
const first = "GET /first HTTP/1.0\r\nHost: hello.default.localhost\r\nConnection: keep-alive\r\n\r\n"

// On a connection net/http serves, every later head is checked as the
// fast path checks it: what RFC 9112 calls ambiguous, and net/http takes,
// is refused with h1's 4xx and the connection closed, the request never
// reaching the revision.
func TestGuardRefusesWhatTheFastPathRefuses(t *testing.T) {
	for _, tc := range []struct{ name, second string }{
		{"Transfer-Encoding in HTTP/1.0", "POST /x HTTP/1.0\r\nHost: hello.default.localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"Content-Length beside chunked", "POST /x HTTP/1.1\r\nHost: hello.default.localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"bare LF", "GET /x HTTP/1.1\nHost: hello.default.localhost\n\n"},
		{"two lengths", "POST /x HTTP/1.1\r\nHost: hello.default.localhost\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab"},
		{"folded line", "GET /x HTTP/1.1\r\nHost: hello.default.localhost\r\nX: a\r\n b\r\n\r\n"},
	} {
		for mode, fast := range modes {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				served := make(chan string, 10)
				addr := guardedServer(t, fast, 0, handlerFunc(func(w http.ResponseWriter, r *http.Request) {
					served <- r.URL.Path
					io.WriteString(w, "ok")
				}))
				c, br := dial(t, addr)
				io.WriteString(c, first+tc.second)
				res, err := http.ReadResponse(br, nil)
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("the first request: %v %v", res, err)
				}
				io.Copy(io.Discard, res.Body)
				res, err = http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no answer to the second: %v", err)
				}
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != 400 || !strings.HasPrefix(string(body), "wake: bad request: ") {
					t.Errorf("the second: %d %q, want h1's 400", res.StatusCode, body)
				}
				if _, err := br.ReadByte(); err != io.EOF {
					t.Errorf("the connection is still open after the refusal: %v", err)
				}
				close(served)
				for p := range served {
					if p != "/first" {
						t.Errorf("the revision got %s", p)
					}
				}
			})
		}
	}
}

// A refused head that arrives while net/http is still busy with the
// request before it waits its turn: the first is answered in full, then
// the refusal.
func TestGuardRefusalWaitsForTheRequestBefore(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	addr := guardedServer(t, true, 0, handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "first answered")
	}))
	c, br := dial(t, addr)
	io.WriteString(c, first)
	<-started
	io.WriteString(c, "GET /x HTTP/1.1\nHost: hello.default.localhost\n\n")
	close(release)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(res.Body); res.StatusCode != 200 || string(body) != "first answered" {
		t.Fatalf("the first: %d %q", res.StatusCode, body)
	}
	res, err = http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 400 {
		t.Fatalf("the refused second: %v %v", res, err)
	}
}

// After an upgrade the connection is a tunnel: the guard checks nothing
// more, and bytes pass as they are, whatever they look like.
func TestGuardPassesAnUpgradedConnection(t *testing.T) {
	for mode, fast := range modes {
		t.Run(mode, func(t *testing.T) {
			addr := guardedServer(t, fast, 0, handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
				buf := make([]byte, 64)
				n, _ := io.ReadAtLeast(brw, buf, len(tunnelled))
				c.Write(buf[:n])
			}))
			c, br := dial(t, addr)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: hello.default.localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			res, err := http.ReadResponse(br, nil)
			if err != nil || res.StatusCode != 101 {
				t.Fatalf("upgrade: %v %v", res, err)
			}
			io.WriteString(c, tunnelled)
			got := make([]byte, len(tunnelled))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != tunnelled {
				t.Fatalf("through the tunnel: %q %v, want %q", got, err, tunnelled)
			}
		})
	}
}

// tunnelled would be refused as a request head.
const tunnelled = "GET /x HTTP/1.0\nTransfer-Encoding: chunked\n\n"

// A head too large for the fast path's buffer is read whole by the guard
// (up to 64 KiB) and served.
func TestGuardServesLargeHeads(t *testing.T) {
	for mode, fast := range modes {
		t.Run(mode, func(t *testing.T) {
			addr := guardedServer(t, fast, 0, handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, r.Header.Get("X-Big")[:3])
			}))
			c, br := dial(t, addr)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: hello.default.localhost\r\nX-Big: abc"+strings.Repeat("x", 20<<10)+"\r\n\r\n")
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if body, _ := io.ReadAll(res.Body); res.StatusCode != 200 || string(body) != "abc" {
				t.Errorf("a 20 KiB head: %d %q", res.StatusCode, body)
			}
		})
	}
}

// Connections net/http serves count against MaxConns until they close,
// with the fast path on or off: a flood of requests the fast path hands
// over cannot pass the bound.
func TestConnectionsNetHTTPServesCountAgainstTheBound(t *testing.T) {
	for mode, fast := range modes {
		t.Run(mode, func(t *testing.T) {
			addr := guardedServer(t, fast, 2, handlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
			var open []net.Conn
			for range 2 {
				c, br := dial(t, addr)
				io.WriteString(c, first)
				if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 200 {
					t.Fatalf("a connection within the bound: %v %v", res, err)
				}
				open = append(open, c)
			}
			over, br := dial(t, addr)
			io.WriteString(over, first)
			if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 503 {
				t.Fatalf("past the bound: %v %v, want 503", res, err)
			}
			open[0].Close()
			placeAgain(t, func() (*http.Response, error) {
				c, br := dial(t, addr)
				defer c.Close()
				io.WriteString(c, first)
				return http.ReadResponse(br, nil)
			}, 200)
		})
	}
}
