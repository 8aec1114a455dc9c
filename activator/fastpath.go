package activator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/h1"
)

// maxBufferedBody is the largest request body the fast path reads whole
// before forwarding: such a request can be sent again when an idle
// connection turns out to be closed. Larger bodies stream.
const maxBufferedBody = 64 << 10

// fastExchange is a request on the HTTP/1.1 fast path. Pooled: its
// buffers outlive the request.
type fastExchange struct {
	ex       *h1.Exchange
	head     []byte           // the head to send, built once
	body     []byte           // the body, when buffered
	buffered bool             // body holds the whole body (or there is none)
	replay   bool             // the request may be sent twice (h1.Request.Replayable)
	chunks   h1.ChunkedReader // a chunked request body
	resp     h1.Response
	out      []byte // the response head for the client
	// extraMark is the length of the exchange's Extra before the
	// activator added to it (the router may have: a sticky cookie).
	extraMark int
}

var fastPool = sync.Pool{New: func() any { return &fastExchange{head: make([]byte, 0, 1024), out: make([]byte, 0, 1024)} }}

// ServeH1 serves a request from the router's fast path: HTTP/1.1 to the
// instance over a pooled connection, the response relayed as it comes.
// Costs beyond the two network round trips: two short lock holds (acquire
// and release), one atomic pool operation each way, no allocation. It
// returns false, having touched nothing, for a revision that speaks h2c:
// the router then gives the connection to net/http, which has the
// HTTP/2 transport.
func (a *Activator) ServeH1(ex *h1.Exchange, fn api.FunctionKey, key api.RevisionKey) bool {
	rv := a.lookup(key)
	if rv == nil {
		ex.WriteError(http.StatusServiceUnavailable, fmt.Sprintf("wake: revision %s is not available\n", key.Name), "")
		return true
	}
	if rv.h2c {
		return false
	}
	x := fastPool.Get().(*fastExchange)
	defer x.release()
	x.ex = ex
	x.extraMark = len(ex.Extra)
	x.head = ex.Req.AppendOutbound(x.head[:0], ex.ClientIP)
	x.replay = ex.Req.Replayable
	ex.ConsumeHead()
	// The pooled exchange may still hold the last request's body: a
	// request without one must send none, or the instance would read those
	// bytes as another request.
	x.body, x.buffered = x.body[:0], true
	if n := ex.BodyLeft(); n != 0 {
		// Hold the body only within the bounds; past them it streams. A
		// chunked body's length is known only at its end: it may take the
		// most a held body may.
		if n < 0 {
			n = maxBufferedBody
		}
		hold := a.holdBody(rv, n)
		if hold {
			defer a.releaseBody(rv, n)
		}
		var err error
		if ex.Req.Chunked {
			err = x.readChunked(rv, hold)
		} else {
			err = x.readBody(rv, n, hold)
		}
		if err != nil {
			rv.metrics.countRequest(x.bodyFailed(rv, err).code)
			return true
		}
	}
	a.serve(rv, ex.Start, x)
	return true
}

// keptBodyBuffer is the largest body buffer a pooled exchange keeps.
const keptBodyBuffer = 16 << 10

// release returns x to the pool, keeping nothing of the request: not its
// exchange, and not a large body buffer (the memory held is what the
// bounds count).
func (x *fastExchange) release() {
	x.ex = nil
	x.chunks.Reset(nil)
	if cap(x.body) > keptBodyBuffer {
		x.body = nil
	}
	fastPool.Put(x)
}

// readBody reads a small body whole, so that it can be sent twice. A
// large one, or one the bounds leave no room for (hold false), is left to
// stream.
func (x *fastExchange) readBody(rv *revision, n int64, hold bool) error {
	if !hold {
		x.buffered = false
		return nil
	}
	if int64(cap(x.body)) < n {
		x.body = make([]byte, n)
	}
	x.body = x.body[:n]
	x.ex.SetReadDeadline(x.ex.Start.Add(rv.timeout))
	if _, err := io.ReadFull(x.ex.In, x.body); err != nil {
		return &h1.ReadError{Err: err}
	}
	x.ex.BodyRead(n)
	return nil
}

