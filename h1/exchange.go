package h1

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Exchange is one request on a client connection of the fast path and the
// means to answer it. The server reuses it for every request of the
// connection.
type Exchange struct {
	Req      Request
	In       *bufio.Reader // the client's bytes: the head, then the body
	Out      *bufio.Writer // the response; the server flushes it
	Conn     net.Conn
	ClientIP string
	// Start is when the request's head was read.
	Start time.Time

	deadline time.Time // the read deadline set on Conn
	headLeft int       // head bytes still in In
	bodyLeft int64     // body bytes the handler has not read
	// Broken says the connection cannot carry another request: a body
	// left unread, a response cut short.
	Broken bool
	// Crowded says more requests are being served than there are threads
	// to run them: a handler about to read what its peer has yet to send
	// does better to yield first (runtime.Gosched) than to find nothing
	// and park. Set by the server per request.
	Crowded bool
	// Extra holds header lines wake adds to this request's response, each
	// "Name: value\r\n" (a sticky cookie, Server-Timing): they go after
	// the instance's own fields, so a field it sent under the same name is
	// kept, and into WriteError's answers too. Reset empties it, keeping
	// its storage, so a request that adds nothing allocates nothing.
	Extra []byte
}

// DeadlineSlack: a deadline this close to the one already set is left as
// it is. Setting one updates a runtime timer; on a kept-alive connection
// most requests would move it by microseconds.
const DeadlineSlack = time.Second

// SetReadDeadline sets Conn's read deadline unless it is within
// DeadlineSlack of the one set already. Every read deadline of the
// connection goes through here, so the one remembered is the one set.
func (ex *Exchange) SetReadDeadline(t time.Time) {
	if t.Equal(ex.deadline) || (!t.IsZero() && !ex.deadline.IsZero() && near(t, ex.deadline)) {
		return
	}
	ex.deadline = t
	ex.Conn.SetReadDeadline(t)
}

func near(a, b time.Time) bool {
	d := a.Sub(b)
	return -DeadlineSlack < d && d < DeadlineSlack
}

// Reset prepares the exchange for a request whose head Req has parsed.
func (ex *Exchange) Reset(start time.Time) {
	ex.Start = start
	ex.headLeft = ex.Req.Len
	ex.bodyLeft = ex.Req.ContentLength
	if ex.Req.Chunked {
		ex.bodyLeft = -1 // unknown until its last chunk
	}
	ex.Broken = false
	ex.Extra = ex.Extra[:0]
}

// AddHeader appends the header line "name: value" to Extra. Neither may
// hold CR or LF; the caller builds both.
func (ex *Exchange) AddHeader(name, value string) {
	ex.Extra = append(ex.Extra, name...)
	ex.Extra = append(ex.Extra, ": "...)
	ex.Extra = append(ex.Extra, value...)
	ex.Extra = append(ex.Extra, "\r\n"...)
}

// ConsumeHead discards the request head from In; Req's slices are invalid
// afterwards. The body can be read only after.
func (ex *Exchange) ConsumeHead() {
	if ex.headLeft > 0 {
		ex.In.Discard(ex.headLeft)
		ex.headLeft = 0
	}
}

// BodyLeft is how much of the request body is still unread: -1 for a
// chunked body not read to its end.
func (ex *Exchange) BodyLeft() int64 { return ex.bodyLeft }

// BodyRead records that n bytes of the body were consumed; BodyLeft()
// bytes, when the body was read to its end.
func (ex *Exchange) BodyRead(n int64) { ex.bodyLeft -= n }

// Finish discards the head if it is still there, and marks the connection
// broken when the handler left body bytes unread: the next request would
// start inside them.
func (ex *Exchange) Finish() {
	ex.ConsumeHead()
	if ex.bodyLeft != 0 {
		ex.Broken = true
	}
}

// WriteError answers with a plain-text error. extra holds header lines
// ("Retry-After: 1\r\n"), or is empty; Extra's lines follow them.
func (ex *Exchange) WriteError(code int, msg, extra string) {
	closing := ex.bodyLeft != 0 || ex.Req.Close
	ex.Out.Write(appendError(ex.Out.AvailableBuffer(), code, msg, extra, ex.Extra, closing, !ex.Req.Head))
}

// appendError appends a plain-text error response: the status, msg as its
// body (or, withBody false, only its length, as for HEAD), the header
// lines extra and more, and Connection: close when closing.
func appendError(dst []byte, code int, msg, extra string, more []byte, closing, withBody bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(code)...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(msg)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, extra...)
	dst = append(dst, more...)
	if closing {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	if withBody {
		dst = append(dst, msg...)
	}
	return dst
}

// WatchClose calls gone if the client closes the connection before stop
// is called: a request waiting for an instance gives its place up when its
// client leaves. It reads ahead on In in the background, so the request
// body must have been read, or be empty, and In must not be used until
// stop returns.
func (ex *Exchange) WatchClose(gone func()) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(done)
		// Any byte is fine: a pipelined request stays buffered in In.
		if _, err := ex.In.Peek(1); err != nil && !isTimeout(err) {
			gone()
		}
	}()
	return func() {
		once.Do(func() {
			// Wake the read with a deadline in the past, then clear it.
			ex.SetReadDeadline(aLongTimeAgo)
			<-done
			ex.SetReadDeadline(time.Time{})
		})
	}
}

var aLongTimeAgo = time.Unix(1, 0)

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// AppendRefusal appends the whole response refusing a request: e's status
// and reason, and Connection: close.
func AppendRefusal(dst []byte, e *RequestError) []byte {
	return appendError(dst, e.Status, "wake: bad request: "+e.Reason+"\n", "", nil, true, true)
}
