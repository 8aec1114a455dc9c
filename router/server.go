package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/h1"
	"github.com/wakefn/wake/sockio"
)

// FastHandler serves a routed HTTP/1.1 request on the fast path: the
// activator. It must leave the exchange ready for the next request, or
// mark it Broken. It returns false, having consumed nothing, to have the
// connection served by net/http instead.
type FastHandler interface {
	ServeH1(ex *h1.Exchange, fn api.FunctionKey, rev api.RevisionKey) bool
}

// ServerOptions configure a Server.
type ServerOptions struct {
	// Router routes every request. Required.
	Router *Router
	// Fast serves HTTP/1.1 requests the fast path can take. nil sends every
	// connection through net/http.
	Fast FastHandler
	// ReadHeaderTimeout bounds the reading of a request head; 0 means 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection; 0 means 120s.
	IdleTimeout time.Duration
	// ErrorLog receives net/http's complaints; nil means the log package.
	ErrorLog *log.Logger
	// MaxConns bounds the connections open at once, whichever path serves
	// them. A connection past it is answered 503 with Retry-After at once
	// and closed, so that a flood runs out of this bound before the
	// process runs out of file descriptors (which instances, the store and
	// the admin API need too). 0 means no bound.
	MaxConns int
}

// The fast path's per-connection buffers. Every open connection holds
// them, idle or waiting in a queue, so they are what a flood of
// connections costs. A request head must fit the read buffer to be parsed
// in place (8 KiB, nginx's and Apache's usual limit per header line); a
// larger one goes to net/http, which allows up to 1 MiB. The write buffer
// takes response heads: bodies larger than it are written through.
const (
	ReadBufferSize  = 8 << 10
	WriteBufferSize = 4 << 10
)

// Server is the data plane's listener. Each connection starts on the fast
// path: HTTP/1.1 requests are parsed in place and handed to the activator
// with no net/http machinery in between. The first request the fast path
// does not take (HTTP/2 with prior knowledge, HTTP/1.0, an upgrade,
// Expect, a head over 8 KiB) hands the connection, bytes already read
// included, to a net/http server for the rest of its life, behind a
// guardConn that checks every later request head the way the fast path
// does. A malformed or ambiguous request is refused on either path with
// h1's 4xx, and the connection closed.
type Server struct {
	router   *Router
	fast     FastHandler
	opts     ServerOptions
	fallback *http.Server
	handoff  *connQueue

	mu      sync.Mutex
	conns   map[*conn]struct{} // every open connection, for MaxConns and Close
	closing atomic.Bool
	// active counts the requests being served on the fast path; procs is
	// GOMAXPROCS. More active than procs means some wait to run: see
	// h1.Exchange.Crowded.
	active   atomic.Int32
	procs    int32
	listener net.Listener
	done     sync.WaitGroup // connections the fast path is serving
}

// NewServer returns a Server; Serve starts it.
func NewServer(opts ServerOptions) *Server {
	if opts.ReadHeaderTimeout == 0 {
		opts.ReadHeaderTimeout = 10 * time.Second
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 120 * time.Second
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &Server{
		router: opts.Router,
		fast:   opts.Fast,
		opts:   opts,
		fallback: &http.Server{
			Handler:           opts.Router,
			Protocols:         &p,
			ReadHeaderTimeout: opts.ReadHeaderTimeout,
			IdleTimeout:       opts.IdleTimeout,
			MaxHeaderBytes:    maxGuardHead,
			ErrorLog:          opts.ErrorLog,
			ConnState:         connState,
		},
		handoff: newConnQueue(),
		conns:   map[*conn]struct{}{},
		procs:   int32(runtime.GOMAXPROCS(0)),
	}
}

// Serve accepts connections on ln until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.listener = ln
	s.mu.Unlock()
	go s.fallback.Serve(s.handoff)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			if !temporary(err) {
				return err
			}
			// Out of file descriptors or memory, or a connection reset
			// before it was accepted: the listener is fine. Wait for some
			// connections to close instead of stopping the data plane.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logf("wake: accept: %v; retrying in %v", err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c, full := s.track(nc)
		if full {
			go refuseConn(nc)
			continue
		}
		if c == nil {
			nc.Close()
			continue
		}
		go s.serveConn(c)
	}
}

// temporary reports whether an accept error leaves the listener usable.
func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.ErrorLog != nil {
		s.opts.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// conn is a client connection, counted from its accept until it closes.
type conn struct {
	nc   net.Conn
	idle atomic.Bool // on the fast path, waiting for a request: Shutdown may close it
}

// track counts a new connection in; nil when the server is closing, and
// full when MaxConns are open already.
func (s *Server) track(nc net.Conn) (c *conn, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil, false
	}
	if s.opts.MaxConns > 0 && len(s.conns) >= s.opts.MaxConns {
		return nil, true
	}
	c = &conn{nc: nc}
	s.conns[c] = struct{}{}
	s.done.Add(1)
	return c, false
}

// tooManyConns answers a connection over MaxConns. Nothing of its request
// is read: the answer fits one write, and the client learns to retry.
const tooManyConns = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 1\r\nConnection: close\r\nContent-Length: 49\r\n\r\n" +
	"wake: too many connections are open; retry later\n"

// refuseConn answers 503 and closes.
func refuseConn(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(nc, tooManyConns); err != nil {
		nc.Close()
		return
	}
	lingerClose(nc)
}

