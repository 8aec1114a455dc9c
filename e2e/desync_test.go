package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// The request-smuggling tests send raw bytes to the data plane, one shape
// of the published Transfer-Encoding / Content-Length attacks a case, and
// hold wake to net/http's framing of those bytes: every request the client
// framed is served in order, or wake refuses with a 4xx and closes; the
// instance records exactly the requests the client framed, never one
// hidden in another's body, and a client sharing the instance's pooled
// connections never gets someone else's response. The instance is testfn
// with TESTFN_RECORD_FILE: one JSON line per request it saw, each answered
// with X-Recorded: <its URI>. Every request of case cNNN has a path under
// /cNNN/, so what it caused can be told from what others did.

const desyncFn = "desync"

var desyncVerbose = flag.Bool("desync.v", false, "log the outcome of every request-smuggling case")

var desyncHost = desyncFn + ".default.localhost"

// Timing of one case. A case whose responses are all in is given
// desyncQuiet for anything more (a smuggled request's response) before the
// client half-closes; a server that sends nothing for desyncIdle is
// waiting for bytes the client will not send.
const (
	desyncQuiet   = 200 * time.Millisecond
	desyncIdle    = 2 * time.Second
	desyncRecords = 2 * time.Second // for the instance's records to appear
)

// TestDesyncCorpus runs every shape in desyncCorpus through a wake serve
// on the fast path and one on net/http alone, each with one instance
// (min = max scale 1) so that every client shares its pooled upstream
// connections, while a victim client sends GETs of its own.
func TestDesyncCorpus(t *testing.T) {
	t.Parallel()
	corpus := desyncCorpus()
	if len(corpus) < 100 {
		t.Fatalf("the corpus has %d shapes, want at least 100", len(corpus))
	}
	end := time.Now().Add(100 * time.Second)
	if d, ok := t.Deadline(); ok && d.Add(-20*time.Second).Before(end) {
		end = d.Add(-20 * time.Second)
	}
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprintf("http1-fast-path=%v", fast), func(t *testing.T) {
			t.Parallel()
			d := startDesync(t, fast)
			t.Run("corpus", func(t *testing.T) { d.runCorpus(t, corpus, end) })
			t.Run("connection-content-length", func(t *testing.T) { d.connectionContentLength(t, end) })
		})
	}
}

// desyncTarget is one wake serve with the recording function deployed.
type desyncTarget struct {
	mode    string // http1-fast-path=true or false
	w       *server
	records string       // the instance's TESTFN_RECORD_FILE
	victim  *http.Client // one kept-alive connection
	fresh   *http.Client // a new connection a request
	judged  map[string]judged
	byCase  map[string][]desyncRecord
	offset  int64 // in records, what byCase holds
}

// judged is what a case was judged on, to judge it again on the records
// that came in later.
type judged struct {
	want    []framed
	partial *framed
	got     clientGot
	records int
	passed  bool
}

func startDesync(t *testing.T, fast bool) *desyncTarget {
	w := startWake(t, "", fmt.Sprintf("--http1-fast-path=%v", fast))
	d := &desyncTarget{
		mode:    fmt.Sprintf("http1-fast-path=%v", fast),
		w:       w,
		records: filepath.Join(t.TempDir(), "records.jsonl"),
		victim: &http.Client{Timeout: 5 * time.Second,
			Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}},
		fresh:  &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		judged: map[string]judged{},
		byCase: map[string][]desyncRecord{},
	}
	w.apply(fn{name: desyncFn, marker: marker(t),
		annotations: map[string]string{api.AnnotationMinScale: "1", api.AnnotationMaxScale: "1"},
		env:         map[string]string{"TESTFN_RECORD_FILE": d.records}}.yaml())
	eventually(t, 60*time.Second, "the desync function has its instance ready", func() bool {
		return d.get(d.fresh, "/ready") == ""
	})
	return d
}

// get sends GET path through c and says what was wrong with the answer:
// anything but 200 with X-Recorded: path and body "rec PATH\n".
func (d *desyncTarget) get(c *http.Client, path string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.w.http+path, nil)
	req.Host = desyncHost
	res, err := c.Do(req)
	if err != nil {
		return fmt.Sprintf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK || res.Header.Get("X-Recorded") != path || string(body) != "rec "+path+"\n" {
		return fmt.Sprintf("GET %s got %d X-Recorded %q body %q (err %v)", path, res.StatusCode, res.Header.Get("X-Recorded"), quoteCut(body), err)
	}
	return ""
}

// desyncCase is one shape: build returns its bytes for the path prefix
// p ("/c042"), under which every request it holds must be.
type desyncCase struct {
	name  string
	build func(p string) string
}

func (d *desyncTarget) runCorpus(t *testing.T, corpus []desyncCase, end time.Time) {
	var failed []string
	for i, c := range corpus {
		if time.Now().After(end) {
			t.Errorf("out of time after %d of %d cases", i, len(corpus))
			break
		}
		id := fmt.Sprintf("c%03d", i+1)
		problems, _ := d.runCase(t, id, c.name, c.build("/"+id))
		if len(problems) > 0 {
			failed = append(failed, fmt.Sprintf("%s %s: %s", id, c.name, problems[0]))
		}
	}
	// Records that came in after their case was judged: a smuggled
	// request the instance took late.
	time.Sleep(300 * time.Millisecond)
	all := d.readRecords(t)
	for i, c := range corpus {
		id := fmt.Sprintf("c%03d", i+1)
		j, ok := d.judged[id]
		if !ok || !j.passed || len(all[id]) == j.records {
			continue
		}
		if _, problems := judgeCase(j.want, j.partial, j.got, all[id]); len(problems) > 0 {
			t.Errorf("case %s %s, on the records that came in after it was judged:\n  %s\ninstance recorded:\n%s",
				id, c.name, strings.Join(problems, "\n  "), describeRecords(all[id]))
			failed = append(failed, fmt.Sprintf("%s %s: %s (a late record)", id, c.name, problems[0]))
		}
	}
	t.Logf("%d cases, %d failed", len(corpus), len(failed))
	for _, f := range failed {
		t.Logf("FAILED %s", f)
	}
}

