package activator

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// The net/http path's idle connections are http.Transport's. Its reader
// goroutine closes one that receives bytes while idle ("unsolicited
// response"), but only once it runs: when an instance sends more than
// its response's framing allowed a moment after the response, and the
// next request takes the connection before that goroutine has looked,
// the stray bytes would be read as the next client's response. So every
// connection it dials is a staleCheckConn, which looks at its socket as a
// new request starts on it, and refuses to start one while the instance
// has sent bytes no request asked for.

// errStaleBytes is the write error of a request that found bytes waiting
// on its pooled connection. Nothing of the request was written, so the
// transport sends it again on a new connection.
var errStaleBytes = errors.New("activator: the instance sent bytes no request asked for on an idle connection")

// staleCheckConn is an upstream connection of the net/http path.
type staleCheckConn struct {
	net.Conn
	raw syscall.RawConn // nil when not a socket
	// readSinceWrite: a response was read since the last write, so the
	// next write starts a new request. Reads and writes run on the
	// transport's two goroutines.
	readSinceWrite atomic.Bool
}

// dialChecked dials with d and wraps the connection.
func dialChecked(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		sc := &staleCheckConn{Conn: c}
		if s, ok := c.(syscall.Conn); ok {
			sc.raw, _ = s.SyscallConn()
		}
		return sc, nil
	}
}

func (c *staleCheckConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.readSinceWrite.Store(true)
	}
	return n, err
}

func (c *staleCheckConn) Write(p []byte) (int, error) {
	if c.readSinceWrite.Swap(false) && c.stale() {
		c.Conn.Close()
		return 0, errStaleBytes
	}
	return c.Conn.Write(p)
}

// stale tells whether bytes wait unread on the socket: it peeks, without
// blocking or consuming. Control holds the socket open meanwhile, so a
// concurrent close cannot hand its number to another connection.
func (c *staleCheckConn) stale() bool {
	if c.raw == nil {
		return false
	}
	var buf [1]byte
	waiting := false
	_ = c.raw.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		waiting = err == nil && n > 0
	})
	return waiting
}
