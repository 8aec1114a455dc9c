package router

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wakefn/wake/h1"
)

// guardConn is a client connection that net/http serves, with every
// request head on it checked by h1 before net/http reads a byte of it.
// net/http takes what the fast path does not serve (HTTP/1.0, upgrades,
// Expect, heads over 8 KiB, h2c, everything when the fast path is off),
// and it reads some requests more leniently than RFC 9112 allows (it
// ignores Transfer-Encoding in HTTP/1.0, takes Content-Length beside
// chunked, and bare LF line ends): requests a proxy in front of wake could
// frame another way. Through the guard, such a request is refused with
// h1's 4xx whichever path serves the connection, and net/http sees only
// messages h1 frames the way it does (FuzzRequest checks that).
//
// The guard follows the framing of each message it lets through: the head,
// then a Content-Length body as it is, or a chunked body in canonical form
// (h1.ChunkedReader), then the next head. It never gives net/http bytes
// past the end of the current message, so a refusal is never read ahead.
// After an upgrade (the connection hijacked) or HTTP/2's preface, it
// passes bytes through.
//
// Costs: one head parse per request beyond net/http's own, and for
// chunked bodies a copy of their framing; nothing for HTTP/2.
type guardConn struct {
	net.Conn
	br            *bufio.Reader
	headerTimeout time.Duration
	onClose       func() // counts the connection out of MaxConns

	state   guardState
	left    int64 // of a Content-Length body, bytes not passed yet
	chunks  h1.ChunkedReader
	pending []byte // bytes to pass before reading more: valid until br is read
	data    []byte // chunk data to pass after pending: valid until br is read
	req     h1.Request
	refused *h1.RequestError // a head refused while net/http was busy

	netState  atomic.Int32 // the http.ConnState net/http last reported
	closeOnce sync.Once
}

type guardState int

const (
	guardHead    guardState = iota // the next bytes are a request head
	guardLength                    // inside a Content-Length body
	guardChunked                   // inside a chunked body
	guardTunnel                    // hijacked, or HTTP/2: bytes pass as they are
	guardDone                      // refused: nothing more is read
)

// maxGuardHead bounds a request head on a connection net/http serves: a
// head past the fast path's 8 KiB buffer gets a reader this large. Heads
// larger are refused with 431 (nginx's default bound is 32 KiB in all).
const maxGuardHead = 64 << 10

func newGuardConn(nc net.Conn, br *bufio.Reader, headerTimeout time.Duration, onClose func()) *guardConn {
	g := &guardConn{Conn: nc, br: br, headerTimeout: headerTimeout, onClose: onClose}
	g.netState.Store(int32(http.StateNew))
	return g
}

// connState is the fallback server's ConnState hook: the guard needs to
// know whether net/http is between requests (it may then answer a refusal
// itself) and whether the connection was hijacked.
func connState(c net.Conn, st http.ConnState) {
	if g, ok := c.(*guardConn); ok {
		g.netState.Store(int32(st))
	}
}

func (g *guardConn) busy() bool {
	return http.ConnState(g.netState.Load()) == http.StateActive
}

func (g *guardConn) hijacked() bool {
	return http.ConnState(g.netState.Load()) == http.StateHijacked
}