// connectionContentLength is the finding that started this file: a
// client names Content-Length in Connection, and a proxy that drops the
// field but frames the body by it sends the body, a complete request, as
// a request of its own, whose response goes to the next client of the
// pooled connection.
func (d *desyncTarget) connectionContentLength(t *testing.T, end time.Time) {
	for i := range 5 {
		if time.Now().After(end) {
			t.Fatalf("out of time after %d rounds", i)
		}
		id := fmt.Sprintf("c9%02d", i)
		p := "/" + id
		raw := rawHead("POST", p+"/innocent", "Connection: Content-Length", contentLength(len(smuggled(p)))) + smuggled(p)
		_, victims := d.runCase(t, id, "Connection: Content-Length", raw)
		for _, r := range d.readRecords(t)[id] {
			if strings.HasSuffix(r.URI, "/hidden") {
				t.Errorf("round %d: the instance served the request smuggled in the body: %s", i, r)
			}
		}
		for _, v := range victims {
			if v.recorded == p+"/hidden" {
				t.Errorf("round %d: the victim got the smuggled request's response: %s", i, v.problem)
			}
		}
	}
}

// runCase sends one case's bytes with a victim alongside, judges the
// outcome, reports it, and returns its problems and what the victim got.
func (d *desyncTarget) runCase(t *testing.T, id, name, raw string) ([]string, []victimGot) {
	want, partial := netHTTPFraming([]byte(raw))
	stop := make(chan struct{})
	victimDone := make(chan []victimGot, 1)
	go func() { victimDone <- d.victimRun(id, stop) }()
	got := desyncExchange(d.w.http, []byte(raw), want)
	close(stop)
	victims := <-victimDone
	health := d.get(d.fresh, "/health/"+id)

	// The records this case should have caused: one per answer that
	// says it was recorded under this case's prefix, whoever got it.
	expect := 0
	prefix := "/" + id + "/"
	for _, r := range got.responses {
		if strings.HasPrefix(r.recorded, prefix) {
			expect++
		}
	}
	for _, v := range victims {
		if strings.HasPrefix(v.recorded, prefix) {
			expect++
		}
	}
	var recs []desyncRecord
	deadline := time.Now().Add(desyncRecords)
	for {
		recs = d.readRecords(t)[id]
		if len(recs) >= expect || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	outcome, problems := judgeCase(want, partial, got, recs)
	desynced := false
	for _, v := range victims {
		if v.problem != "" {
			problems = append(problems, "victim: "+v.problem)
			desynced = desynced || v.recorded != ""
		}
	}
	if health != "" {
		problems = append(problems, "after the case, on a new connection: "+health)
		desynced = true
	}
	d.judged[id] = judged{want: want, partial: partial, got: got, records: len(recs), passed: len(problems) == 0}
	if *desyncVerbose {
		t.Logf("%s case %s %s: %s, %d problems; got %s", d.mode, id, name, outcome, len(problems), quoteCut(got.raw))
	}
	if len(problems) == 0 {
		return nil, victims
	}
	t.Errorf("case %s %s (%s):\n  %s\nsent %s\nreference framing: %s\nclient got (closed %v) %s\ninstance recorded:\n%s",
		id, name, outcome, strings.Join(problems, "\n  "), quoteCut([]byte(raw)), describeFramed(want, partial),
		got.closed, quoteCut(got.raw), describeRecords(recs))
	if desynced && !d.resync(id) {
		problems = append(problems, "the instance's pooled connections stay out of step: later cases may fail for it")
		t.Errorf("case %s %s: the instance's pooled connections stay out of step after it", id, name)
	}
	return problems, victims
}

// resync takes upstream connections left out of step off the instance's
// pool, so that the next cases are judged on their own: wake takes an
// idle connection for a POST only after checking that nothing is waiting
// on it (activator's connPool.get), so a few POSTs close those holding a
// stray response. It reports whether GETs are then answered right.
func (d *desyncTarget) resync(id string) bool {
	time.Sleep(100 * time.Millisecond)
	for i := range 8 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+d.w.http+"/resync/"+id+"/"+strconv.Itoa(i), strings.NewReader("x"))
		req.Host = desyncHost
		if res, err := d.fresh.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
	d.victim.CloseIdleConnections()
	for i := range 4 {
		if d.get(d.victim, fmt.Sprintf("/resync/%s/check%d", id, i)) != "" {
			return false
		}
	}
	return true
}

// victimGot is one victim request: what was wrong, and the X-Recorded it
// got.
type victimGot struct{ problem, recorded string }

// victimRun sends GET /victim/ID/N on the victim's kept-alive connection
// until stop, and three more after it.
func (d *desyncTarget) victimRun(id string, stop <-chan struct{}) []victimGot {
	var out []victimGot
	after := 0
	for n := 0; after < 3; n++ {
		select {
		case <-stop:
			after++
		default:
		}
		path := fmt.Sprintf("/victim/%s/%d", id, n)
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.w.http+path, nil)
		req.Host = desyncHost
		var g victimGot
		res, err := d.victim.Do(req)
		if err != nil {
			g.problem = fmt.Sprintf("GET %s: %v", path, err)
		} else {
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if rec := res.Header.Get("X-Recorded"); rec != path {
				g.recorded = rec
			}
			if err != nil || res.StatusCode != http.StatusOK || g.recorded != "" || string(body) != "rec "+path+"\n" {
				g.problem = fmt.Sprintf("GET %s got %d X-Recorded %q body %q (err %v)",
					path, res.StatusCode, res.Header.Get("X-Recorded"), quoteCut(body), err)
			}
		}
		out = append(out, g)
		time.Sleep(10 * time.Millisecond)
	}
	return out
}

// framed is a request as net/http's ReadRequest framed the client's bytes.
type framed struct {
	req  *http.Request
	body []byte
	err  error // the body did not end as framed: the request is cut
}

// netHTTPFraming reads raw as net/http does: requests one after another until the
// bytes end or do not parse. The last may be partial: its head parsed,
// its body did not end.
func netHTTPFraming(raw []byte) (reqs []framed, partial *framed) {
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return reqs, nil
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return reqs, &framed{req: req, body: body, err: err}
		}
		reqs = append(reqs, framed{req: req, body: body})
	}
}

// uris are the request URIs the instance may see for f: as sent, or in
// origin form (an absolute target's path).
func (f framed) uris() []string { return []string{f.req.RequestURI, f.req.URL.RequestURI()} }

// routed tells whether f's Host names the function; wake answers the
// others 404 itself.
func (f framed) routed() bool {
	h := strings.ToLower(f.req.Host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".") == desyncHost
}

