package activator

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wakefn/wake/runtime"
)

// smuggled is a whole response an instance sends past the end of the one
// it owed: if the connection went back to the pool, the next client on it
// would get this instead of its own answer.
const smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSTOLEN"

// rawBackend is an instance that writes its responses by hand, so that it
// can break their framing: every request for /bad gets answer, and a
// channel it closes once the bytes are out; any other path is answered
// with the path itself. requests counts what it read.
func rawBackend(t *testing.T, id, answer string, late bool) (runtime.Endpoint, <-chan struct{}, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	sent := make(chan struct{})
	var requests atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					requests.Add(1)
					if req.URL.Path != "/bad" {
						fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.URL.Path), req.URL.Path)
						continue
					}
					if late { // the extra bytes in a write of their own, after the answer went out
						head, extra, _ := strings.Cut(answer, "|")
						io.WriteString(c, head)
						time.Sleep(20 * time.Millisecond)
						io.WriteString(c, extra)
					} else {
						io.WriteString(c, strings.Replace(answer, "|", "", 1))
					}
					close(sent)
				}
			}()
		}
	}()
	return runtime.Endpoint{ID: id, Addr: ln.Addr().String()}, sent, &requests
}

// An instance that sends more than its response's framing allows (a body
// after HEAD or 204, bytes past Content-Length, now or a moment later)
// has its connection closed: the next client gets its own answer, and the
// break is counted against the instance.
func TestLeftoverUpstreamBytesNeverReachAnotherClient(t *testing.T) {
	for _, tc := range []struct {
		name, method, answer string
		late                 bool
	}{
		{"a body after a response to HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n|" + smuggled, false},
		{"a body on a 204", "GET", "HTTP/1.1 204 No Content\r\n\r\n|" + smuggled, false},
		{"more than its Content-Length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok|" + smuggled, false},
		{"more than its Content-Length, a moment later", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok|" + smuggled, true},
		{"a body on a 304, a moment later", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n|" + smuggled, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bothPaths(t, func(t *testing.T, path string) {
				h := newHarness(t, path, testRevision(0, 10, false), Options{})
				ep, sent, _ := rawBackend(t, "i1", tc.answer, tc.late)
				h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})

				c, br := rawConn(t, h)
				fmt.Fprintf(c, "%s /bad HTTP/1.1\r\nHost: hello.default.localhost\r\n\r\n", tc.method)
				res, err := http.ReadResponse(br, &http.Request{Method: tc.method})
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				<-sent // the extra bytes are out: the connection to the instance holds them, or is gone

				for i := range 3 { // a victim, on a new connection, maybe the same pooled upstream
					code, body, _ := h.get(t, t.Context(), fmt.Sprintf("/victim%d", i))
					if code != 200 || body != fmt.Sprintf("/victim%d", i) {
						t.Fatalf("victim %d got %d %q: another request's bytes", i, code, body)
					}
				}
				if path == "fast" {
					n := testutil.ToFloat64(h.act.metrics.protocolErrors.WithLabelValues(revKey.Namespace, fnKey.Name, revKey.Name, "extra_bytes"))
					if n != 1 {
						t.Errorf("wake_upstream_protocol_errors_total{kind=extra_bytes} = %v, want 1", n)
					}
				}
			})
		})
	}
}

// A client whose body is malformed, or stops arriving, gets its own 4xx:
// the revision is not blamed (no 5xx, nothing in the outcomes rollouts
// judge), and the connection closes, since the rest of its bytes cannot
// be told from a next request.
func TestBodyFailuresAreTheClients(t *testing.T) {
	for _, tc := range []struct {
		name, req string
		want      int
	}{
		{"malformed chunk size", "POST / HTTP/1.1\r\nHost: hello.default.localhost\r\nTransfer-Encoding: chunked\r\nWake-Revision-Tag: x\r\n\r\nzz\r\n", 400},
		{"no CRLF after chunk data", "POST / HTTP/1.1\r\nHost: hello.default.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n", 400},
		{"a chunked body that never comes", "POST / HTTP/1.1\r\nHost: hello.default.localhost\r\nTransfer-Encoding: chunked\r\n\r\n", 408},
		{"a length that is never met", "POST / HTTP/1.1\r\nHost: hello.default.localhost\r\nContent-Length: 1000\r\n\r\nabc", 408},
		{"a length that is never met, in HTTP/1.0", "POST / HTTP/1.0\r\nHost: hello.default.localhost\r\nContent-Length: 1000\r\n\r\n", 408},
		{"a large length that is never met", "POST / HTTP/1.1\r\nHost: hello.default.localhost\r\nContent-Length: 1000000\r\n\r\nabc", 408},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bothPaths(t, func(t *testing.T, path string) {
				h := newHarness(t, path, testRevision(0, 1, false), Options{})
				ep, _, _ := rawBackend(t, "i1", "", false)
				h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})
				c, br := rawConn(t, h)
				io.WriteString(c, tc.req)
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != tc.want {
					t.Fatalf("got %d %q, want %d", res.StatusCode, body, tc.want)
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err := br.Read(make([]byte, 1)); err != io.EOF {
					t.Errorf("after the %d, the connection is still open (read %d, %v)", tc.want, n, err)
				}
				if o := h.act.Outcomes(revKey); o.Requests != 0 || o.Errors != 0 {
					t.Errorf("the revision's outcomes count the client's error: %+v", o)
				}
				if n := testutil.ToFloat64(h.act.metrics.requests.WithLabelValues(revKey.Namespace, fnKey.Name, revKey.Name,
					fmt.Sprint(tc.want))); n != 1 {
					t.Errorf("wake_requests_total{code=%d} = %v, want 1", tc.want, n)
				}
				if code, body, _ := h.get(t, t.Context(), "/after"); code != 200 || body != "/after" {
					t.Errorf("the next client got %d %q", code, body)
				}
			})
		})
	}
}
