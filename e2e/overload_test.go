package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
)

// floodWorkerEnv, when set ("ADDR HOST N [SHAPE]"), makes the test binary
// a flood worker: TestFloodWorker opens N connections to ADDR, sends one
// request for HOST on each (a GET, or the floodShapes SHAPE names), and
// prints what became of them. A process may hold
// only so many file descriptors (20,000 on our CI machines, and it cannot
// be raised there), so a flood bigger than that is spread over workers.
const floodWorkerEnv = "WAKE_E2E_FLOOD"

// floodResult counts the answers of one flood, by status code; 0 counts
// connections that failed or were closed without an answer.
type floodResult struct {
	Codes      map[int]int `json:"codes"`
	RetryAfter int         `json:"retryAfter"` // 503s that said when to retry
}

func (r *floodResult) add(o floodResult) {
	for c, n := range o.Codes {
		r.Codes[c] += n
	}
	r.RetryAfter += o.RetryAfter
}

// floodShapes are the requests a flood may send, by name: %s is the host.
// The stuck ones promise a body and never send it (whole, or at all).
var floodShapes = map[string]string{
	"get":           "GET / HTTP/1.1\r\nHost: %s\r\n\r\n",
	"stuck-length":  "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\nabc",
	"stuck-chunked": "POST / HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n",
	"stuck-http10":  "POST / HTTP/1.0\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n",
}

// flood opens n connections at once, each sending one request of shape
// for host, and waits for every answer. Connections are not cut off: each
// ends with a response, or with the server closing it.
func flood(addr, host, shape string, n int) floodResult {
	res := floodResult{Codes: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code, retry := 0, false
			if r, err := oneRequest(addr, fmt.Sprintf(floodShapes[shape], host)); err == nil {
				code, retry = r.StatusCode, r.Header.Get("Retry-After") != ""
			}
			mu.Lock()
			res.Codes[code]++
			if code == http.StatusServiceUnavailable && retry {
				res.RetryAfter++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return res
}

// oneRequest sends req on a connection of its own and reads the response
// head; hangAfter bounds it, so a hang shows as an error.
func oneRequest(addr, req string) (*http.Response, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangAfter))
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReader(c), nil)
}

// TestFloodWorker is not a test: it is the body of a flood worker process.
func TestFloodWorker(t *testing.T) {
	spec := os.Getenv(floodWorkerEnv)
	if spec == "" {
		t.Skip("runs only as a flood worker")
	}
	var addr, host string
	var n int
	shape := "get"
	if k, err := fmt.Sscan(spec, &addr, &host, &n, &shape); k < 3 || floodShapes[shape] == "" {
		t.Fatalf("%s=%q: %v", floodWorkerEnv, spec, err)
	}
	json.NewEncoder(os.Stdout).Encode(flood(addr, host, shape, n))
}

// floodFrom spreads a flood of n connections over worker processes of at
// most perWorker connections each, and adds up their results.
func floodFrom(t *testing.T, addr, host string, n, perWorker int) floodResult {
	return floodShapeFrom(t, addr, host, "get", n, perWorker)
}

// floodShapeFrom is floodFrom with requests of a floodShapes shape.
func floodShapeFrom(t *testing.T, addr, host, shape string, n, perWorker int) floodResult {
	total := floodResult{Codes: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for left := n; left > 0; left -= perWorker {
		k := min(left, perWorker)
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFloodWorker$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %s", floodWorkerEnv, addr, host, k, shape))
			out, err := cmd.Output()
			var r floodResult
			if err == nil {
				// The result is the first line; go test adds its own after.
				line, _, _ := strings.Cut(string(out), "\n")
				err = json.Unmarshal([]byte(line), &r)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("flood worker: %v\n%s", err, out)
				total.Codes[0] += k
				return
			}
			total.add(r)
		})
	}
	wg.Wait()
	return total
}

// peakRSS is the most memory the process ever had resident (VmHWM), in
// bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// plainWake builds wake without the race detector, whose memory overhead
// would make a memory bound meaningless.
var plainWake = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "wake-plain")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/wakefn/wake/cmd/wake").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v\n%s", err, out)
	}
	return bin, nil
})

// The bound on wake's memory under a flood, as the README documents it:
// about 25 KiB per connection held, on top of wake's own.
const (
	floodRSSShort = 256 << 20 // 2,000 connections
	floodRSSLong  = 1 << 30   // 20,000 connections
)

// A flood of connections at a function at zero whose instance never
// becomes ready: every client gets 503 (queue full, with Retry-After) or
// 504 (timed out waiting), wake's memory stays under its bound, and other
// functions keep answering. Not parallel: the flood is the machine's.
func TestOverloadFloodAtZero(t *testing.T) {
	bin, err := plainWake()
	if err != nil {
		t.Fatal(err)
	}
	conns, queue, rssBound := pick(2_000, 20_000), pick(500, activator.DefaultQueueDepth), pick(int64(floodRSSShort), int64(floodRSSLong))
	w := startWakeBinary(t, bin, "", "--queue-depth", strconv.Itoa(queue), "--log-level", "info")
	w.apply(fn{name: "other", marker: marker(t), annotations: map[string]string{api.AnnotationMinScale: "1"}}.yaml())
	// Long enough a wait that the queue fills before the first time out.
	w.apply(fn{name: "never", marker: marker(t), timeout: pick(2, 15),
		annotations: map[string]string{api.AnnotationInitialScale: "0"},
		env:         map[string]string{"TESTFN_READY_PATH": "/ready", "TESTFN_READY_AFTER": "1h"},
		probePath:   "/ready"}.yaml(), "--no-wait")

	done := make(chan floodResult)
	go func() { done <- floodFrom(t, w.http, "never.default.localhost", conns, 9_000) }()
	// While the flood lasts, another function answers.
	others := map[int]int{}
	var result floodResult
	for waiting := true; waiting; {
		select {
		case result = <-done:
			waiting = false
		case <-time.After(200 * time.Millisecond):
			r, err := w.get("other.default.localhost", "/")
			if err != nil {
				others[0]++
			} else {
				others[r.code]++
			}
		}
	}
	rss := peakRSS(t, w.cmd.Process.Pid)
	t.Logf("chaos: flood of %d connections at zero: answers %v (%d 503s with Retry-After); other function %v; wake peak RSS %d MiB",
		conns, result.Codes, result.RetryAfter, others, rss>>20)

	if answered := result.Codes[503] + result.Codes[504]; answered != conns {
		t.Errorf("%d of %d clients got 503 or 504 (answers %v), want all", answered, conns, result.Codes)
	}
	if result.Codes[503] == 0 || result.RetryAfter != result.Codes[503] {
		t.Errorf("%d 503s, %d with Retry-After: want the queue-full ones, each saying when to retry", result.Codes[503], result.RetryAfter)
	}
	if others[200] == 0 || len(others) != 1 {
		t.Errorf("the other function during the flood: %v, want only 200s", others)
	}
	if rss > rssBound {
		t.Errorf("wake's peak RSS %d MiB, over the documented bound of %d MiB for %d connections", rss>>20, rssBound>>20, conns)
	}
}
