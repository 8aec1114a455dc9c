package activator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wakefn/wake/h1"
)

// NewTransport returns the HTTP/1.1 transport wake uses towards instances:
// no proxy from the environment, no compression (bodies pass through as
// the function wrote them), enough idle connections per instance that a
// burst of concurrent requests reuses them instead of dialing, and no
// request started on a connection holding bytes nobody asked for
// (framedConn).
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         dialFramed(&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}),
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      16 << 10,
	}
}

// NewH2CTransport returns a transport that speaks cleartext HTTP/2 with
// prior knowledge, for functions that declare a port named h2c (gRPC).
func NewH2CTransport() *http.Transport {
	t := NewTransport()
	// HTTP/2 interleaves frames both ways on one connection: bytes waiting
	// as a write starts are the protocol working, not a framing bug.
	t.DialContext = (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	t.Protocols = &p
	return t
}

// forward is one request on its way to an instance. It is prepared once
// (hop-by-hop headers removed, X-Forwarded-* set) and may be sent to more
// than one instance when a connection is refused before any byte of the
// body was read.
type forward struct {
	in      *http.Request
	body    *replayGuard // nil when the request has no body
	upgrade bool         // a protocol upgrade (WebSocket): forwarded by httputil
}

// result is how a forward went.
type result struct {
	code     int       // status sent, or recorded for metrics
	headerAt time.Time // when the response header was written; zero if not
	refused  bool      // the instance refused the connection; nothing was sent
	abort    bool      // the response broke after its header was written
	// clientFault: the client's request was at fault (its body malformed
	// or late), and the instance never saw a whole request: counted in
	// wake_requests_total under its 4xx, left out of the revision's
	// outcomes, which rollouts judge.
	clientFault bool
	err         error
}

func newForward(r *http.Request) forward {
	f := forward{in: r}
	if r.Header.Get("Upgrade") != "" {
		f.upgrade = true
		return f
	}
	removeHopHeaders(r.Header)
	setForwardedHeaders(r)
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		f.body = &replayGuard{rc: r.Body}
	}
	// The inbound request becomes the outbound one: we own it, and this
	// saves copying its header map on every request.
	r.RequestURI = ""
	r.URL.Scheme = "http"
	r.Close = false
	return f
}

// httpExchange is a request that came through net/http.
type httpExchange struct {
	w   http.ResponseWriter
	r   *http.Request
	ctx context.Context // the request's, bounded by the revision's timeout
	f   forward
	rt  http.RoundTripper
}

func (x *httpExchange) wait(time.Time) (context.Context, func()) { return x.ctx, func() {} }

func (x *httpExchange) to(rv *revision, ep *endpoint) result {
	return x.f.to(x.ctx, x.w, rv, ep, x.rt)
}

func (x *httpExchange) fail(rv *revision, ep *endpoint, err error) result {
	return badGateway(x.w, rv, ep, err)
}

func (x *httpExchange) annotate(w wait) {
	h := x.w.Header()
	h["Server-Timing"] = []string{string(appendServerTiming(nil, w))}
	if w.cold {
		h["Wake-Cold-Start"] = coldTrue
	} else {
		delete(h, "Wake-Cold-Start")
	}
}

var coldTrue = []string{"true"}

func (x *httpExchange) refuse(rv *revision, err error) int {
	r := refusalFor(rv, err, x.r.Context().Err() != nil)
	if r.msg != "" {
		if r.retryAfter != "" {
			x.w.Header().Set("Retry-After", r.retryAfter)
		}
		writeError(x.w, r.code, r.msg)
	}
	return r.code
}