// clientGot is what the client read on its connection.
type clientGot struct {
	raw       []byte
	responses []gotResponse
	leftover  []byte // bytes after the last response that are none
	closed    bool   // the server closed the connection
}

type gotResponse struct {
	status   int
	recorded string // X-Recorded
	body     []byte
	close    bool
}

// desyncExchange writes raw on a new connection and reads until the server
// closes it. When the responses to every request in want are in and
// desyncQuiet passes with nothing more, or nothing comes for desyncIdle,
// the client half-closes and reads what remains (up to desyncIdle). It
// gives up after 4 desyncIdle in all.
func desyncExchange(addr string, raw []byte, want []framed) clientGot {
	var got clientGot
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		got.leftover = []byte("dial: " + err.Error())
		return got
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(raw); err != nil {
		got.raw = []byte("(write: " + err.Error() + ")")
	}
	var buf bytes.Buffer
	tmp := make([]byte, 32<<10)
	last := time.Now()
	giveUp := last.Add(4 * desyncIdle) // a server that never stops sending
	readUntil := func(done func() bool) (eof bool) {
		for time.Now().Before(giveUp) {
			conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := conn.Read(tmp)
			buf.Write(tmp[:n])
			if n > 0 {
				last = time.Now()
			}
			var ne net.Error
			switch {
			case err == nil:
			case errors.As(err, &ne) && ne.Timeout():
				if done() {
					return false
				}
			default: // EOF, or a reset after the server closed
				return true
			}
		}
		return false
	}
	got.closed = readUntil(func() bool {
		idle := time.Since(last)
		complete, _, _ := parseResponses(buf.Bytes(), want, false)
		return (len(complete) >= len(want) && idle >= desyncQuiet) || idle >= desyncIdle
	})
	if !got.closed {
		conn.(*net.TCPConn).CloseWrite()
		start := time.Now()
		got.closed = readUntil(func() bool { return time.Since(start) >= desyncIdle })
	}
	got.raw = append(got.raw, buf.Bytes()...)
	got.responses, got.leftover, _ = parseResponses(buf.Bytes(), want, got.closed)
	return got
}

// parseResponses reads the responses in b, the i-th as the answer to
// want[i] (HEAD's has no body), 1xx skipped. A response framed by the
// close of the connection is complete only when closed.
func parseResponses(b []byte, want []framed, closed bool) ([]gotResponse, []byte, error) {
	br := bufio.NewReader(bytes.NewReader(b))
	var out []gotResponse
	consumed := 0
	for {
		var req *http.Request
		if len(out) < len(want) {
			req = want[len(out)].req
		}
		res, err := http.ReadResponse(br, req)
		if err != nil {
			return out, b[consumed:], err
		}
		body, err := io.ReadAll(res.Body)
		untilClose := res.ContentLength < 0 && len(res.TransferEncoding) == 0 && res.Body != http.NoBody
		if err != nil || (untilClose && !closed) {
			return out, b[consumed:], io.ErrUnexpectedEOF
		}
		consumed = len(b) - br.Buffered()
		if res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != 101 {
			continue
		}
		out = append(out, gotResponse{status: res.StatusCode, recorded: res.Header.Get("X-Recorded"), body: body,
			close: res.Close})
	}
}

// refusalCodes are the statuses that refuse a client's bytes: client errors
// about framing, and Not Implemented (a coding) or HTTP Version Not
// Supported.
var refusalCodes = []int{400, 408, 411, 413, 417, 431, 501, 505}

// judgeCase holds what the client got and what the instance recorded against
// the requests the client framed, want (and partial, a last one cut off).
// It returns the outcome in words, and what was wrong.
func judgeCase(want []framed, partial *framed, got clientGot, recs []desyncRecord) (string, []string) {
	var problems []string
	// The answers that served want[0:k] in order.
	k := 0
	for k < len(got.responses) && k < len(want) && answersRequest(got.responses[k], want[k]) {
		k++
	}
	rest := got.responses[k:]
	outcome := fmt.Sprintf("served %d of %d", k, len(want))
	switch {
	case len(got.leftover) > 0:
		problems = append(problems, fmt.Sprintf("bytes that are no HTTP response after %d responses: %s", len(got.responses), quoteCut(got.leftover)))
	case len(rest) == 0 && k < len(want) && k == 0:
		problems = append(problems, fmt.Sprintf("no answer to %s (closed %v)", reqLine(want[0]), got.closed))
	case len(rest) == 0 && k < len(want) && !(got.responses[k-1].close || want[k-1].req.Close):
		problems = append(problems, fmt.Sprintf("no answer to %s, and the answer before it did not say Connection: close (closed %v)", reqLine(want[k]), got.closed))
	case len(rest) == 0 && k < len(want) && !got.closed:
		problems = append(problems, fmt.Sprintf("the answer to %s said Connection: close, but the connection stayed open", reqLine(want[k-1])))
	case len(rest) == 0:
	case slices.Contains(refusalCodes, rest[0].status):
		outcome = fmt.Sprintf("refused after serving %d of %d", k, len(want))
		if len(rest) > 1 {
			problems = append(problems, fmt.Sprintf("%d more responses after the %d", len(rest)-1, rest[0].status))
		}
		if !got.closed {
			problems = append(problems, fmt.Sprintf("the connection stayed open after the %d", rest[0].status))
		}
	default:
		r := rest[0]
		what := "an answer"
		if k < len(want) {
			what = "the answer to " + reqLine(want[k])
		}
		problems = append(problems, fmt.Sprintf("%s is %d X-Recorded %q body %q", what, r.status, r.recorded, quoteCut(r.body)))
	}

	// The instance must have seen want[0:k] (those routed to it), and at
	// most the next request cut off: a proxy that streams a body learns
	// only at its end that it is malformed, and aborts the upstream
	// request, which the instance sees as a body read error.
	var served []desyncRecord
	for _, r := range recs {
		if r.Refused != "" {
			problems = append(problems, "wake sent the instance what its net/http refused: "+r.String())
		} else {
			served = append(served, r)
		}
	}
	recs = served
	var seen []framed
	for _, f := range want[:k] {
		if f.routed() {
			seen = append(seen, f)
		}
	}
	next := partial
	if k < len(want) {
		next = &want[k]
	}
	for i, r := range recs {
		switch {
		case i < len(seen) && r.matches(seen[i]):
			problems = append(problems, r.forwardingProblems(seen[i])...)
		case i == len(seen) && next != nil && r.BodyErr != "" && slices.Contains(next.uris(), r.URI) && r.Method == next.req.Method:
			problems = append(problems, r.forwardingProblems(*next)...)
		case i < len(seen):
			problems = append(problems, fmt.Sprintf("record %d is %s, want %s with body %q", i+1, r, reqLine(seen[i]), quoteCut(seen[i].body)))
		default:
			problems = append(problems, fmt.Sprintf("the instance got a request the client did not frame: %s", r))
		}
	}
	if len(recs) < len(seen) {
		problems = append(problems, fmt.Sprintf("the instance recorded %d requests, want %d", len(recs), len(seen)))
	}
	return outcome, problems
}

