package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// rawExchange sends req on a new connection to the data plane and reads
// one response; closed says whether the server closed the connection
// after it (within the bound).
func rawExchange(t *testing.T, addr, req string, bound time.Duration) (res *http.Response, body string, closed bool, took time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(bound))
	io.WriteString(c, req)
	br := bufio.NewReader(c)
	res, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: no answer within %v: %v", req, bound, err)
	}
	b, _ := io.ReadAll(res.Body)
	took = time.Since(start)
	_, err = br.ReadByte()
	return res, string(b), err == io.EOF, took
}

// A request whose body never arrives (whole, or at all) is answered 408
// at the revision's timeout and its connection closed, on the fast path
// and on net/http's, for a chunked body, a Content-Length one, and an
// HTTP/1.0 one (issue 19: no answer and the connection open for minutes).
// A malformed body is the client's 400. Neither is the revision's 5xx.
func TestStuckAndMalformedBodiesAreTheClients(t *testing.T) {
	t.Parallel()
	for _, fast := range []string{"true", "false"} {
		t.Run("http1-fast-path="+fast, func(t *testing.T) {
			t.Parallel()
			w := startWake(t, "", "--http1-fast-path="+fast)
			w.apply(fn{name: "slow", marker: marker(t), timeout: 2, annotations: map[string]string{api.AnnotationMinScale: "1"}}.yaml())
			const host = "slow.default.localhost"
			for _, tc := range []struct {
				shape string
				want  int
			}{
				{"stuck-chunked", 408}, {"stuck-length", 408}, {"stuck-http10", 408},
				{"malformed-chunked", 400}, {"malformed-chunked-http10-first", 400},
			} {
				req := map[string]string{
					"malformed-chunked": "POST /echo HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
					// a connection net/http serves first, then the bad body
					"malformed-chunked-http10-first": "GET / HTTP/1.0\r\nHost: %[1]s\r\nConnection: keep-alive\r\n\r\n" +
						"POST /echo HTTP/1.1\r\nHost: %[1]s\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX",
				}[tc.shape]
				if req == "" {
					req = floodShapes[tc.shape]
				}
				req = fmt.Sprintf(req, host)
				var res *http.Response
				var body string
				closed, took := true, time.Duration(0)
				if strings.HasSuffix(tc.shape, "-first") {
					res, body = secondResponse(t, w.http, req) // it checks the connection closes
				} else {
					res, body, closed, took = rawExchange(t, w.http, req, 30*time.Second)
				}
				t.Logf("%s: %d after %v: %q", tc.shape, res.StatusCode, took.Round(time.Millisecond), strings.TrimSpace(body))
				if res.StatusCode != tc.want || !closed {
					t.Errorf("%s: %d (closed %v), want %d and the connection closed", tc.shape, res.StatusCode, closed, tc.want)
				}
			}
			requests := grepLines(w.metrics(), "wake_requests_total{")
			for _, l := range strings.Split(requests, "\n") {
				if strings.Contains(l, `revision="slow-00001"`) && strings.Contains(l, `code="5`) {
					t.Errorf("the revision is blamed with a 5xx: %s", l)
				}
			}
			if r := w.mustGet(host, "/"); r.code != 200 {
				t.Errorf("after them: %d %q", r.code, r.body)
			}
		})
	}
}

// secondResponse sends req (two requests) and returns the second answer,
// checking the connection closes after it.
func secondResponse(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, req)
	br := bufio.NewReader(c)
	var res *http.Response
	var body []byte
	for range 2 {
		if res, err = http.ReadResponse(br, nil); err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		body, _ = io.ReadAll(res.Body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("%q: the connection is open after the second answer: %v", req, err)
	}
	return res, string(body)
}

// grepLines returns the lines of s that contain substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// withFileLimit returns a command that runs wake with at most n open
// files (soft and hard: Go raises the soft limit to the hard one).
func withFileLimit(t *testing.T, n int) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "wake-limited")
	body := fmt.Sprintf("#!/bin/sh\nulimit -n %d || exit 111\nexec %q \"$@\"\n", n, wakeBin)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// With wake's file descriptors at 1,024 (so --max-connections defaults to
