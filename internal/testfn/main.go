// Command testfn is the function wake's tests deploy. Its behaviour is set
// by environment variables, so one binary plays every part a test needs:
//
//	TESTFN_START_DELAY   duration to sleep before listening (slow start)
//	TESTFN_EXIT_AT_START exit with this code instead of listening (crash loop)
//	TESTFN_H2C           "1": serve cleartext HTTP/2 as well as HTTP/1.1
//	TESTFN_IGNORE_TERM   "1": ignore SIGTERM (tests the kill after grace)
//	TESTFN_SPAWN_CHILD   "1": start a child `sleep` (tests process groups);
//	                     "self": start a copy of testfn with the same
//	                     arguments plus "child", which only sleeps, so that
//	                     the child carries the instance's marker argument;
//	                     "setsid": the same copy in a session of its own,
//	                     as a daemon escaping its process group would be
//	TESTFN_HOST          the address to listen on (default 127.0.0.1; an
//	                     image sets 0.0.0.0)
//	TESTFN_PORT          the port to listen on, ignoring PORT (an image that
//	                     hard-codes its port)
//	TESTFN_LOG_REQUESTS  "1": print "testfn: request METHOD PATH id=ID" as
//	                     each request arrives, ID being its X-Chaos-Id
//	TESTFN_READY_PATH    path that answers 503 until TESTFN_READY_AFTER passes
//	TESTFN_READY_AFTER   duration after listening before READY_PATH is 200
//	TESTFN_EVENTS_FILE   file to which each CloudEvent accepted (a request
//	                     with a Ce-Id header) appends "ce-id\n", with one
//	                     write, so that instances can share the file
//	TESTFN_FAIL_PERCENT  answer this percentage of CloudEvents (at random)
//	                     with 500, without recording them
//	TESTFN_FAIL_PATH     path that always answers 500 (a failing warm-up)
//	TESTFN_ERROR_PERCENT answer this percentage of requests to / (at
//	                     random) with 500: a broken canary
//	TESTFN_WORK          duration every request takes to handle (the
//	                     readiness path and FAIL_PATH excepted); default 0,
//	                     or 5ms when TESTFN_JIT_REQUESTS is set
//	TESTFN_JIT_REQUESTS  the first N requests this process serves (warm-up
//	                     requests included) take TESTFN_JIT_SLOWDOWN times
//	                     TESTFN_WORK, as code not compiled yet would; every
//	                     response then says X-Testfn-Slow: true or false
//	TESTFN_JIT_SLOWDOWN  the factor of the slow requests (default 10)
//	TESTFN_RECORD_FILE   file to which every request (any path) appends one
//	                     JSON line, with one write, so that instances can
//	                     share the file: method, request URI, protocol,
//	                     Host, the header fields, Content-Length and
//	                     Transfer-Encoding as net/http framed the body, the
//	                     body (read whole, base64) and the error that ended
//	                     it. Every request is then answered 200 with
//	                     X-Recorded: <request URI> and "rec <request URI>\n"
//	                     instead of the routes below. A request net/http
//	                     refuses before any handler runs (a 400 for a
//	                     missing Host, say) is recorded too, as the status
//	                     it got and the bytes the connection had read
//	                     since its last response. The request-smuggling
//	                     tests tell by these which requests reached the
//	                     instance, and which response answered which
//
// Every response carries X-Testfn-Inflight (requests this instance held
// when it took this one) and X-Testfn-Pid. Routes:
//
//	/            "<K_REVISION> <greeting>" where greeting is $GREETING
//	/sleep?ms=N  waits N ms, then answers like /
//	/inflight    the most requests this instance ever held at once
//	/proto       the request's protocol, e.g. HTTP/2.0
//	/env?k=NAME  the value of an environment variable
//	/envnames    the names of every environment variable, sorted, one a line
//	/header?k=H  the value of request header H
//	/exit?code=N exits the process at once (a crash mid-load)
//	/trailer     answers with a trailer X-Testfn-Trailer: done
//	/echo        copies the request body back
//	/hog?mb=N    allocates and touches N MiB, then answers (a memory hog)
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	log.SetFlags(0)
	log.SetPrefix("testfn: ")
	if len(os.Args) > 1 && os.Args[len(os.Args)-1] == childArg {
		for {
			time.Sleep(time.Hour) // a spawned child: it only has to exist
		}
	}
	if s := os.Getenv("TESTFN_EXIT_AT_START"); s != "" {
		code, _ := strconv.Atoi(s)
		fmt.Fprintln(os.Stderr, "testfn: exiting at start as asked")
		os.Exit(code)
	}
	if os.Getenv("TESTFN_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	if spawn := os.Getenv("TESTFN_SPAWN_CHILD"); spawn == "1" || spawn == "self" || spawn == "setsid" {
		child := exec.Command("sleep", "1000")
		if spawn != "1" {
			child = exec.Command(os.Args[0], append(os.Args[1:], childArg)...)
		}
		if spawn == "setsid" {
			child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		}
		if err := child.Start(); err != nil {
			return err
		}
		fmt.Printf("testfn: child pid %d\n", child.Process.Pid)
	}
	if d, err := time.ParseDuration(os.Getenv("TESTFN_START_DELAY")); err == nil {
		time.Sleep(d)
	}
	port := os.Getenv("PORT")
	if p := os.Getenv("TESTFN_PORT"); p != "" {
		port = p
	}
	if port == "" {
		port = "8080"
	}
	host := os.Getenv("TESTFN_HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return err
	}
	fmt.Printf("testfn: %s listening on %s\n", os.Getenv("K_REVISION"), ln.Addr())

	h := &handler{listening: time.Now(), logRequests: os.Getenv("TESTFN_LOG_REQUESTS") == "1"}
	h.readyAfter, _ = time.ParseDuration(os.Getenv("TESTFN_READY_AFTER"))
	h.failPercent, _ = strconv.Atoi(os.Getenv("TESTFN_FAIL_PERCENT"))
	h.failPath = os.Getenv("TESTFN_FAIL_PATH")
	h.errorPercent, _ = strconv.Atoi(os.Getenv("TESTFN_ERROR_PERCENT"))
	h.work, _ = time.ParseDuration(os.Getenv("TESTFN_WORK"))
	if n, err := strconv.ParseInt(os.Getenv("TESTFN_JIT_REQUESTS"), 10, 64); err == nil && n > 0 {
		h.jitRequests, h.jitSlowdown = n, 10
		if f, err := strconv.ParseFloat(os.Getenv("TESTFN_JIT_SLOWDOWN"), 64); err == nil && f > 0 {
			h.jitSlowdown = f
		}
		if h.work == 0 {
			h.work = 5 * time.Millisecond
		}
	}
	if p := os.Getenv("TESTFN_EVENTS_FILE"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		h.events = f
	}
	if p := os.Getenv("TESTFN_RECORD_FILE"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		h.records = f
	}
	srv := &http.Server{Handler: h}
	if h.records != nil {
		ln = recordingListener{Listener: ln, h: h}
	}
	if os.Getenv("TESTFN_H2C") == "1" {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		srv.Protocols = &p
	}
	return srv.Serve(ln)
}