// lingerClose closes a connection whose client may still be sending
// (a request refused, a body left unread), after linger.
func lingerClose(nc net.Conn) {
	linger(nc)
	nc.Close()
}

// linger half-closes a connection and reads what comes for a second at
// most, 64 KiB at most. Closing with bytes unread would reset the
// connection, and the client would see a reset instead of the answer.
func linger(nc net.Conn) {
	if tc, ok := nc.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	nc.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
}

// forget counts a connection out: it is closed.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

var bufPool = sync.Pool{New: func() any {
	return &connBufs{r: bufio.NewReaderSize(nil, ReadBufferSize), w: bufio.NewWriterSize(nil, WriteBufferSize)}
}}

type connBufs struct {
	r *bufio.Reader
	w *bufio.Writer
}

// serveConn reads requests off one connection until it closes, breaks,
// or needs net/http.
func (s *Server) serveConn(c *conn) {
	defer s.done.Done()
	bufs := bufPool.Get().(*connBufs)
	sock := sockio.New(c.nc)
	bufs.r.Reset(sock)
	if s.fast == nil {
		s.handOff(c, bufs.r)
		return
	}
	bufs.w.Reset(sock)
	ex := &h1.Exchange{In: bufs.r, Out: bufs.w, Conn: c.nc, ClientIP: clientIP(c.nc)}
	handedOff, linger := false, false
	counted := false // in s.active
	defer func() {
		if counted {
			s.active.Add(-1)
		}
		if handedOff {
			bufs.w.Reset(nil)
			return // the guard keeps the reader
		}
		if linger && !s.closing.Load() {
			lingerClose(c.nc)
		} else {
			c.nc.Close()
		}
		s.forget(c)
		bufs.r.Reset(nil)
		bufs.w.Reset(nil)
		bufPool.Put(bufs)
	}()
	for {
		c.idle.Store(true)
		if s.closing.Load() {
			return
		}
		ex.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		if _, err := bufs.r.Peek(1); err != nil {
			return
		}
		c.idle.Store(false)
		s.active.Add(1)
		counted = true
		head, err := h1.BufferedHead(bufs.r), error(nil)
		if head == nil {
			// The head came in pieces: the rest must not take long.
			ex.SetReadDeadline(time.Now().Add(s.opts.ReadHeaderTimeout))
			head, err = h1.ReadHead(bufs.r)
		}
		if err == nil {
			err = ex.Req.Parse(head)
		}
		var refusal *h1.RequestError
		switch {
		case err == nil:
		case errors.As(err, &refusal):
			bufs.w.Write(h1.AppendRefusal(bufs.w.AvailableBuffer(), refusal))
			bufs.w.Flush()
			linger = true
			return
		case errors.Is(err, h1.ErrUnsupported), errors.Is(err, h1.ErrHeadTooLarge):
			// net/http takes the connection from here, these bytes included.
			ex.SetReadDeadline(time.Time{})
			handedOff = s.handOff(c, bufs.r)
			return
		default:
			return // cut off, or too slow: nothing to answer
		}
		ex.Reset(time.Now())
		ex.Crowded = s.active.Load() > s.procs
		if p, ok := s.router.ResolveH1(&ex.Req); ok {
			if p.SetCookie != "" {
				ex.AddHeader("Set-Cookie", p.SetCookie)
			}
			if !s.fast.ServeH1(ex, p.Function, p.Revision) {
				ex.SetReadDeadline(time.Time{})
				handedOff = s.handOff(c, bufs.r)
				return
			}
		} else {
			ex.WriteError(http.StatusNotFound, fmt.Sprintf("wake: no function serves host %q\n", ex.Req.Host), "")
		}
		ex.Finish()
		if err := bufs.w.Flush(); err != nil || ex.Broken || ex.Req.Close {
			linger = ex.Broken && err == nil
			return
		}
		counted = false
		if s.active.Add(-1) >= s.procs {
			// Other connections are being served, some likely ready to
			// run: serving them first gives this client time to send its
			// next request, which the Peek then finds without failing and
			// parking. Idle, there is nothing to yield to, and yielding
			// would only wake an idle thread to look.
			runtime.Gosched()
		}
	}
}

// handOff gives the connection to net/http, behind a guard that checks
// every request head it reads from br. The connection stays counted until
// it closes. It reports false, having closed it, when the server is
// closing.
func (s *Server) handOff(c *conn, br *bufio.Reader) bool {
	g := newGuardConn(c.nc, br, s.opts.ReadHeaderTimeout, func() { s.forget(c) })
	if !s.handoff.push(g) {
		g.Close()
		return false
	}
	return true
}

func clientIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

// Shutdown stops accepting, closes idle connections, and waits for
// requests in flight to finish, or ctx to end; net/http's connections are
// shut down the same way.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	if s.listener != nil {
		s.listener.Close()
	}
	s.mu.Unlock()
	fallbackDone := make(chan error, 1)
	go func() { fallbackDone <- s.fallback.Shutdown(ctx) }()
	waited := make(chan struct{})
	go func() { s.done.Wait(); close(waited) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-waited:
			return <-fallbackDone
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// closeIdle wakes connections waiting for their next request; they see
// the server closing and end.
func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.idle.Load() {
			c.nc.SetReadDeadline(time.Now())
		}
	}
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	if s.listener != nil {
		s.listener.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	return s.fallback.Close()
}

// connQueue is a net.Listener fed with connections handed over by the fast
// path.
type connQueue struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.conns <- c:
		return true
	case <-q.closed:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "fast-path-handoff" }