// 768), 1,200 clients that send a head and never the body they promise,
// in the three shapes, cannot take the data plane down (issue 19: they
// made it, a function at zero and the admin API time out): each is
// answered, 408 at the revision's timeout or 503 past the bound, the
// admin API answers meanwhile, other clients get an answer, and once the
// flood is over a function at zero wakes as before. Not parallel: the
// flood is the machine's.
func TestStuckBodyFloodUnderALowFileLimit(t *testing.T) {
	w := startWakeBinary(t, withFileLimit(t, 1024), "", "--log-level", "info")
	w.apply(fn{name: "slow", marker: marker(t), timeout: 3, annotations: map[string]string{api.AnnotationMinScale: "1"}}.yaml())
	w.apply(fn{name: "asleep", marker: marker(t), annotations: map[string]string{api.AnnotationInitialScale: "0"}}.yaml(), "--no-wait")

	const perShape = 400
	shapes := []string{"stuck-chunked", "stuck-length", "stuck-http10"}
	results := make([]floodResult, len(shapes))
	var wg sync.WaitGroup
	for i, shape := range shapes {
		wg.Go(func() { results[i] = floodShapeFrom(t, w.http, "slow.default.localhost", shape, perShape, perShape) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	admin, others := map[int]int{}, map[int]int{}
	for flooding := true; flooding; {
		select {
		case <-done:
			flooding = false
		case <-time.After(250 * time.Millisecond):
			if res, err := w.adminGet("/healthz"); err != nil {
				admin[0]++
			} else {
				admin[res.StatusCode]++
				res.Body.Close()
			}
			// A client of its own, one request a connection: a pooled
			// one would see the 503 answered at accept as unsolicited.
			if res, err := oneRequest(w.http, "GET / HTTP/1.1\r\nHost: slow.default.localhost\r\n\r\n"); err != nil {
				others[0]++
				t.Logf("another client during the flood: %v", err)
			} else {
				others[res.StatusCode]++
			}
		}
	}
	total := floodResult{Codes: map[int]int{}}
	for _, r := range results {
		total.add(r)
	}
	t.Logf("chaos: flood of %d stuck bodies at 1,024 files: answers %v (503s with Retry-After %d); admin API meanwhile %v; others %v",
		perShape*len(shapes), total.Codes, total.RetryAfter, admin, others)
	if total.Codes[408]+total.Codes[503] != perShape*len(shapes) || total.Codes[408] == 0 || total.Codes[503] == 0 {
		t.Errorf("answers %v: want every client answered, 408 within the bound and 503 past it", total.Codes)
	}
	if admin[0] > 0 || admin[200] == 0 {
		t.Errorf("the admin API during the flood: %v, want only 200s", admin)
	}
	if others[0] > 0 {
		t.Errorf("other clients during the flood: %v, want every one answered", others)
	}
	if r := w.mustGet("slow.default.localhost", "/"); r.code != 200 {
		t.Errorf("after the flood: %d %q", r.code, r.body)
	}
	if r := w.mustGet("asleep.default.localhost", "/"); r.code != 200 {
		t.Errorf("a function at zero after the flood: %d %q", r.code, r.body)
	}
}

// A client cannot roll back a healthy canary by sending it malformed
// bodies (issue 19: 40 requests pinned to the canary with the chunk size
// "zz" rolled it back for a 100% error rate): they are the client's 400s,
// on the fast path and on a connection net/http serves, and the rollout
// succeeds.
func TestMalformedBodiesCannotRollBackACanary(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	w.apply(rolloutManifest("one", nil))
	w.apply(rolloutManifest("two", nil), "--no-wait")
	waitRollout(t, w, "canary-00002", api.RolloutProgressing, 60*time.Second)

	const host = "canary.default.localhost"
	attack := map[string]string{
		"fast path": "POST / HTTP/1.1\r\nHost: %[1]s\r\nWake-Revision-Tag: canary\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"net/http": "GET / HTTP/1.0\r\nHost: %[1]s\r\nConnection: keep-alive\r\n\r\n" +
			"POST / HTTP/1.1\r\nHost: %[1]s\r\nWake-Revision-Tag: canary\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	}
	codes := map[int]int{}
	for i := range 40 {
		for path, req := range attack {
			req = fmt.Sprintf(req, host)
			var res *http.Response
			if path == "net/http" {
				res, _ = secondResponse(t, w.http, req)
			} else {
				res, _, _, _ = rawExchange(t, w.http, req, 30*time.Second)
			}
			codes[res.StatusCode]++
		}
		if i%10 == 0 { // and some real traffic for the analysis
			for range 10 {
				w.getWith(host, map[string]string{"Wake-Revision-Tag": "canary"})
				w.get(host, "/")
			}
		}
	}
	if codes[400] != 80 {
		t.Errorf("the malformed bodies got %v, want 80 400s", codes)
	}
	load := startLoad(t, w, loadSpec{host: host, path: "/", workers: 2})
	st := waitRollout(t, w, "canary-00002", api.RolloutSucceeded, 90*time.Second)
	load.stop()
	t.Logf("rollout after 80 malformed bodies pinned to the canary: %s %s", st.Phase, st.Message)
}
