package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The oracle: what net/http makes of the client's bytes, what the client
// got, what the instance recorded, and the verdict.

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