// to sends the request to ep and copies the response back to w.
func (f *forward) to(ctx context.Context, w http.ResponseWriter, rv *revision, ep *endpoint, rt http.RoundTripper) result {
	if f.upgrade {
		return f.upgradeTo(ctx, w, rv, ep, rt)
	}
	f.in.URL.Host = ep.Addr
	out := f.in.WithContext(ctx)
	if f.body != nil {
		out.Body = f.body
	} else {
		// A nil body lets the transport retry a request on a pooled
		// connection that turned out to be closed.
		out.Body = nil
	}
	res, err := rt.RoundTrip(out)
	if err != nil {
		return f.roundTripFailed(ctx, w, rv, ep, err)
	}
	defer res.Body.Close()

	h := w.Header()
	if len(h) == 0 {
		for k, vv := range res.Header {
			h[k] = vv
		}
	} else {
		// wake set some (a sticky cookie, Server-Timing): the function's
		// own fields of the same name join them, they do not replace them.
		for k, vv := range res.Header {
			h[k] = append(h[k], vv...)
		}
	}
	removeHopHeaders(h)
	announced := len(res.Trailer)
	if announced > 0 {
		names := make([]string, 0, announced)
		for k := range res.Trailer {
			names = append(names, k)
		}
		h["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(res.StatusCode)
	r := result{code: res.StatusCode, headerAt: time.Now()}

	if err := copyBody(w, res.Body, res.ContentLength == -1); err != nil {
		if f.in.Context().Err() != nil {
			r.code = statusClientClosed
		}
		r.err = fmt.Errorf("copying the response of %s: %w", ep.ID, err)
		r.abort = true
		return r
	}
	if len(res.Trailer) > 0 {
		// Trailers announced before the header was written are set under
		// their names; any that arrived unannounced (HTTP/2 allows it) need
		// the prefix that tells net/http they are trailers.
		prefix := ""
		if len(res.Trailer) != announced {
			prefix = http.TrailerPrefix
		}
		for k, vv := range res.Trailer {
			h[prefix+k] = vv
		}
	}
	return r
}

// readAhead reads a body of known length up to maxBufferedBody whole,
// within the bounds, before an instance is taken for it: a client that
// sends it slowly then holds no connection to an instance meanwhile (nor
// its file descriptor), and the transport may send it again on a pooled
// connection the instance closed. done gives the bytes back to the
// bounds. A body of unknown length (chunked, an HTTP/2 stream: gRPC
// streams both ways) is never waited for; it streams.
func (f *forward) readAhead(a *Activator, rv *revision) (done func(), err error) {
	n := f.in.ContentLength
	if f.body == nil || n <= 0 || !a.holdBody(rv, n) {
		return func() {}, nil
	}
	done = func() { a.releaseBody(rv, n) }
	buf := make([]byte, n)
	if _, err := io.ReadFull(f.body, buf); err != nil {
		if f.body.err == nil || f.body.err == io.ErrUnexpectedEOF {
			f.body.err = io.ErrUnexpectedEOF
		}
		return done, f.body.err
	}
	f.body = &replayGuard{rc: io.NopCloser(bytes.NewReader(buf))}
	f.in.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return done, nil
}

// roundTripFailed answers a request the instance did not answer.
func (f *forward) roundTripFailed(ctx context.Context, w http.ResponseWriter, rv *revision, ep *endpoint, err error) result {
	switch {
	case isRefused(err) && (f.body == nil || !f.body.read):
		return result{refused: true, err: err}
	case f.body != nil && f.body.err != nil:
		// The client's body failed first: its error, not the instance's.
		return f.bodyFailed(w, rv)
	case outOfFiles(err):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, outOfFilesMsg)
		return result{code: http.StatusServiceUnavailable, err: err}
	case f.in.Context().Err() != nil:
		return result{code: statusClientClosed, err: err}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, fmt.Sprintf(
			"wake: revision %s did not answer within its timeout of %v\n", rv.key.Name, rv.timeout))
		return result{code: http.StatusGatewayTimeout, err: err}
	default:
		return badGateway(w, rv, ep, err)
	}
}

// bodyFailed answers a request whose body could not be read (see
// bodyRefusal), as the fast path does. A client that left gets nothing;
// one that half-closed and waits must not read an empty 200 into it: the
// handler aborts.
func (f *forward) bodyFailed(w http.ResponseWriter, rv *revision) result {
	r := bodyRefusal(rv, f.body.err)
	res := result{code: r.code, clientFault: true, err: f.body.err}
	if r.msg == "" {
		res.abort = true
		return res
	}
	if f.in.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
	writeError(w, r.code, r.msg)
	return res
}