// Read gives net/http the client's bytes, a message at a time.
func (g *guardConn) Read(p []byte) (int, error) {
	for {
		if len(g.pending) > 0 {
			n := copy(p, g.pending)
			g.pending = g.pending[n:]
			return n, nil
		}
		if len(g.data) > 0 {
			n := copy(p, g.data)
			g.data = g.data[n:]
			return n, nil
		}
		if g.hijacked() && g.state != guardDone {
			g.state = guardTunnel
		}
		switch g.state {
		case guardTunnel:
			return g.br.Read(p)
		case guardDone:
			return 0, io.EOF
		case guardLength:
			if g.left == 0 {
				g.state = guardHead
				continue
			}
			n, err := g.br.Read(p[:min(int64(len(p)), g.left)])
			g.left -= int64(n)
			return n, err
		case guardChunked:
			frame, data, err := g.chunks.Next()
			switch {
			case err == io.EOF:
				g.state = guardHead
			case errors.Is(err, h1.ErrMalformed):
				// What net/http's own chunked reader refuses in any state,
				// so that the handler sees a malformed body, not a
				// connection error; nothing is read after it.
				g.pending, g.state = []byte("zz\r\n"), guardDone
				continue
			case err != nil:
				return 0, err
			}
			g.pending, g.data = frame, data
		case guardHead:
			if err := g.nextHead(); err != nil {
				return 0, err
			}
		}
	}
}

// nextHead reads the next request head whole, checks it, and lets it
// through, or answers the refusal.
func (g *guardConn) nextHead() error {
	if g.refused != nil {
		return g.refuse(g.refused)
	}
	head, err := g.readHead()
	if errors.Is(err, h1.ErrHeadTooLarge) {
		if g.br.Size() < maxGuardHead {
			g.br = bufio.NewReaderSize(g.br, maxGuardHead)
			return nil // read it again, whole
		}
		return g.refuse(&h1.RequestError{Status: http.StatusRequestHeaderFieldsTooLarge,
			Reason: "the request head is larger than 64 KiB"})
	}
	if err != nil {
		return err
	}
	err = g.req.Parse(head)
	var refusal *h1.RequestError
	if errors.As(err, &refusal) {
		return g.refuse(refusal)
	}
	g.br.Discard(len(head)) // head stays valid: Discard within the buffer reads nothing
	g.pending = head
	switch {
	case g.req.Preface:
		g.state = guardTunnel
	case g.req.Chunked:
		g.state = guardChunked
		g.chunks.Reset(g.br)
	case g.req.ContentLength > 0:
		g.state, g.left = guardLength, g.req.ContentLength
	}
	return nil
}

// readHead waits for a whole head. Once its first byte is in, the rest
// must come within the header timeout, as net/http itself requires; it
// waits for that first byte as long as net/http's deadline says.
func (g *guardConn) readHead() ([]byte, error) {
	if g.br.Buffered() == 0 {
		if _, err := g.br.Peek(1); err != nil {
			return nil, err
		}
	}
	if head := h1.BufferedHead(g.br); head != nil {
		return head, nil
	}
	if !g.busy() {
		// (While net/http is busy, this is its background read, whose
		// deadline it sets in the past to end it: leave that alone.)
		g.Conn.SetReadDeadline(time.Now().Add(g.headerTimeout))
	}
	return h1.ReadHead(g.br)
}

// refuse answers a refused head and ends the connection. While net/http
// is busy with the request before it (this head was read ahead, from its
// background read), the answer must wait: refuse then blocks as an idle
// socket would, until net/http's own deadline wakes it or the client
// leaves, and answers on net/http's next read.
func (g *guardConn) refuse(e *h1.RequestError) error {
	g.refused = e
	for g.busy() {
		var scratch [512]byte
		if _, err := g.Conn.Read(scratch[:]); err != nil { // what follows a refused head is dropped
			return err
		}
	}
	g.state, g.refused = guardDone, nil
	g.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := g.Conn.Write(h1.AppendRefusal(nil, e)); err == nil {
		linger(g.Conn) // as the fast path does, so the answer is not lost to a reset
	}
	return io.EOF // net/http closes the connection without a word
}

// CloseWrite half-closes, as net/http does before it closes after
// refusing a request, so that its answer is not lost to a reset.
func (g *guardConn) CloseWrite() error {
	if cw, ok := g.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection once, counting it out.
func (g *guardConn) Close() error {
	err := net.ErrClosed
	g.closeOnce.Do(func() {
		err = g.Conn.Close()
		if g.onClose != nil {
			g.onClose()
		}
	})
	return err
}