// answersRequest tells whether r is the right answer to f: the instance's, with
// f's URI, or wake's 404 for a host no function has.
func answersRequest(r gotResponse, f framed) bool {
	if !f.routed() {
		return r.status == http.StatusNotFound && r.recorded == ""
	}
	if r.status != http.StatusOK || !slices.Contains(f.uris(), r.recorded) {
		return false
	}
	return f.req.Method == http.MethodHead || string(r.body) == "rec "+r.recorded+"\n"
}

func reqLine(f framed) string { return f.req.Method + " " + f.req.RequestURI }

// desyncRecord is one line of TESTFN_RECORD_FILE (testfn's Record).
type desyncRecord struct {
	Method           string      `json:"method"`
	URI              string      `json:"uri"`
	Proto            string      `json:"proto"`
	Host             string      `json:"host"`
	Header           http.Header `json:"header"`
	ContentLength    int64       `json:"contentLength"`
	TransferEncoding []string    `json:"transferEncoding"`
	Body             []byte      `json:"body"`
	BodyErr          string      `json:"bodyErr"`
	// A request the instance's net/http refused before its handler ran:
	// the status, and what the connection had read.
	Refused  string `json:"refused"`
	Received []byte `json:"received"`
}

func (r desyncRecord) String() string {
	if r.Refused != "" {
		return fmt.Sprintf("refused by the instance's net/http with %q, having read %s", r.Refused, quoteCut(r.Received))
	}
	s := fmt.Sprintf("%s %s %s Host %q body %q", r.Method, r.URI, r.Proto, r.Host, quoteCut(r.Body))
	if r.BodyErr != "" {
		s += " (body error: " + r.BodyErr + ")"
	}
	return s + fmt.Sprintf(" X-Forwarded-For %q X-Forwarded-Host %q Forwarded %q",
		r.Header.Values("X-Forwarded-For"), r.Header.Values("X-Forwarded-Host"), r.Header.Values("Forwarded"))
}

func (r desyncRecord) matches(f framed) bool {
	return r.Method == f.req.Method && slices.Contains(f.uris(), r.URI) && bytes.Equal(r.Body, f.body) && r.BodyErr == ""
}

// forwardingProblems checks what wake adds to a request it forwards: the
// Host, the client's address last in X-Forwarded-For (and in Forwarded,
// when there is one: wake's upgrade path sends none), and X-Forwarded-Host
// the Host the client sent (never its own X-Forwarded-Host: a client must
// not choose what the function believes its public host is).
func (r desyncRecord) forwardingProblems(f framed) []string {
	var p []string
	if r.Host == "" {
		p = append(p, fmt.Sprintf("%s %s reached the instance without a Host", r.Method, r.URI))
	}
	xff := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	if last := strings.TrimSpace(xff[len(xff)-1]); last != "127.0.0.1" {
		p = append(p, fmt.Sprintf("%s %s reached the instance with X-Forwarded-For %q: the last is not the client's 127.0.0.1",
			r.Method, r.URI, r.Header.Values("X-Forwarded-For")))
	}
	if xfh := r.Header.Values("X-Forwarded-Host"); len(xfh) != 1 || xfh[0] != f.req.Host {
		p = append(p, fmt.Sprintf("%s %s reached the instance with X-Forwarded-Host %q, want the client's Host %q",
			r.Method, r.URI, xfh, f.req.Host))
	}
	if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 && !strings.HasPrefix(fwd[len(fwd)-1], "for=127.0.0.1;") {
		p = append(p, fmt.Sprintf("%s %s reached the instance with Forwarded %q: the last is not the client's", r.Method, r.URI, fwd))
	}
	return p
}

var (
	// caseOf finds the case in a request URI, origin or absolute form.
	caseOf = regexp.MustCompile(`^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*)?/(c\d{3})/`)
	// caseIn finds the first case path in the bytes of a refused request.
	caseIn = regexp.MustCompile(`/(c\d{3})/`)
)

// readRecords returns the instance's records by case. It reads what was
// appended since the last call: the victims' records pile up.
func (d *desyncTarget) readRecords(t *testing.T) map[string][]desyncRecord {
	f, err := os.Open(d.records)
	if errors.Is(err, os.ErrNotExist) {
		return d.byCase
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, d.offset, 1<<40))
	if err != nil {
		t.Fatal(err)
	}
	b = b[:bytes.LastIndexByte(b, '\n')+1] // a line being written waits
	d.offset += int64(len(b))
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 || bytes.Contains(line, []byte(`"uri":"/victim/`)) {
			continue // most of them
		}
		var r desyncRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		if r.Refused != "" {
			// Attributed by the first case path in what it read: an
			// upstream connection carries one request at a time.
			m := caseIn.FindSubmatch(r.Received)
			if m == nil {
				t.Errorf("the instance refused a request no case can be found in: %s", r)
				continue
			}
			d.byCase[string(m[1])] = append(d.byCase[string(m[1])], r)
		} else if m := caseOf.FindStringSubmatch(r.URI); m != nil {
			d.byCase[m[1]] = append(d.byCase[m[1]], r)
		}
	}
	return d.byCase
}