func badGateway(w http.ResponseWriter, rv *revision, ep *endpoint, err error) result {
	writeError(w, http.StatusBadGateway, fmt.Sprintf(
		"wake: instance %s of revision %s closed the connection before answering (it may have died): %v\n",
		ep.ID, rv.key.Name, unwrapURLError(err)))
	return result{code: http.StatusBadGateway, err: err}
}

// upgradeTo forwards a protocol upgrade through httputil.ReverseProxy,
// which knows how to splice the two connections. Upgrades are rare and
// long-lived, so its extra cost does not matter here.
func (f *forward) upgradeTo(ctx context.Context, w http.ResponseWriter, rv *revision, ep *endpoint, rt http.RoundTripper) result {
	res := result{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = ep.Addr
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: rt,
		ModifyResponse: func(r *http.Response) error {
			res.code, res.headerAt = r.StatusCode, time.Now()
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			res = f.roundTripFailed(ctx, w, rv, ep, err)
		},
	}
	rp.ServeHTTP(w, f.in.WithContext(ctx))
	return res
}

// replayGuard wraps a request body so that a refused connection can be
// retried elsewhere: it records whether any byte was read, and the error
// reading it (the client's fault, unlike the transport's own errors), and
// leaves closing to the server, which owns the inbound body.
type replayGuard struct {
	rc   io.ReadCloser
	read bool
	err  error
}

func (g *replayGuard) Read(p []byte) (int, error) {
	g.read = true
	n, err := g.rc.Read(p)
	if err != nil && err != io.EOF {
		g.err = err
	}
	return n, err
}

func (g *replayGuard) Close() error { return nil }

// outOfFiles tells a dial that failed because wake has no file descriptor
// left: wake's overload, answered 503 with Retry-After, not the instance's
// failure.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

const outOfFilesMsg = "wake: no file descriptor is left to reach the instance (too many connections are open); retry later\n"

// isRefused tells a connection refused: nothing listens on the instance's
// port any more, so it died or is stopping. Other dial errors (a timeout,
// wake out of file descriptors) say nothing about the instance.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

func unwrapURLError(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		var op *net.OpError
		if errors.As(err, &op) {
			return op.Err
		}
		err = u
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody streams src to w. A streamed response (no Content-Length) is
// flushed after every read, so server-sent events and chunked streams
// reach the client as the function writes them.
func copyBody(w http.ResponseWriter, src io.Reader, stream bool) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var rc *http.ResponseController
	if stream {
		rc = http.NewResponseController(w)
	}
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if rc != nil {
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// hopHeaders apply to one connection and are never forwarded (RFC 9110
// section 7.6.1), nor are headers named in Connection, except those that
// frame or route a message.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

var teTrailers = []string{"trailers"}

func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			switch name = http.CanonicalHeaderKey(strings.TrimSpace(name)); name {
			case "", "Content-Length", "Transfer-Encoding", "Host":
			default:
				delete(h, name)
			}
		}
	}
	// gRPC needs "TE: trailers" to reach the server; any other TE is hop-by-hop.
	keepTE := false
	for _, v := range h["Te"] {
		if strings.EqualFold(strings.TrimSpace(v), "trailers") {
			keepTE = true
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
	if keepTE {
		h["Te"] = teTrailers
	}
}

var (
	protoHTTP = []string{"http"}
	noAgent   = []string{""}
)

// setForwardedHeaders appends the client's address to X-Forwarded-For and
// sets X-Forwarded-Proto and X-Forwarded-Host (the host wake routed by,
// whatever the client sent), as a reverse proxy should.
func setForwardedHeaders(r *http.Request) {
	h := r.Header
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		h["Forwarded"] = append(h["Forwarded"], string(h1.AppendForwarded(nil, ip, r.Host)))
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	}
	h["X-Forwarded-Host"] = []string{r.Host}
	h["X-Forwarded-Proto"] = protoHTTP
	// Without a User-Agent of its own, the request must not get Go's.
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noAgent
	}
}
