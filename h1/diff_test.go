package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The differential targets: the same bytes go to h1 and to net/http, which
// is right wherever they disagree unless a comment here says why not.
// Where net/http refuses a message, h1 must refuse it; where both take it,
// they must agree on what it is and where the next message starts. A
// disagreement is request smuggling or response splitting: a message one
// hop frames one way and the next hop another.

// requestSeeds are the shapes of the published request-smuggling
// mutations, and every input a fuzz run ever failed on.
var requestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
	"GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X\r\nX: 1\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /n HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0010\r\n\r\n0123456789",
	// Issue 19's findings.
	"POST /innocent HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\nContent-Length: 35\r\n\r\nGET /hidden HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nConnection: Host\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	"POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\nHost: h\n\n",
	// Transfer-Encoding obfuscations.
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n \r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\ntRANSFER-eNCODING: cHUNKED\r\n\r\n1\r\na\r\n0\r\n\r\n",
	// Content-Length oddities.
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
	// Chunk oddities.
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 ;x\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 9\r\n\r\n",
	// Pipelined, HTTP/1.0, upgrades, the HTTP/2 preface.
	"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nab",
	"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}

// parsed is what one side made of a request: its head, its body, and
// where the next message starts.
type parsed struct {
	method, target, host string
	chunked              bool
	length               int64
	body                 string
	next                 int
}

// h1Request reads one request as the data plane does: its head, and its
// body by the framing Parse found. ok is false when h1 refused it or did
// not find a whole head.
func h1Request(t *testing.T, s string) (p parsed, parseErr error, ok bool) {
	src := strings.NewReader(s)
	br := bufio.NewReaderSize(src, 8<<10)
	head, err := ReadHead(br)
	if err != nil {
		return p, err, false
	}
	var r Request
	parseErr = r.Parse(head)
	if parseErr != nil && (!errors.Is(parseErr, ErrUnsupported) || r.Preface) {
		return p, parseErr, false
	}
	p = parsed{method: string(r.Method), target: string(r.Target), host: string(r.Host), chunked: r.Chunked, length: r.ContentLength}
	br.Discard(len(head))
	var body bytes.Buffer
	w := bufio.NewWriter(&body)
	if r.Chunked {
		err = relayChunkedData(w, br)
	} else {
		err = Relay(w, br, r.ContentLength)
	}
	w.Flush()
	if err != nil {
		if !IsReadError(err) {
			t.Fatalf("%q: relaying into a buffer failed writing: %v", s, err)
		}
		return p, parseErr, false
	}
	p.body = body.String()
	p.next = len(s) - src.Len() - br.Buffered()
	return p, parseErr, true
}

// relayChunkedData reads a chunked body's data, without its framing.
func relayChunkedData(dst *bufio.Writer, src *bufio.Reader) error {
	var c ChunkedReader
	c.Reset(src)
	for {
		_, data, err := c.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		dst.Write(data)
	}
}

// stdRequest reads one request with net/http's ReadRequest and its body.
func stdRequest(s string) (p parsed, err error) {
	src := strings.NewReader(s)
	br := bufio.NewReader(src)
	req, err := http.ReadRequest(br)
	if err != nil {
		return p, err
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return p, err
	}
	return parsed{
		method: req.Method, target: req.RequestURI, host: req.Host, chunked: req.ContentLength == -1,
		length: max(req.ContentLength, 0), body: string(body), next: len(s) - src.Len() - br.Buffered(),
	}, nil
}

// FuzzRequest checks h1's request parser against net/http's: wherever
// net/http refuses, the fast path refuses (or leaves the request to
// net/http, which refuses it); where both take a request (on the fast
// path, or handed to net/http with its framing known), method, target,
// body and where the next request starts agree. The head and body the
// fast path sends on read the same way again.
func FuzzRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mine, parseErr, ok := h1Request(t, s)
		std, stdErr := stdRequest(s)
		if !ok {
			return // h1 refused: always safe
		}
		if stdErr != nil {
			// Handed to net/http (parseErr is ErrUnsupported), it is
			// refused there, and the connection closed: safe. On the fast
			// path, nobody else would judge it.
			if parseErr == nil {
				t.Fatalf("%q: the fast path took it, net/http refuses it: %v", s, stdErr)
			}
			return
		}
		if mine.method != std.method || mine.target != std.target || mine.chunked != std.chunked || mine.length != std.length ||
			mine.body != std.body || mine.next != std.next {
			t.Fatalf("%q:\n h1       %+v\n net/http %+v", s, mine, std)
		}
		if parseErr != nil {
			return // net/http serves it, with the same framing
		}
		if mine.host != std.host {
			t.Fatalf("%q: host %q, net/http %q", s, mine.host, std.host)
		}
		// What the fast path sends on, head and canonical body, reads the
		// same way.
		var r Request
		br := bufio.NewReader(strings.NewReader(s))
		head, _ := ReadHead(br)
		r.Parse(head)
		out := bytes.NewBuffer(r.AppendOutbound(nil, "10.0.0.1"))
		br.Discard(len(head))
		w := bufio.NewWriter(out)
		if r.Chunked {
			RelayChunked(w, br)
		} else {
			Relay(w, br, r.ContentLength)
		}
		w.Flush()
		fwd, err := stdRequest(out.String())
		if err != nil || fwd.method != std.method || fwd.target != std.target || fwd.host != std.host ||
			fwd.body != std.body || fwd.next != out.Len() {
			t.Fatalf("%q: sent on as %q, which reads as %+v, %v; want %+v", s, out, fwd, err, std)
		}
	})
}

// FuzzResponse checks h1's response framing against net/http's: wherever
// ReadResponse (or reading its body) fails, h1 refuses the response or
// fails relaying it; where both take it, status, body and where the next
// response starts agree.
func FuzzResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\nextra",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Add("HTTP/1.0 200 OK\r\n\r\nbody", true)
	f.Fuzz(func(t *testing.T, s string, toHead bool) {
		src := strings.NewReader(s)
		br := bufio.NewReaderSize(src, 4096)
		head, err := ReadHead(br)
		if err != nil {
			return
		}
		var r Response
		if r.Parse(head, toHead) != nil {
			return
		}
		br.Discard(len(head))
		var body bytes.Buffer
		dst := bufio.NewWriter(&body)
		switch r.Framing {
		case Chunked:
			err = relayChunkedData(dst, br)
		case Length:
			err = Relay(dst, br, r.ContentLength)
		case UntilClose:
			err = Relay(dst, br, -1)
		}
		dst.Flush()
		if err != nil {
			return // h1 refused the body
		}
		next := len(s) - src.Len() - br.Buffered()

		method := "GET"
		if toHead {
			method = "HEAD"
		}
		stdSrc := strings.NewReader(s)
		stdBR := bufio.NewReader(stdSrc)
		std, err := http.ReadResponse(stdBR, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%q (HEAD %v): h1 took it, net/http refuses it: %v", s, toHead, err)
		}
		stdBody, err := io.ReadAll(std.Body)
		if err != nil {
			t.Fatalf("%q (HEAD %v): h1 relayed its body, net/http refuses it: %v", s, toHead, err)
		}
		stdNext := len(s) - stdSrc.Len() - stdBR.Buffered()
		if std.StatusCode != r.Status || string(stdBody) != body.String() || stdNext != next {
			t.Fatalf("%q (HEAD %v): h1 status %d body %q next %d; net/http %d %q %d",
				s, toHead, r.Status, body.String(), next, std.StatusCode, stdBody, stdNext)
		}
	})
}