func describeRecords(recs []desyncRecord) string {
	if len(recs) == 0 {
		return "  (nothing)"
	}
	var b strings.Builder
	for i, r := range recs {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, r)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func describeFramed(want []framed, partial *framed) string {
	var s []string
	for _, f := range want {
		s = append(s, fmt.Sprintf("%s (Host %q, body %d bytes)", reqLine(f), f.req.Host, len(f.body)))
	}
	if partial != nil {
		s = append(s, fmt.Sprintf("%s cut off (%v)", reqLine(*partial), partial.err))
	}
	if len(s) == 0 {
		return "no request"
	}
	return strings.Join(s, "; ")
}

// quoteCut quotes b, cut to 1,500 bytes.
func quoteCut(b []byte) string {
	if len(b) > 1500 {
		return strconv.Quote(string(b[:1500])) + fmt.Sprintf("...(%d bytes)", len(b))
	}
	return strconv.Quote(string(b))
}

// The corpus's building blocks. rawHead is a request head with the
// function's Host first; smuggled is a complete request meant to be
// hidden in another's body.
func rawHead(method, target string, fields ...string) string {
	return method + " " + target + " HTTP/1.1\r\nHost: " + desyncHost + "\r\n" + rawFields(fields...) + "\r\n"
}

func rawFields(fields ...string) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	return b.String()
}

func smuggled(p string) string {
	return "GET " + p + "/hidden HTTP/1.1\r\nHost: " + desyncHost + "\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
}

func contentLength(n int) string { return "Content-Length: " + strconv.Itoa(n) }