// readChunked reads a chunked body ahead, in canonical form, up to
// maxBufferedBody: whole, it can be sent twice like a small body of known
// length; either way a client that sends it slowly holds no connection to
// an instance meanwhile. The rest of a larger one, or all of one the
// bounds leave no room for, streams after what was read.
func (x *fastExchange) readChunked(rv *revision, hold bool) error {
	x.chunks.Reset(x.ex.In)
	if !hold {
		x.buffered = false
		return nil
	}
	x.ex.SetReadDeadline(x.ex.Start.Add(rv.timeout))
	for len(x.body) < maxBufferedBody {
		frame, data, err := x.chunks.Next()
		x.body = append(append(x.body, frame...), data...)
		if err == io.EOF {
			x.ex.BodyRead(x.ex.BodyLeft())
			return nil
		}
		if err != nil {
			return err
		}
	}
	x.buffered = false
	return nil
}

// wait bounds the wait by the deadline and by the client: one that
// closes its connection gives its place in the queue up.
func (x *fastExchange) wait(deadline time.Time) (context.Context, func()) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	if x.ex.BodyLeft() != 0 {
		return ctx, cancel // a streamed body is still unread: cannot watch
	}
	stop := x.ex.WatchClose(cancel)
	return ctx, func() { stop(); cancel() }
}

func (x *fastExchange) annotate(w wait) {
	extra := append(x.ex.Extra[:x.extraMark], "Server-Timing: "...)
	extra = appendServerTiming(extra, w)
	extra = append(extra, "\r\n"...)
	if w.cold {
		extra = append(extra, "Wake-Cold-Start: true\r\n"...)
	}
	x.ex.Extra = extra
}

// bodyFailed answers a request whose body could not be read (see
// bodyRefusal) and closes the connection.
func (x *fastExchange) bodyFailed(rv *revision, err error) result {
	x.ex.Broken = true
	r := bodyRefusal(rv, err)
	if r.msg != "" {
		x.ex.WriteError(r.code, r.msg, "")
	}
	return result{code: r.code, clientFault: true, err: err}
}

func (x *fastExchange) refuse(rv *revision, err error) int {
	r := refusalFor(rv, err, errors.Is(err, context.Canceled))
	if r.code == statusClientClosed {
		x.ex.Broken = true
		return r.code
	}
	extra := ""
	if r.retryAfter != "" {
		extra = "Retry-After: " + r.retryAfter + "\r\n"
	}
	x.ex.WriteError(r.code, r.msg, extra)
	return r.code
}

// to forwards to ep. A kept-alive connection the instance closed in the
// meantime is replaced by a new one and the request sent again, when its
// body is in hand and it may be sent twice. A request that may not (a
// POST) cannot tell an idle connection the instance closed from an
// instance that died while handling it, so it takes no idle connection
// without first checking it is still open; should one fail all the same,
// the client gets the 502, as from net/http's Transport.
func (x *fastExchange) to(rv *revision, ep *endpoint) result {
	fresh := false
	for {
		c, reused, err := ep.pool.get(fresh)
		if err != nil {
			switch {
			case isRefused(err): // nothing was sent: another instance may take it
				return result{refused: true, err: err}
			case outOfFiles(err):
				x.ex.WriteError(http.StatusServiceUnavailable, outOfFilesMsg, "Retry-After: 1\r\n")
				return result{code: http.StatusServiceUnavailable, err: err}
			}
			return x.badGateway(rv, ep, err)
		}
		res, failed, stale := x.exchange(rv, ep, c)
		if failed == nil {
			return res
		}
		if stale && reused && x.buffered && x.replay {
			fresh = true
			continue
		}
		return x.badGateway(rv, ep, failed)
	}
}

