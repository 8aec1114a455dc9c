package activator

import (
	"bufio"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wakefn/wake/h1"
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
}

func (c *upstreamConn) close() { c.nc.Close() }

// open reports whether an idle connection can take a request: the
// instance has not closed it, and has sent nothing unasked. It peeks
// without blocking and reads nothing.
func (c *upstreamConn) open() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read yet is the healthy case; 0 bytes is the
		// instance's FIN, data or any other error a broken exchange.
		alive = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true // one look, never wait
	})
	return err == nil && alive
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
	addr   string
	idle   chan *upstreamConn
	closed atomic.Bool
}

func newConnPool(addr string) *connPool {
	return &connPool{addr: addr, idle: make(chan *upstreamConn, maxIdlePerEndpoint)}
}

var dialer = net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}

// get returns an idle connection (reused) or a new one. fresh skips the
// idle ones: after a reused connection turned out to be closed. check
// takes an idle one only if it is still open (a system call each).
func (p *connPool) get(fresh, check bool) (c *upstreamConn, reused bool, err error) {
	for !fresh {
		select {
		case c := <-p.idle:
			if time.Since(c.idleSince) < maxIdleTime && (!check || c.open()) {
				return c, true, nil
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
	return &upstreamConn{
		nc: nc,
		br: bufio.NewReaderSize(nc, upstreamBuffer),
		bw: bufio.NewWriterSize(nc, upstreamBuffer),
	}, false, nil
}

// put keeps a connection that is ready for another request.
func (p *connPool) put(c *upstreamConn) {
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