// event takes a CloudEvent: it fails TESTFN_FAIL_PERCENT of them, and
// records the others' ids.
func (h *handler) event(w http.ResponseWriter, r *http.Request, id string) {
	io.Copy(io.Discard, r.Body)
	if h.failPercent > 0 && rand.IntN(100) < h.failPercent {
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	if h.events != nil {
		if _, err := h.events.Write([]byte(id + "\n")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

// Record is one request as TESTFN_RECORD_FILE keeps it.
type Record struct {
	Method     string      `json:"method,omitempty"`
	RequestURI string      `json:"uri,omitempty"`
	Proto      string      `json:"proto,omitempty"`
	Host       string      `json:"host,omitempty"` // r.Host
	Header     http.Header `json:"header,omitempty"`
	// ContentLength and TransferEncoding are how net/http framed the
	// body; it takes both fields out of Header when the body is chunked.
	ContentLength    int64    `json:"contentLength,omitempty"`
	TransferEncoding []string `json:"transferEncoding,omitempty"`
	Body             []byte   `json:"body,omitempty"`    // base64 in the JSON
	BodyErr          string   `json:"bodyErr,omitempty"` // "" when the body ended cleanly
	// Refused is the status net/http answered a request it refused before
	// any handler ran ("400 Bad Request: missing required Host header"),
	// and Received the bytes the connection read since its last response
	// (up to 64 KiB); the fields above are empty then.
	Refused    string `json:"refused,omitempty"`
	Received   []byte `json:"received,omitempty"`
	RemoteAddr string `json:"remoteAddr"`
	Pid        int    `json:"pid"`
}

// record appends the request to TESTFN_RECORD_FILE and answers with its
// request URI.
func (h *handler) record(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	rec := Record{Method: r.Method, RequestURI: r.RequestURI, Proto: r.Proto, Host: r.Host, Header: r.Header,
		ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding, Body: body, RemoteAddr: r.RemoteAddr}
	if err != nil {
		rec.BodyErr = err.Error()
	}
	if err := h.writeRecord(rec); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("X-Recorded", r.RequestURI)
	fmt.Fprintf(w, "rec %s\n", r.RequestURI)
}

// writeRecord appends rec as one line, with one write: instances share
// the file, and O_APPEND keeps each write whole.
func (h *handler) writeRecord(rec Record) error {
	rec.Pid = os.Getpid()
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = h.records.Write(append(line, '\n'))
	return err
}

// recordingListener hands out connections that record the requests
// net/http refuses itself: those never reach a handler.
type recordingListener struct {
	net.Listener
	h *handler
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, h: l.h}, nil
}

// maxReceived bounds the bytes a connection keeps for a refusal's record.
const maxReceived = 64 << 10

type recordingConn struct {
	net.Conn
	h        *handler
	mu       sync.Mutex
	received []byte // read since the last write
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if k := min(n, maxReceived-len(c.received)); k > 0 {
		c.received = append(c.received, p[:k]...)
	}
	c.mu.Unlock()
	return n, err
}

// Write passes p on. A response that is not an interim one and carries no
// X-Recorded was written by net/http itself: a refusal, recorded.
func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	received := c.received
	c.received = nil
	c.mu.Unlock()
	if status, ok := refusal(p); ok {
		if err := c.h.writeRecord(Record{Refused: status, Received: received, RemoteAddr: c.RemoteAddr().String()}); err != nil {
			log.Printf("recording a refusal: %v", err)
		}
	}
	return c.Conn.Write(p)
}

// refusal returns the status of a response head net/http wrote without a
// handler: one with no X-Recorded field, and not 1xx.
func refusal(p []byte) (string, bool) {
	line, _, _ := bytes.Cut(p, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.")) || len(line) < len("HTTP/1.1 200") || line[9] == '1' ||
		bytes.Contains(p, []byte("\r\nX-Recorded: ")) {
		return "", false
	}
	return string(line[9:]), true
}

// childArg ends the arguments of a child started by TESTFN_SPAWN_CHILD=self.
const childArg = "child"

type handler struct {
	listening   time.Time
	readyAfter  time.Duration
	logRequests bool
	events      *os.File // nil: CloudEvents are not recorded
	records     *os.File // nil: requests are not recorded
	failPercent int
	// errorPercent of the requests to / are answered with 500.
	errorPercent int
	failPath     string
	work         time.Duration // each request's handling time
	jitRequests  int64         // the first this many requests are slow
	jitSlowdown  float64

	served   atomic.Int64 // requests that did the work, slow or not
	inflight atomic.Int64
	mu       sync.Mutex
	max      int64
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.records != nil {
		h.record(w, r)
		return
	}
	if h.logRequests {
		fmt.Printf("testfn: request %s %s id=%s\n", r.Method, r.URL.Path, r.Header.Get("X-Chaos-Id"))
	}
	n := h.inflight.Add(1)
	defer h.inflight.Add(-1)
	h.mu.Lock()
	h.max = max(h.max, n)
	h.mu.Unlock()
	w.Header().Set("X-Testfn-Inflight", strconv.FormatInt(n, 10))
	w.Header().Set("X-Testfn-Pid", strconv.Itoa(os.Getpid()))

	if p := os.Getenv("TESTFN_READY_PATH"); p != "" && r.URL.Path == p {
		if time.Since(h.listening) < h.readyAfter {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
		return
	}
	if h.failPath != "" && r.URL.Path == h.failPath {
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	if !h.doWork(w, r) {
		return
	}
	if id := r.Header.Get("Ce-Id"); id != "" && (h.events != nil || h.failPercent > 0) {
		h.event(w, r, id)
		return
	}
	switch r.URL.Path {
	case "/sleep":
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	case "/inflight":
		h.mu.Lock()
		defer h.mu.Unlock()
		fmt.Fprintln(w, h.max)
		return
	case "/proto":
		fmt.Fprintln(w, r.Proto)
		return
	case "/env":
		fmt.Fprintln(w, os.Getenv(r.URL.Query().Get("k")))
		return
	case "/envnames":
		var names []string
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			names = append(names, name)
		}
		slices.Sort(names)
		fmt.Fprintln(w, strings.Join(names, "\n"))
		return
	case "/header":
		fmt.Fprintln(w, r.Header.Get(r.URL.Query().Get("k")))
		return
	case "/exit":
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		os.Exit(code)
	case "/trailer":
		w.Header().Set("Trailer", "X-Testfn-Trailer")
		fmt.Fprintln(w, "body")
		w.Header().Set("X-Testfn-Trailer", "done")
		return
	case "/echo":
		io.Copy(w, r.Body)
		return
	case "/hog":
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		hog := make([][]byte, 0, mb)
		for range mb {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			hog = append(hog, b)
		}
		fmt.Fprintf(w, "held %d MiB\n", len(hog))
		return
	}
	if h.errorPercent > 0 && rand.IntN(100) < h.errorPercent {
		http.Error(w, os.Getenv("K_REVISION")+" failed on purpose", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%s %s\n", os.Getenv("K_REVISION"), os.Getenv("GREETING"))
}

// doWork takes the request's handling time: TESTFN_WORK, or
// TESTFN_JIT_SLOWDOWN times it for the first TESTFN_JIT_REQUESTS
// requests. It returns false when the client went away meanwhile.
func (h *handler) doWork(w http.ResponseWriter, r *http.Request) bool {
	if h.work <= 0 {
		return true
	}
	d := h.work
	if h.jitRequests > 0 {
		slow := h.served.Add(1) <= h.jitRequests
		if slow {
			d = time.Duration(float64(d) * h.jitSlowdown)
		}
		w.Header().Set("X-Testfn-Slow", strconv.FormatBool(slow))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