// exchange sends the request on c and relays the response. failed, when
// not nil, says the connection failed before a response came back and
// nothing was written to the client; stale says it failed the way a
// kept-alive connection the instance closed fails, so the request may be
// sent again on another connection.
func (x *fastExchange) exchange(rv *revision, ep *endpoint, c *upstreamConn) (res result, failed error, stale bool) {
	ex := x.ex
	deadline := ex.Start.Add(rv.timeout)
	c.setDeadline(deadline)
	c.bw.Write(x.head)
	var err error
	switch {
	case x.buffered:
		c.bw.Write(x.body)
	case ex.Req.Chunked:
		c.bw.Write(x.body) // what was read ahead
		ex.SetReadDeadline(deadline)
		if err = x.chunks.RelayTo(c.bw); err == nil {
			ex.BodyRead(ex.BodyLeft())
		}
	case ex.BodyLeft() > 0:
		n := ex.BodyLeft()
		ex.SetReadDeadline(deadline)
		if err = h1.Relay(c.bw, ex.In, n); err == nil {
			ex.BodyRead(n)
		}
	}
	if h1.IsReadError(err) {
		// The instance has part of a request: its connection goes.
		c.close()
		return x.bodyFailed(rv, err), nil, false
	}
	if err == nil {
		err = c.bw.Flush()
		if ex.Crowded {
			// Let the goroutines that are ready run while the instance
			// answers: its answer is then often there when this one
			// reads, and the read neither fails with EAGAIN nor parks.
			runtime.Gosched()
		}
	}
	var head []byte
	for err == nil {
		if head, err = h1.ReadHead(c.br); err != nil {
			break
		}
		if err = x.resp.Parse(head, ex.Req.Head); err != nil || x.resp.Status >= 200 || x.resp.Status == 101 {
			break
		}
		// An interim response (103 Early Hints): pass it on, read the next.
		ex.Out.Write(head)
		c.br.Discard(len(head))
	}
	if err != nil {
		c.close()
		if c.br.Buffered() == 0 && (errors.Is(err, io.EOF) || isReset(err)) && !errors.Is(err, os.ErrDeadlineExceeded) {
			stale = true
		}
		if ex.BodyLeft() != 0 {
			ex.Broken = true // the body was cut off midway
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			ex.WriteError(http.StatusGatewayTimeout, fmt.Sprintf(
				"wake: revision %s did not answer within its timeout of %v\n", rv.key.Name, rv.timeout), "")
			return result{code: http.StatusGatewayTimeout, err: err}, nil, false
		case errors.Is(err, h1.ErrMalformed), errors.Is(err, h1.ErrHeadTooLarge):
			ep.pool.report(malformedResponse, "sent a response head that is not HTTP/1.1 wake can frame exactly", head)
			ex.WriteError(http.StatusBadGateway, fmt.Sprintf(
				"wake: instance %s of revision %s sent a malformed response: %v\n", ep.ID, rv.key.Name, err), "")
			return result{code: http.StatusBadGateway, err: err}, nil, false
		}
		return result{}, err, stale
	}
	if x.resp.Status == 101 {
		c.close()
		return result{}, errors.New("switching protocols without an upgrade"), false
	}

	closing := ex.Req.Close || x.resp.Framing == h1.UntilClose
	x.out = x.resp.AppendClient(x.out[:0], closing, ex.Extra)
	c.br.Discard(len(head))
	ex.Out.Write(x.out)
	res = result{code: x.resp.Status, headerAt: time.Now()}
	switch x.resp.Framing {
	case h1.Length:
		err = h1.Relay(ex.Out, c.br, x.resp.ContentLength)
	case h1.Chunked:
		err = h1.RelayChunked(ex.Out, c.br)
	case h1.UntilClose:
		err = h1.Relay(ex.Out, c.br, -1)
	}
	if err != nil {
		// Cut after the head went out: the client must see a broken
		// connection, not a short response.
		c.close()
		ex.Broken = true
		res.err, res.abort = err, true
		switch {
		case errors.Is(err, h1.ErrMalformed):
			ep.pool.report(malformedResponse, "sent a malformed chunked body", nil)
		case h1.IsReadError(err) && (errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)):
			ep.pool.report(truncatedResponse, "closed the connection inside a response body", nil)
		}
		return res, nil, false
	}
	if closing {
		ex.Broken = true
	}
	if x.resp.Close {
		c.close()
	} else {
		ep.pool.put(c)
	}
	return res, nil, false
}

func (x *fastExchange) fail(rv *revision, ep *endpoint, err error) result {
	return x.badGateway(rv, ep, err)
}

func (x *fastExchange) badGateway(rv *revision, ep *endpoint, err error) result {
	x.ex.WriteError(http.StatusBadGateway, fmt.Sprintf(
		"wake: instance %s of revision %s closed the connection before answering (it may have died): %v\n",
		ep.ID, rv.key.Name, unwrapURLError(err)), "")
	return result{code: http.StatusBadGateway, err: err}
}

// isReset tells a connection the instance closed: what a kept-alive
// connection shows when the instance dropped it while it was idle.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