func rawChunk(s string) string { return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n" }

// desyncCorpus is the shapes, after the published request-smuggling
// research (PortSwigger's, "HTTP Request Smuggling" by Linhart et al.,
// smuggler.py's mutations): Transfer-Encoding obfuscated every way a
// parser might read differently, with Content-Length before or after it
// framing the body differently; odd lengths and chunk sizes; line endings
// and folding; hop-by-hop fields naming framing fields; HTTP/1.0 and 0.9;
// odd Hosts; Expect; pipelining; forged forwarding fields.
func desyncCorpus() []desyncCase {
	var cs []desyncCase
	add := func(name string, build func(p string) string) { cs = append(cs, desyncCase{name, build}) }

	// Transfer-Encoding mutations, each in two attacks. CL.TE: the body,
	// by its length, holds a request that ends the chunked body early.
	// TE.CL: the length covers a chunk-size line only, so that the
	// chunk's data, a request, follows the body if the length wins.
	te := []struct{ name, field string }{
		{"plain", "Transfer-Encoding: chunked"},
		{"space before colon", "Transfer-Encoding : chunked"},
		{"tab before colon", "Transfer-Encoding\t: chunked"},
		{"tab after colon", "Transfer-Encoding:\tchunked"},
		{"no space", "Transfer-Encoding:chunked"},
		{"two spaces", "Transfer-Encoding:  chunked"},
		{"leading space (folds into Host)", " Transfer-Encoding: chunked"},
		{"trailing space", "Transfer-Encoding: chunked "},
		{"trailing tab", "Transfer-Encoding: chunked\t"},
		{"trailing CR", "Transfer-Encoding: chunked\r"},
		{"vertical tab", "Transfer-Encoding:\x0bchunked"},
		{"form feed", "Transfer-Encoding:\x0cchunked"},
		{"trailing vertical tab", "Transfer-Encoding: chunked\x0b"},
		{"case tRANSFER-eNCODING", "tRANSFER-eNCODING: cHUNKED"},
		{"upper case", "TRANSFER-ENCODING: CHUNKED"},
		{"xchunked", "Transfer-Encoding: xchunked"},
		{"chunk", "Transfer-Encoding: chunk"},
		{"chunked, identity", "Transfer-Encoding: chunked, identity"},
		{"identity, chunked", "Transfer-Encoding: identity, chunked"},
		{"gzip, chunked", "Transfer-Encoding: gzip, chunked"},
		{"chunked, chunked", "Transfer-Encoding: chunked, chunked"},
		{"duplicate chunked then identity", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity"},
		{"duplicate identity then chunked", "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked"},
		{"duplicate chunked", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"},
		{"quoted", "Transfer-Encoding: \"chunked\""},
		{"single-quoted", "Transfer-Encoding: 'chunked'"},
		{"obs-fold value", "Transfer-Encoding:\r\n chunked"},
		{"obs-fold mid-value", "Transfer-Encoding: chun\r\n ked"},
		{"folded into X", "X: y\r\n Transfer-Encoding: chunked"},
		{"folded into X by tab", "X: y\r\n\tTransfer-Encoding: chunked"},
		{"after bare CR", "X: y\rTransfer-Encoding: chunked"},
		{"after bare LF", "X: y\nTransfer-Encoding: chunked"},
		{"underscore", "Transfer_Encoding: chunked"},
		{"space in name", "Transfer Encoding: chunked"},
		{"accented value", "Transfer-Encoding: ch\x96nked"},
		{"accented name", "Transf\x82r-Encoding: chunked"},
		{"0xff before value", "Transfer-Encoding:\xffchunked"},
		{"NUL after value", "Transfer-Encoding: chunked\x00"},
		{"Content-Encoding", "Content-Encoding: chunked"},
		{"Connection names it", "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked"},
	}
	for _, c := range []byte{0x01, 0x0b, 0x0c, 0x1f, 0x7f, 0xa0} {
		te = append(te,
			struct{ name, field string }{fmt.Sprintf("0x%02x before name", c), string(c) + "Transfer-Encoding: chunked"},
			struct{ name, field string }{fmt.Sprintf("0x%02x before colon", c), "Transfer-Encoding" + string(c) + ": chunked"},
			struct{ name, field string }{fmt.Sprintf("0x%02x after value", c), "Transfer-Encoding: chunked" + string(c)})
	}
	for _, m := range te {
		add("CL.TE "+m.name, func(p string) string {
			body := "0\r\n\r\n" + smuggled(p)
			return rawHead("POST", p+"/innocent", contentLength(len(body)), m.field) + body
		})
	}
	for _, m := range te[:40] {
		add("TE.CL "+m.name, func(p string) string {
			size := strconv.FormatInt(int64(len(smuggled(p))), 16)
			return rawHead("POST", p+"/innocent", m.field, contentLength(len(size)+2)) + rawChunk(smuggled(p)) + "0\r\n\r\n"
		})
	}

	// Content-Length oddities: a body, then a request that shows where
	// the server thinks the body ended.
	next := func(p string) string { return rawHead("GET", p+"/next") }
	for _, f := range []struct{ name, field string }{
		{"plain", "Content-Length: 5"},
		{"leading zeros", "Content-Length: 0005"},
		{"plus sign", "Content-Length: +5"},
		{"negative", "Content-Length: -5"},
		{"hex", "Content-Length: 0x5"},
		{"decimal point", "Content-Length: 5.0"},
		{"list 5, 5", "Content-Length: 5, 5"},
		{"list 5, 6", "Content-Length: 5, 6"},
		{"two values by space", "Content-Length: 5 6"},
		{"duplicate same", "Content-Length: 5\r\nContent-Length: 5"},
		{"duplicate 5 then 6", "Content-Length: 5\r\nContent-Length: 6"},
		{"duplicate 6 then 5", "Content-Length: 6\r\nContent-Length: 5"},
		{"duplicate 0 then 5", "Content-Length: 0\r\nContent-Length: 5"},
		{"huge", "Content-Length: 99999999999999999999"},
		{"2^64+5", "Content-Length: 18446744073709551621"},
		{"space before colon", "Content-Length : 5"},
		{"vertical tab", "Content-Length:\x0b5"},
		{"obs-fold", "Content-Length:\r\n 5"},
		{"folded into X", "X: y\r\n Content-Length: 5"},
		{"after bare CR", "X: y\rContent-Length: 5"},
		{"case", "cONTENT-lENGTH: 5"},
		{"trailing tab", "Content-Length: 5\t"},
		{"18 digits", "Content-Length: 000000000000000005"},
		{"19 digits", "Content-Length: 0000000000000000005"},
		{"underscore", "Content_Length: 5"},
	} {
		add("CL "+f.name, func(p string) string { return rawHead("POST", p+"/cl", f.field) + "hello" + next(p) })
	}
	add("CL longer than the body", func(p string) string { return rawHead("POST", p+"/short", contentLength(50)) + "hello" })
	add("CL 0 then a request", func(p string) string { return rawHead("POST", p+"/zero", contentLength(0)) + next(p) })
	add("CL and TE, TE first", func(p string) string {
		body := "0\r\n\r\n" + smuggled(p)
		return rawHead("POST", p+"/innocent", "Transfer-Encoding: chunked", contentLength(len(body))) + body
	})
	add("CL and TE, TE.CL with TE first", func(p string) string {
		size := strconv.FormatInt(int64(len(smuggled(p))), 16)
		return rawHead("POST", p+"/innocent", contentLength(len(size)+2), "Transfer-Encoding: chunked") + rawChunk(smuggled(p)) + "0\r\n\r\n"
	})

	// Chunked bodies: framing that parsers disagree on, then a request.
	for _, b := range []struct{ name, body string }{
		{"plain", "5\r\nhello\r\n0\r\n\r\n"},
		{"size zz", "zz\r\nhello\r\n0\r\n\r\n"},
		{"size with leading space", " 5\r\nhello\r\n0\r\n\r\n"},
		{"size with trailing space", "5 \r\nhello\r\n0\r\n\r\n"},
		{"size with trailing tab", "5\t\r\nhello\r\n0\r\n\r\n"},
		{"size 0x5", "0x5\r\nhello\r\n0\r\n\r\n"},
		{"size -5", "-5\r\nhello\r\n0\r\n\r\n"},
		{"size +5", "+5\r\nhello\r\n0\r\n\r\n"},
		{"size with 17 digits", "00000000000000005\r\nhello\r\n0\r\n\r\n"},
		{"size overflowing 64 bits", "10000000000000005\r\nhello\r\n0\r\n\r\n"},
		{"upper-case size", "A\r\nhellohello\r\n0\r\n\r\n"},
		{"last chunk 000", "5\r\nhello\r\n000\r\n\r\n"},
		{"no CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n"},
		{"data longer than size", "3\r\nhello\r\n0\r\n\r\n"},
		{"LF-only lines", "5\nhello\n0\n\n"},
		{"LF after data", "5\r\nhello\n0\r\n\r\n"},
		{"LF after size", "5\nhello\r\n0\r\n\r\n"},
		{"CR only after data", "5\r\nhello\r0\r\n\r\n"},
		{"extension", "5;name=value\r\nhello\r\n0\r\n\r\n"},
		{"extension quoted", "5;name=\"a;b\"\r\nhello\r\n0\r\n\r\n"},
		{"extension quoted escape", "5;name=\"a\\\"b\"\r\nhello\r\n0\r\n\r\n"},
		{"extension with space", "5 ; name = value\r\nhello\r\n0\r\n\r\n"},
		{"extension with control byte", "5;\x01\r\nhello\r\n0\r\n\r\n"},
		{"extension with bare LF", "5;a\nb\r\nhello\r\n0\r\n\r\n"},
		{"extension of 8 KiB", "5;" + strings.Repeat("x", 8<<10) + "\r\nhello\r\n0\r\n\r\n"},
		{"extension on last chunk", "5\r\nhello\r\n0;x=y\r\n\r\n"},
		{"trailer", "5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"},
		{"trailer Content-Length", "5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n"},
		{"trailer Transfer-Encoding", "5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"trailer Host", "5\r\nhello\r\n0\r\nHost: evil.example\r\n\r\n"},
		{"trailer folded", "5\r\nhello\r\n0\r\nX-Trailer: a\r\n b\r\n\r\n"},
		{"no blank line after last chunk", "5\r\nhello\r\n0\r\n"},
	} {
		add("chunked "+b.name, func(p string) string {
			return rawHead("POST", p+"/chunked", "Transfer-Encoding: chunked") + b.body + next(p)
		})
	}

	// Connection naming framing and routing fields.
	for _, v := range []string{"Content-Length", "content-length", "keep-alive, Content-Length", "close, Content-Length",
		", Content-Length ,", "Upgrade, Content-Length"} {
		add("Connection: "+v, func(p string) string {
			return rawHead("POST", p+"/innocent", "Connection: "+v, contentLength(len(smuggled(p)))) + smuggled(p)
		})
	}
	add("Connection: Content-Length after it", func(p string) string {
		return rawHead("POST", p+"/innocent", contentLength(len(smuggled(p))), "Connection: Content-Length") + smuggled(p)
	})
	add("Connection: Content-Length on GET", func(p string) string {
		return rawHead("GET", p+"/innocent", "Connection: Content-Length", contentLength(len(smuggled(p)))) + smuggled(p)
	})
	add("Connection: Content-Length, Transfer-Encoding", func(p string) string {
		body := "0\r\n\r\n" + smuggled(p)
		return rawHead("POST", p+"/innocent", "Connection: Content-Length, Transfer-Encoding", contentLength(len(body)), "Transfer-Encoding: chunked") + body
	})
	add("Connection: Transfer-Encoding, chunked body", func(p string) string {
		return rawHead("POST", p+"/innocent", "Connection: Transfer-Encoding", "Transfer-Encoding: chunked") + rawChunk(smuggled(p)) + "0\r\n\r\n" + next(p)
	})
	add("Connection: Host", func(p string) string { return rawHead("GET", p+"/innocent", "Connection: Host") + next(p) })
	add("Connection: X-Forwarded-Host", func(p string) string {
		return rawHead("GET", p+"/innocent", "Connection: X-Forwarded-Host", "X-Forwarded-Host: evil.example") + next(p)
	})
	add("Connection: X-Forwarded-For", func(p string) string {
		return rawHead("GET", p+"/innocent", "Connection: X-Forwarded-For", "X-Forwarded-For: 6.6.6.6") + next(p)
	})
	add("Connection: Forwarded", func(p string) string {
		return rawHead("GET", p+"/innocent", "Connection: Forwarded", "Forwarded: for=6.6.6.6") + next(p)
	})
	add("websocket upgrade the instance declines, then a request", func(p string) string {
		return rawHead("GET", p+"/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==") + smuggled(p)
	})
	add("h2c upgrade the instance declines, then a request", func(p string) string {
		return rawHead("GET", p+"/h2c", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA") + smuggled(p)
	})
	add("websocket upgrade with forged forwarding fields", func(p string) string {
		return rawHead("GET", p+"/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Forwarded: for=6.6.6.6;host=evil.example", "X-Forwarded-Host: evil.example")
	})
	add("two Connection fields", func(p string) string {
		return rawHead("POST", p+"/innocent", "Connection: keep-alive", "Connection: Content-Length", contentLength(len(smuggled(p)))) + smuggled(p)
	})

	// Heads: line endings, folding, request lines.
	add("bare LF line endings", func(p string) string {
		return "GET " + p + "/lf HTTP/1.1\nHost: " + desyncHost + "\n\n" + next(p)
	})
	add("bare LF, body by length", func(p string) string {
		return "POST " + p + "/lf HTTP/1.1\nHost: " + desyncHost + "\n" + contentLength(len(smuggled(p))) + "\n\n" + smuggled(p)
	})
	add("one bare LF", func(p string) string { return rawHead("GET", p+"/lf", "X: a\nY: b") + next(p) })
	add("bare CR in a field", func(p string) string { return rawHead("GET", p+"/cr", "X: a\rb") + next(p) })
	add("bare CR ends the head", func(p string) string {
		return "GET " + p + "/cr HTTP/1.1\r\nHost: " + desyncHost + "\r\n\r" + next(p)
	})
	add("bare CR in the request line", func(p string) string {
		return "GET " + p + "/cr HTTP/1.1\rHost: " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("CRLF before the request line", func(p string) string { return "\r\n" + rawHead("GET", p+"/crlf") + next(p) })
	add("obs-fold in another field", func(p string) string { return rawHead("GET", p+"/fold", "X: a\r\n b") + next(p) })
	add("obs-fold of Host", func(p string) string {
		return "GET " + p + "/fold HTTP/1.1\r\nHost:\r\n " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("field without colon", func(p string) string { return rawHead("GET", p+"/nocolon", "X") + next(p) })
	add("NUL in a value", func(p string) string { return rawHead("GET", p+"/nul", "X: a\x00b") + next(p) })
	add("obs-text in a value", func(p string) string {
		return rawHead("POST", p+"/obs", "X: caf\xe9", contentLength(5)) + "hello" + next(p)
	})
	add("head over 8 KiB", func(p string) string {
		return rawHead("POST", p+"/big", "X-Pad: "+strings.Repeat("p", 9<<10), contentLength(5)) + "hello" + next(p)
	})
	add("double space in request line", func(p string) string {
		return "GET  " + p + "/sp HTTP/1.1\r\nHost: " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("tabs in request line", func(p string) string {
		return "GET\t" + p + "/tab\tHTTP/1.1\r\nHost: " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("lower-case method", func(p string) string { return rawHead("get", p+"/lower") + next(p) })
	add("HTTP/1.2", func(p string) string {
		return "GET " + p + "/v12 HTTP/1.2\r\nHost: " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("HTTP/0.9", func(p string) string { return "GET " + p + "/v09\r\n\r\n" + next(p) })
	add("HTTP/0.9 alone", func(p string) string { return "GET " + p + "/v09\r\n" })
	add("HTTP/1.0 TE chunked", func(p string) string {
		return "POST " + p + "/v10 HTTP/1.0\r\nHost: " + desyncHost + "\r\nTransfer-Encoding: chunked\r\n\r\n" + rawChunk(smuggled(p)) + "0\r\n\r\n"
	})
	add("HTTP/1.0 keep-alive TE chunked", func(p string) string {
		return "POST " + p + "/v10 HTTP/1.0\r\nHost: " + desyncHost + "\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
			rawChunk(smuggled(p)) + "0\r\n\r\n" + next(p)
	})
	add("HTTP/1.0 keep-alive CL.TE", func(p string) string {
		body := "0\r\n\r\n" + smuggled(p)
		return "POST " + p + "/v10 HTTP/1.0\r\nHost: " + desyncHost + "\r\nConnection: keep-alive\r\n" + contentLength(len(body)) +
			"\r\nTransfer-Encoding: chunked\r\n\r\n" + body
	})
	add("HTTP/1.0 then more", func(p string) string {
		return "GET " + p + "/v10 HTTP/1.0\r\nHost: " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("HTTP/1.0 keep-alive pipelined", func(p string) string {
		return "GET " + p + "/v10 HTTP/1.0\r\nHost: " + desyncHost + "\r\nConnection: keep-alive\r\n\r\n" + next(p)
	})
	add("absolute-form", func(p string) string { return rawHead("GET", "http://"+desyncHost+p+"/abs") + next(p) })
	add("absolute-form, another Host", func(p string) string {
		return "GET http://" + desyncHost + p + "/abs HTTP/1.1\r\nHost: other.default.localhost\r\n\r\n" + next(p)
	})
	add("absolute-form with a body", func(p string) string {
		return rawHead("POST", "http://"+desyncHost+p+"/abs", contentLength(len(smuggled(p)))) + smuggled(p)
	})

	// Hosts.
	host := func(h string) func(p string) string {
		return func(p string) string { return "GET " + p + "/host HTTP/1.1\r\n" + h + "\r\n" + next(p) }
	}
	add("missing Host", host(""))
	add("duplicate Host", host("Host: "+desyncHost+"\r\nHost: "+desyncHost+"\r\n"))
	add("duplicate Host, two names", host("Host: "+desyncHost+"\r\nHost: other.default.localhost\r\n"))
	add("empty Host", host("Host: \r\n"))
	add("Host with port", host("Host: "+desyncHost+":80\r\n"))
	add("Host upper case, trailing dot", host("HOST: "+strings.ToUpper(desyncHost)+".\r\n"))
	add("Host with control byte", host("Host: "+desyncHost+"\x01\r\n"))
	add("Host with space", host("Host: "+desyncHost+" evil\r\n"))
	add("Host with @", host("Host: evil@"+desyncHost+"\r\n"))
	add("Host with slash", host("Host: "+desyncHost+"/evil\r\n"))
	add("Host with 0x80", host("Host: "+desyncHost+"\x80\r\n"))

	// Expect.
	add("Expect: 100-continue with the body", func(p string) string {
		return rawHead("POST", p+"/expect", "Expect: 100-continue", contentLength(5)) + "hello" + next(p)
	})
	add("Expect: 100-continue, body a request", func(p string) string {
		return rawHead("POST", p+"/expect", "Expect: 100-continue", contentLength(len(smuggled(p)))) + smuggled(p)
	})
	add("Expect: 100-continue, chunked", func(p string) string {
		return rawHead("POST", p+"/expect", "Expect: 100-continue", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n" + next(p)
	})
	add("Expect: 100-continue without a body", func(p string) string { return rawHead("GET", p+"/expect", "Expect: 100-continue") + next(p) })
	add("Expect: unknown", func(p string) string {
		return rawHead("POST", p+"/expect", "Expect: x-wake", contentLength(5)) + "hello" + next(p)
	})

	// Pipelining, and requests in bodies.
	add("two GETs", func(p string) string { return rawHead("GET", p+"/first") + rawHead("GET", p+"/second") })
	add("five GETs", func(p string) string {
		var b strings.Builder
		for i := range 5 {
			b.WriteString(rawHead("GET", fmt.Sprintf("%s/p%d", p, i)))
		}
		return b.String()
	})
	add("GET, POST, GET", func(p string) string {
		return rawHead("GET", p+"/a") + rawHead("POST", p+"/b", contentLength(5)) + "hello" + next(p)
	})
	add("GET with a body", func(p string) string { return rawHead("GET", p+"/get", contentLength(5)) + "hello" + next(p) })
	add("GET with a request for body", func(p string) string { return rawHead("GET", p+"/get", contentLength(len(smuggled(p)))) + smuggled(p) })
	add("GET with an unframed request after", func(p string) string { return rawHead("GET", p+"/get") + smuggled(p) })
	add("body a request with a length", func(p string) string {
		inner := "POST " + p + "/hidden HTTP/1.1\r\nHost: " + desyncHost + "\r\n" + contentLength(5) + "\r\n\r\nhello"
		return rawHead("POST", p+"/innocent", contentLength(len(inner))) + inner
	})
	add("body a chunked request", func(p string) string {
		inner := "POST " + p + "/hidden HTTP/1.1\r\nHost: " + desyncHost + "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
		return rawHead("POST", p+"/innocent", contentLength(len(inner))) + inner
	})
	add("body an HTTP/1.0 request", func(p string) string {
		inner := "GET " + p + "/hidden HTTP/1.0\r\nHost: " + desyncHost + "\r\n\r\n"
		return rawHead("POST", p+"/innocent", contentLength(len(inner))) + inner
	})
	add("chunk a request with a length", func(p string) string {
		inner := "POST " + p + "/hidden HTTP/1.1\r\nHost: " + desyncHost + "\r\n" + contentLength(5) + "\r\n\r\nhello"
		return rawHead("POST", p+"/innocent", "Transfer-Encoding: chunked") + rawChunk(inner) + "0\r\n\r\n" + next(p)
	})
	add("chunks splitting a request", func(p string) string {
		h := smuggled(p)
		return rawHead("POST", p+"/innocent", "Transfer-Encoding: chunked") + rawChunk(h[:10]) + rawChunk(h[10:]) + "0\r\n\r\n" + next(p)
	})
	add("HEAD then GET", func(p string) string { return rawHead("HEAD", p+"/head") + rawHead("GET", p+"/after") })
	add("HEAD with a request for body", func(p string) string {
		return rawHead("HEAD", p+"/head", contentLength(len(smuggled(p)))) + smuggled(p)
	})
	add("Connection: close, then more", func(p string) string { return rawHead("GET", p+"/close", "Connection: close") + next(p) })
	add("body of 70000 bytes", func(p string) string {
		return rawHead("POST", p+"/large", contentLength(70000)) + strings.Repeat("b", 70000) + next(p)
	})
	add("chunked body of 70000 bytes", func(p string) string {
		return rawHead("POST", p+"/large", "Transfer-Encoding: chunked") + rawChunk(strings.Repeat("b", 70000)) + "0\r\n\r\n" + next(p)
	})

	// Forged forwarding fields.
	for _, f := range []struct{ name, fields string }{
		{"X-Forwarded-For", "X-Forwarded-For: 6.6.6.6"},
		{"two X-Forwarded-For", "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7"},
		{"X-Forwarded-For ending in a comma", "X-Forwarded-For: 6.6.6.6,"},
		{"X-Forwarded-Host", "X-Forwarded-Host: evil.example"},
		{"two X-Forwarded-Host", "X-Forwarded-Host: evil.example\r\nX-Forwarded-Host: evil2.example"},
		{"Forwarded", "Forwarded: for=6.6.6.6;host=evil.example;proto=https"},
		{"all of them", "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6"},
	} {
		add("forged "+f.name, func(p string) string { return rawHead("GET", p+"/fwd", f.fields) + next(p) })
	}
	return cs
}
