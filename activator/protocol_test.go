package activator

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakefn/wake/runtime"
)

// echo copies the request body back, with the method and protocol it saw.
func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Method", r.Method)
	w.Header().Set("X-Length", fmt.Sprint(len(b)))
	w.Write(b)
}

func rawConn(t *testing.T, h *harness) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func TestBodiesBothWays(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", http.HandlerFunc(echo))}})
		for _, size := range []int{0, 10, 64 << 10, 1 << 20} { // a large one streams
			body := bytes.Repeat([]byte("x"), size)
			req, _ := http.NewRequest("PUT", h.url+"/", bytes.NewReader(body))
			req.Host = "hello.default.localhost"
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !bytes.Equal(got, body) {
				t.Errorf("%d bytes: got %d and %d bytes back", size, res.StatusCode, len(got))
			}
		}
	})
}

func TestRequestsTheFastPathHandsToNetHTTP(t *testing.T) {
	h := newHarness(t, "fast", testRevision(0, 10, false), Options{})
	h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", http.HandlerFunc(echo))}})
	tests := []struct{ name, req, want string }{
		{"chunked request body", "POST / HTTP/1.1\r\nHost: hello.default.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "abc"},
		{"HTTP/1.0", "POST / HTTP/1.0\r\nHost: hello.default.localhost\r\nContent-Length: 2\r\n\r\nhi", "hi"},
		{"Expect: 100-continue", "POST / HTTP/1.1\r\nHost: hello.default.localhost\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok", "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, br := rawConn(t, h)
			io.WriteString(c, tc.req)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode == 100 {
				res, err = http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
			}
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || string(b) != tc.want {
				t.Errorf("got %d %q, want 200 %q", res.StatusCode, b, tc.want)
			}
		})
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	h := newHarness(t, "fast", testRevision(0, 10, false), Options{})
	h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", http.HandlerFunc(echo))}})
	c, br := rawConn(t, h)
	var reqs strings.Builder
	for i := range 5 {
		fmt.Fprintf(&reqs, "POST / HTTP/1.1\r\nHost: hello.default.localhost\r\nContent-Length: 1\r\n\r\n%d", i)
	}
	reqs.WriteString("HEAD / HTTP/1.1\r\nHost: hello.default.localhost\r\n\r\n")
	io.WriteString(c, reqs.String())
	for i := range 5 {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		if string(b) != fmt.Sprint(i) {
			t.Errorf("response %d: %q", i, b)
		}
	}
	res, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil || res.Header.Get("X-Method") != "HEAD" {
		t.Errorf("HEAD after pipelined requests: %v %v", res, err)
	}
}

func TestStreamedResponseArrivesAsWritten(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		next := make(chan struct{})
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			<-next
			io.WriteString(w, "data: two\n\n")
		}))}})
		req, _ := http.NewRequest("GET", h.url+"/", nil)
		req.Host = "hello.default.localhost"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		if line, err := br.ReadString('\n'); err != nil || line != "data: one\n" {
			t.Fatalf("first event: %q %v (it must come before the function writes the second)", line, err)
		}
		close(next)
		rest, _ := io.ReadAll(br)
		if string(rest) != "\ndata: two\n\n" {
			t.Errorf("rest of the stream: %q", rest)
		}
	})
}

func TestConnectionCloseIsHonoured(t *testing.T) {
	h := newHarness(t, "fast", testRevision(0, 10, false), Options{})
	h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", http.HandlerFunc(hello))}})
	c, br := rawConn(t, h)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: hello.default.localhost\r\nConnection: close\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	if !res.Close {
		t.Error("response to Connection: close does not say it closes")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("connection still open after Connection: close: %v", err)
	}
}

// A request without a body must not carry the body of an earlier request
// the same pooled exchange served: the instance would read those bytes as
// the start of another request (a 400 for the next client, or a request
// nobody sent when the body looks like one).
func TestNoBodyAfterABodyCarriesNone(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		var mu sync.Mutex
		var seen []string
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Method+" "+r.URL.Path)
			mu.Unlock()
			io.WriteString(w, "ok") // the body is left unread, as many handlers do
		}))}})
		smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
		var want []string
		for range 10 { // the exchange pool drops items now and then under -race
			req, _ := http.NewRequest("POST", h.url+"/post", strings.NewReader(smuggled))
			req.Host = "hello.default.localhost"
			for _, r := range []*http.Request{req, nil, nil} {
				if r == nil {
					r, _ = http.NewRequest("GET", h.url+"/get", nil)
					r.Host = "hello.default.localhost"
				}
				want = append(want, r.Method+" "+r.URL.Path)
				res, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(b) != "ok" {
					t.Fatalf("%s %s: %d %q, want 200 \"ok\"", r.Method, r.URL.Path, res.StatusCode, b)
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, seen); diff != "" {
			t.Errorf("the instance saw (-want +got):\n%s", diff)
		}
	})
}
