package h1

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
)

var (
	// ErrUnsupported says the fast path does not handle this message; the
	// connection goes to net/http.
	ErrUnsupported = errors.New("h1: message not handled by the fast path")
	// ErrHeadTooLarge: the head does not fit the reader's buffer.
	ErrHeadTooLarge = errors.New("h1: message head too large")
	// ErrMalformed: the bytes are not HTTP/1.1, or frame a message in a
	// way that two parsers could read differently. A request's is a
	// *RequestError, which says how to answer it.
	ErrMalformed = errors.New("h1: malformed message")
)

// RequestError is a request refused before anything acts on it: the
// client's mistake, answered with Status and Reason, and the connection
// closed, since where its next request would start is uncertain.
type RequestError struct {
	Status int    // 400, 431, 501 or 505
	Reason string // for the client: what was wrong, and where
}

func (e *RequestError) Error() string { return "h1: " + e.Reason }

// Is makes every RequestError an ErrMalformed.
func (e *RequestError) Is(target error) bool { return target == ErrMalformed }

func badRequest(reason string) *RequestError { return &RequestError{Status: 400, Reason: reason} }

// The refusals Parse returns, made once: Parse allocates nothing.
var (
	errRequestLine  = badRequest("the request line is not METHOD TARGET HTTP/1.x")
	errBareLF       = badRequest("a line of the request head ends in a bare LF or holds a bare CR; HTTP/1.1 lines end in CRLF")
	errObsFold      = badRequest("a header field is continued on the next line (obsolete line folding, RFC 9112 section 5.2)")
	errField        = badRequest("a header field is malformed: a name that is not a token, whitespace before the colon, or a control character in the value")
	errNoHost       = badRequest("an HTTP/1.1 request needs one Host field")
	errHosts        = badRequest("the request has several Host fields")
	errLength       = badRequest("Content-Length must be a decimal number, sent once")
	errLengthAndTE  = badRequest("the request has both Content-Length and Transfer-Encoding, which frame its body two ways (RFC 9112 section 6.1)")
	errTE10         = badRequest("Transfer-Encoding in an HTTP/1.0 request, whose body cannot be chunked (RFC 9112 section 6.1)")
	errTooManyField = &RequestError{Status: 431, Reason: "the request head has more than 128 fields"}
	errCoding       = &RequestError{Status: 501, Reason: "the only transfer coding taken is chunked, in one Transfer-Encoding field"}
	errVersion      = &RequestError{Status: 505, Reason: "the HTTP version is not 1.0 or 1.1"}
)

// MaxFields bounds the header fields of one message.
const MaxFields = 128

// ReadHead waits until br holds a whole message head, up to and including
// the blank line, and returns it without consuming it: the slice points
// into br's buffer, valid until the caller's next read, and the caller
// discards it once used. A head larger than br's buffer is ErrHeadTooLarge.
//
// Like net/http, it takes a bare LF as the end of a line, so that a head
// whose lines end in bare LFs is found (and refused by Parse) rather than
// waited on until the client gives up.
func ReadHead(br *bufio.Reader) ([]byte, error) {
	scan := 0
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				return nil, err
			}
		}
		buf, _ := br.Peek(br.Buffered())
		if n := headEnd(buf, scan); n > 0 {
			return buf[:n], nil
		}
		if len(buf) == br.Size() {
			return nil, ErrHeadTooLarge
		}
		// The end, "\n\n" or "\n\r\n", may begin in the last two bytes.
		scan = max(0, len(buf)-2)
		// Wait for more: bufio reads as much as the socket has.
		if _, err := br.Peek(len(buf) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, ErrHeadTooLarge
			}
			return nil, err
		}
	}
}

// headEnd returns the length of the head at the start of buf, blank line
// included, looking for its end from scan on; 0 when buf holds no blank
// line. Every LF ends a line, so the first LF followed by LF or CRLF ends
// the head.
func headEnd(buf []byte, scan int) int {
	for i := scan; i < len(buf); {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		switch {
		case i < len(buf) && buf[i] == '\n':
			return i + 1
		case i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n':
			return i + 2
		}
	}
	return 0
}

// BufferedHead returns the head br already holds whole, as ReadHead would,
// without waiting; nil when br holds no whole head yet.
func BufferedHead(br *bufio.Reader) []byte {
	buf, _ := br.Peek(br.Buffered())
	if n := headEnd(buf, 0); n > 0 {
		return buf[:n]
	}
	return nil
}

// field is one header field, as slices of the head.
type field struct {
	name, value []byte
	drop        bool // not forwarded (hop-by-hop, or rewritten by us)
}

// lines iterates the CRLF-terminated lines of a head after its first line.
type lines struct {
	rest []byte
}

// next returns the next line without its CRLF; ok is false at the blank
// line that ends the head. A bare LF or CR is malformed.
func (l *lines) next() (line []byte, ok bool, err error) {
	i := bytes.IndexByte(l.rest, '\n')
	if i < 1 || l.rest[i-1] != '\r' {
		return nil, false, ErrMalformed
	}
	line, l.rest = l.rest[:i-1], l.rest[i+1:]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, false, ErrMalformed
	}
	return line, len(line) > 0, nil
}

// parseField splits "Name: value". Obsolete line folding, whitespace
// before the colon (a request-smuggling vector) and control characters in
// the value are refused.
func parseField(line []byte) (field, error) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		return field{}, ErrMalformed
	}
	v := trimOWS(line[colon+1:])
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return field{}, ErrMalformed
		}
	}
	return field{name: line[:colon], value: v}, nil
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// tokenChars are the bytes of an RFC 9110 token.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// is compares a header name with a lower-case constant, ignoring case,
// without allocating.
func is(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseLength reads a Content-Length: 1 to 18 digits, nothing else.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// tokens calls fn with each comma-separated element of a list value.
func tokens(v []byte, fn func(tok []byte)) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		if tok = trimOWS(tok); len(tok) > 0 {
			fn(tok)
		}
	}
}

// dropNamed marks the fields named by a Connection header: they apply to
// one hop only (RFC 9110 section 7.6.1). The fields that frame a message
// are never dropped, whatever Connection says: without its length the
// next hop would read a body as the next message.
func dropNamed(fields []field, connection []byte) {
	if len(connection) == 0 {
		return
	}
	tokens(connection, func(tok []byte) {
		if framing(tok) {
			return
		}
		for i := range fields {
			if bytes.EqualFold(fields[i].name, tok) {
				fields[i].drop = true
			}
		}
	})
}

// framing tells the fields by which a message is framed and routed.
func framing(name []byte) bool {
	return is(name, "content-length") || is(name, "transfer-encoding") || is(name, "host")
}

// appendFraming writes a message's framing field in canonical form, the
// one every parser reads alike: Transfer-Encoding: chunked, or
// Content-Length: N in plain decimal, or nothing.
func appendFraming(dst []byte, chunked, hasLength bool, length int64) []byte {
	switch {
	case chunked:
		return append(dst, "Transfer-Encoding: chunked\r\n"...)
	case hasLength:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, length, 10)
		return append(dst, "\r\n"...)
	}
	return dst
}

// appendFields writes the fields that are not dropped.
func appendFields(dst []byte, fields []field) []byte {
	for _, f := range fields {
		if f.drop {
			continue
		}
		dst = append(dst, f.name...)
		dst = append(dst, ": "...)
		dst = append(dst, f.value...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}
