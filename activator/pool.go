package activator

import (
	"bufio"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wakefn/wake/h1"
	"github.com/wakefn/wake/sockio"
)

// The fast path keeps its own idle connections to each instance, as
// http.Transport does for the other path, but with no goroutine per
// connection: a connection is used by one request at a time, start to end.

const (
	// maxIdlePerEndpoint bounds the idle connections kept per instance.
	maxIdlePerEndpoint = 256
	// maxIdleTime is how long an idle connection is kept. Servers close
	// idle connections too (Node.js after 5s); a request that finds its
	// connection closed is retried on a new one when it can be.
	maxIdleTime = 30 * time.Second
	// dialTimeout bounds a connect over loopback to a ready instance.
	dialTimeout = 2 * time.Second
	// upstreamBuffer is the read and write buffer of a connection.
	upstreamBuffer = 16 << 10
)

// upstreamConn is one HTTP/1.1 connection to an instance.
type upstreamConn struct {
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	deadline  time.Time // the deadline set on nc
	fd        int       // nc's socket, to look at it while idle; -1 if none
	peek      [1]byte
}

func (c *upstreamConn) close() { c.nc.Close() }

// idleState is what an idle connection holds when it is taken again.
type idleState int

const (
	idleOpen   idleState = iota // nothing: it can take a request
	idleClosed                  // the instance closed it (FIN, or an error)
	idleData                    // bytes nobody asked for: a framing bug
)

// state looks at an idle connection without blocking and without reading:
// one system call, no allocation. It uses the socket directly, which is
// safe because the caller holds the connection: nothing else closes it
// meanwhile.
func (c *upstreamConn) state() idleState {
	if c.br.Buffered() > 0 {
		return idleData
	}
	if c.fd < 0 {
		return idleOpen // not a socket (tests): nothing to look at
	}
	return peekSocket(c.fd, c.peek[:])
}

// peekSocket says what waits unread on the socket fd, without blocking
// and without reading (buf takes the byte peeked at).
func peekSocket(fd int, buf []byte) idleState {
	n, err := sockio.Peek(fd, buf)
	switch {
	case err == syscall.EAGAIN:
		return idleOpen // nothing to read yet: the healthy case
	case err == 0 && n > 0:
		return idleData
	}
	return idleClosed // 0 bytes is the instance's FIN; any error, a broken connection
}

// socketFD returns nc's socket, or -1.
func socketFD(nc net.Conn) int {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	raw.Control(func(s uintptr) { fd = int(s) })
	return fd
}

// setDeadline bounds the exchange to come, unless the deadline already
// set is within h1.DeadlineSlack of t (see Exchange.SetReadDeadline).
func (c *upstreamConn) setDeadline(t time.Time) {
	if d := t.Sub(c.deadline); -h1.DeadlineSlack < d && d < h1.DeadlineSlack {
		return
	}
	c.deadline = t
	c.nc.SetDeadline(t)
}

// connPool holds an endpoint's idle connections. get and put are a
// non-blocking channel receive and send: no lock, no goroutine.
type connPool struct {
	addr     string
	instance string          // the endpoint's ID, for protocol errors
	protocol *protocolErrors // nil in tests that need none
	idle     chan *upstreamConn
	closed   atomic.Bool
}

func newConnPool(addr, instance string, protocol *protocolErrors) *connPool {
	return &connPool{addr: addr, instance: instance, protocol: protocol, idle: make(chan *upstreamConn, maxIdlePerEndpoint)}
}

var dialer = net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}

// get returns an idle connection (reused) or a new one. fresh skips the
// idle ones: after a reused connection turned out to be closed. An idle
// one is taken only if it is still open and holds nothing (a system call
// each, about a microsecond): bytes that arrived while it sat idle belong
// to no request, and would be read as the answer to this one.
func (p *connPool) get(fresh bool) (c *upstreamConn, reused bool, err error) {
	for !fresh {
		select {
		case c := <-p.idle:
			st := c.state()
			if st == idleOpen && time.Since(c.idleSince) < maxIdleTime {
				return c, true, nil
			}
			if st == idleData {
				p.report(extraBytes, "sent bytes on an idle connection, after its response had ended", nil)
			}
			c.close()
			continue
		default:
		}
		break
	}
	nc, err := dialer.Dial("tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	sock := sockio.New(nc)
	return &upstreamConn{
		nc: nc,
		fd: socketFD(nc),
		br: bufio.NewReaderSize(sock, upstreamBuffer),
		bw: bufio.NewWriterSize(sock, upstreamBuffer),
	}, false, nil
}

func (p *connPool) report(kind protocolKind, what string, got []byte) {
	if p.protocol != nil {
		p.protocol.report(kind, p.instance, what, got)
	}
}

// put keeps a connection that is ready for another request: its last
// response was framed exactly, and nothing more is buffered.
func (p *connPool) put(c *upstreamConn) {
	if n := c.br.Buffered(); n > 0 {
		extra, _ := c.br.Peek(n)
		p.report(extraBytes, "sent more than its response's framing allows", extra)
		c.close()
		return
	}
	if p.closed.Load() {
		c.close()
		return
	}
	c.idleSince = time.Now()
	select {
	case p.idle <- c:
	default:
		c.close()
		return
	}
	if p.closed.Load() { // closed while we put: do not leave it behind
		p.drain()
	}
}

// close closes the idle connections and every one put back later: the
// instance is going away.
func (p *connPool) close() {
	p.closed.Store(true)
	p.drain()
}

func (p *connPool) drain() {
	for {
		select {
		case c := <-p.idle:
			c.close()
		default:
			return
		}
	}
}
