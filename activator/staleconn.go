package activator

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"syscall"

	"github.com/wakefn/wake/h1"
)

// The net/http path's idle connections are http.Transport's. Its reader
// goroutine closes a connection that holds bytes past the end of the
// response ("unsolicited response"), but only once it runs again: the
// connection is back in the pool before that, and when the next request
// takes it first, the stray bytes are read as that request's response.
// So every HTTP/1.1 connection it dials is a framedConn, which follows
// where each response ends (framing) and refuses to start a request on a
// connection whose instance sent more than its response's framing
// allowed, or sends it later, while idle. The request then goes out again
// on a new connection: nothing of it was written.

// errStaleBytes is the write error of a request that found bytes nobody
// asked for on its pooled connection.
var errStaleBytes = errors.New("activator: the instance sent bytes no request asked for")

// framedConn is an upstream connection of the net/http path.
type framedConn struct {
	net.Conn
	raw syscall.RawConn // nil when not a socket

	mu sync.Mutex // Read and Write run on the transport's two goroutines
	f  framing
}

// dialFramed dials with d and wraps the connection.
func dialFramed(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		fc := &framedConn{Conn: c}
		if s, ok := c.(syscall.Conn); ok {
			fc.raw, _ = s.SyscallConn()
		}
		return fc, nil
	}
}

func (c *framedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.f.read(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

func (c *framedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	starting := c.f.state == frameIdle
	stale := c.f.stray || starting && c.stale()
	if !stale && starting {
		c.f.request(p)
	}
	c.mu.Unlock()
	if stale {
		c.Conn.Close()
		return 0, errStaleBytes
	}
	return c.Conn.Write(p)
}

// stale tells whether bytes wait unread on the socket: it peeks, without
// blocking or consuming. Control holds the socket open meanwhile, so a
// concurrent close cannot hand its number to another connection.
func (c *framedConn) stale() bool {
	if c.raw == nil {
		return false
	}
	var buf [1]byte
	waiting := false
	_ = c.raw.Control(func(fd uintptr) { waiting = peekSocket(int(fd), buf[:]) == idleData })
	return waiting
}

// framing follows one HTTP/1.1 exchange at a time over a connection's
// bytes: the request's method as it starts, then the response's head and
// body as they arrive, to know where the response ends.
type framing struct {
	state frameState
	head  bool   // the request is HEAD: its responses have no body
	buf   []byte // a response head, or a chunk-size line, being read
	left  int64  // body bytes (or chunk bytes, CRLF included) still due
	chunk int    // chunkSize, chunkData, chunkTrailer
	stray bool   // bytes came past a response's end: the connection is done
	resp  h1.Response
}

type frameState int

const (
	frameIdle    frameState = iota // no request in flight: the next write starts one
	frameHead                      // reading a response head
	frameLength                    // reading a body of known length
	frameChunked                   // reading a chunked body
	frameOpaque                    // framing not followed (an upgrade, a body to EOF): no checks
)

const (
	chunkSize = iota
	chunkData
	chunkTrailer
)

// maxFramingLine bounds a head or chunk line the framing keeps; past it
// the framing stops following the connection (frameOpaque), as the
// transport refuses such a response anyway.
const maxFramingLine = 64 << 10

// request starts an exchange with the first bytes a request writes.
func (f *framing) request(p []byte) {
	f.state, f.head, f.buf = frameHead, bytes.HasPrefix(p, []byte("HEAD ")), f.buf[:0]
}

// read takes bytes of the response.
func (f *framing) read(p []byte) {
	for len(p) > 0 {
		switch f.state {
		case frameOpaque:
			return
		case frameIdle:
			f.stray = true
			return
		case frameHead:
			p = f.readHead(p)
		case frameLength:
			n := min(int64(len(p)), f.left)
			f.left -= n
			p = p[n:]
			if f.left == 0 {
				f.state = frameIdle
			}
		case frameChunked:
			p = f.readChunked(p)
		}
	}
}

func (f *framing) readHead(p []byte) []byte {
	f.buf = append(f.buf, p...)
	end := bytes.Index(f.buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(f.buf) > maxFramingLine {
			f.state = frameOpaque
		}
		return nil
	}
	rest := f.buf[end+4:]
	f.decide(f.buf[:end+4])
	out := append([]byte(nil), rest...)
	f.buf = f.buf[:0]
	return out
}

// decide sets how the response whose head is head ends, by h1's reading
// of it (the fast path's framing).
func (f *framing) decide(head []byte) {
	r := &f.resp
	switch err := r.Parse(head, f.head); {
	case err != nil || r.Status == 101:
		f.state = frameOpaque // a tunnel from here, or a head the transport refuses
	case r.Status < 200:
		f.state = frameHead // an interim response; the final one follows
	case r.Framing == h1.NoBody || r.Framing == h1.Length && r.ContentLength == 0:
		f.state = frameIdle
	case r.Framing == h1.Length:
		f.state, f.left = frameLength, r.ContentLength
	case r.Framing == h1.Chunked:
		f.state, f.chunk = frameChunked, chunkSize
	default:
		f.state = frameOpaque // read to EOF: never reused
	}
}

func (f *framing) readChunked(p []byte) []byte {
	switch f.chunk {
	case chunkData:
		n := min(int64(len(p)), f.left)
		f.left -= n
		if f.left == 0 {
			f.chunk = chunkSize
		}
		return p[n:]
	}
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		f.buf = append(f.buf, p...)
		if len(f.buf) > maxFramingLine {
			f.state = frameOpaque
		}
		return nil
	}
	line := append(f.buf, p[:i]...)
	f.buf = f.buf[:0]
	line = bytes.TrimRight(line, "\r")
	if f.chunk == chunkTrailer {
		if len(line) == 0 {
			f.state = frameIdle
		}
		return p[i+1:]
	}
	size, ok := h1.ParseChunkSize(line)
	switch {
	case !ok:
		f.state = frameOpaque
	case size == 0:
		f.chunk = chunkTrailer
	default:
		f.chunk, f.left = chunkData, size+2 // the data and its CRLF
	}
	return p[i+1:]
}
