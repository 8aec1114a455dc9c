package e2e

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
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
	// No budget of its own (a wall-clock bound fails on a loaded machine):
	// only the test binary's deadline, with time left to report.
	end := time.Now().Add(time.Hour)
	if d, ok := t.Deadline(); ok {
		end = d.Add(-30 * time.Second)
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
