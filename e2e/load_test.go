package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hangAfter is the load generator's safety net: a request with no outcome
// after this long is given up on and counted as lost, so that a hang fails
// the test instead of stalling the package until go test's timeout. No
// request of these tests should take a tenth of it.
const hangAfter = 60 * time.Second

// load is a closed-loop load generator: each worker sends a request, waits
// for the whole answer, records it, and sends the next, until it is told
// to stop. It never cuts off a request it sent (but for the hangAfter
// safety net): stopping waits for every request in flight to end with a
// response or a transport error, so sent = answered + errors + lost, and
// lost counts only requests that had no outcome when the net gave up.
//
// Requests carry X-Chaos-Id, a number unique within the test binary, so that a
// test can match them with what the instances saw (TESTFN_LOG_REQUESTS).
type load struct {
	t      *testing.T
	url    string // http://ROUTER/PATH
	host   string
	method string
	body   string
	pause  time.Duration
	client *http.Client
	start  time.Time

	label atomic.Value // string: attached to each request as it is sent
	sent  atomic.Int64
	wg    sync.WaitGroup

	mu       sync.Mutex
	workers  []chan struct{} // closed to stop one worker after its request
	outcomes []outcome
	stopped  bool
}

// outcome is what became of one request.
type outcome struct {
	id         int64
	label      string // the load's label when it was sent
	sent, done time.Time
	code       int   // 0 when err is set
	err        error // transport error, or the safety net's
	body       string
	pid        string // X-Testfn-Pid: the instance that answered
	retryAfter string // the Retry-After header
}

func (o outcome) latency() time.Duration { return o.done.Sub(o.sent) }

// requestIDs numbers the requests of every load.
var requestIDs atomic.Int64

// loadSpec says what a load sends: GET unless method is set.
type loadSpec struct {
	host, path   string
	method, body string
	workers      int
	// pause is a worker's wait between an answer and its next request;
	// 0 means none.
	pause time.Duration
}

// startLoad starts spec.workers workers against w's router.
func startLoad(t *testing.T, w *server, spec loadSpec) *load {
	t.Helper()
	if spec.method == "" {
		spec.method = http.MethodGet
	}
	l := &load{
		t: t, url: "http://" + w.http + spec.path, host: spec.host, method: spec.method, body: spec.body, pause: spec.pause,
		// Its own connections, kept alive as a real client's are.
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}},
		start:  time.Now(),
	}
	l.label.Store("")
	l.setWorkers(spec.workers)
	t.Cleanup(func() { l.stop() })
	return l
}

// setLabel tags the requests sent from now on.
func (l *load) setLabel(s string) { l.label.Store(s) }

// setWorkers grows or shrinks the number of workers to n. A worker told
// to stop finishes the request it has in flight first.
func (l *load) setWorkers(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	for len(l.workers) < n {
		quit := make(chan struct{})
		l.workers = append(l.workers, quit)
		l.wg.Add(1)
		go l.work(quit)
	}
	for len(l.workers) > n {
		close(l.workers[len(l.workers)-1])
		l.workers = l.workers[:len(l.workers)-1]
	}
}

func (l *load) work(quit chan struct{}) {
	defer l.wg.Done()
	for {
		select {
		case <-quit:
			return
		default:
		}
		o := l.send()
		l.mu.Lock()
		l.outcomes = append(l.outcomes, o)
		l.mu.Unlock()
		pause := l.pause
		if o.err != nil {
			pause = max(pause, 20*time.Millisecond) // the router is down: do not spin
		}
		if pause > 0 {
			select {
			case <-quit:
				return
			case <-time.After(pause):
			}
		}
	}
}

func (l *load) send() outcome {
	o := outcome{id: requestIDs.Add(1), label: l.label.Load().(string)}
	ctx, cancel := context.WithTimeout(context.Background(), hangAfter)
	defer cancel()
	var body io.Reader
	if l.body != "" {
		body = strings.NewReader(l.body)
	}
	req, err := http.NewRequestWithContext(ctx, l.method, l.url, body)
	if err != nil {
		l.t.Errorf("load: %v", err)
		o.err = err
		return o
	}
	req.Host = l.host
	req.Header.Set("X-Chaos-Id", strconv.FormatInt(o.id, 10))
	o.sent = time.Now()
	l.sent.Add(1)
	res, err := l.client.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(res.Body)
		res.Body.Close()
		o.code, o.body = res.StatusCode, string(b)
		o.pid, o.retryAfter = res.Header.Get("X-Testfn-Pid"), res.Header.Get("Retry-After")
		if err != nil { // the response broke off midway: not an answer
			o.code = 0
		}
	}
	o.err = err
	o.done = time.Now()
	return o
}

// stop stops every worker and waits for their requests in flight, up to
// the safety net. It returns the outcomes so far, in order of completion.
// Stopping twice is harmless.
func (l *load) stop() []outcome {
	l.mu.Lock()
	if !l.stopped {
		l.stopped = true
		for _, q := range l.workers {
			close(q)
		}
		l.workers = nil
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		l.client.CloseIdleConnections()
	case <-time.After(hangAfter + 10*time.Second):
		l.t.Errorf("load: workers still waiting for answers %v after being stopped", hangAfter+10*time.Second)
	}
	return l.snapshot()
}

// snapshot returns the outcomes so far.
func (l *load) snapshot() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outcome(nil), l.outcomes...)
}

// tally counts a load's outcomes.
type tally struct {
	sent, answered, ok, serverErrors, errors, lost int
	non2xx, errs                                   map[string]int // by cause
	maxLatency                                     time.Duration
}

// count tallies outcomes of a load that sent sent requests.
func count(sent int64, outs []outcome) tally {
	t := tally{sent: int(sent), non2xx: map[string]int{}, errs: map[string]int{}}
	for _, o := range outs {
		switch {
		case errors.Is(o.err, context.DeadlineExceeded):
			t.lost++ // hung until the safety net cut it
			continue
		case o.err != nil:
			t.errors++
			t.errs[errorCause(o.err)]++
		default:
			t.answered++
			if o.code/100 == 2 {
				t.ok++
			} else {
				t.non2xx[responseCause(o.code, o.body)]++
			}
			if o.code/100 == 5 {
				t.serverErrors++
			}
		}
		t.maxLatency = max(t.maxLatency, o.latency())
	}
	t.lost += t.sent - len(outs) // sent, and never came back at all
	return t
}

func (l *load) tally() tally { return count(l.sent.Load(), l.snapshot()) }

// row is the chaos table's line for a fault; the format is fixed so that
// the rows can be collected from go test -v output.
func (t tally) row(fault string) string {
	errs := ""
	if t.errors > 0 {
		errs = causes(t.errs)
	}
	return fmt.Sprintf("chaos: %s sent=%d answered=%d 2xx=%d 5xx=%d non2xx=%s errors=%d%s lost=%d max=%v",
		fault, t.sent, t.answered, t.ok, t.serverErrors, causes(t.non2xx), t.errors, errs, t.lost,
		t.maxLatency.Round(time.Millisecond))
}

func causes(m map[string]int) string {
	if len(m) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

// responseCause names why wake answered code: "502/instance-died",
// "503/CrashLoopBackOff" and so on, from the message in body.
func responseCause(code int, body string) string {
	cause := "other"
	switch {
	case strings.Contains(body, "closed the connection before answering (it may have died)"):
		cause = "instance-died"
	case strings.Contains(body, "cannot start an instance: "):
		reason, _, _ := strings.Cut(strings.SplitN(body, "cannot start an instance: ", 2)[1], ":")
		cause = reason
	case strings.Contains(body, "requests waiting for an instance"):
		cause = "queue-full"
	case strings.Contains(body, "timed out"), strings.Contains(body, "did not answer within"):
		cause = "timeout"
	case strings.Contains(body, "is not available"):
		cause = "unavailable"
	case strings.Contains(body, "no function serves host"):
		cause = "no-route"
	}
	return strconv.Itoa(code) + "/" + cause
}

// errorCause names a transport error: refused, reset, eof or the error.
func errorCause(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return err.Error()
}
