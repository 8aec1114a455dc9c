package h1

import (
	"bytes"
	"strconv"
)

// Framing says how a response body ends.
type Framing int

const (
	// NoBody: HEAD responses, 1xx, 204 and 304.
	NoBody Framing = iota
	// Length: Content-Length bytes.
	Length
	// Chunked: chunked transfer coding, relayed as it is.
	Chunked
	// UntilClose: the body ends when the instance closes the connection.
	UntilClose
)

// Response is a parsed response head, reused like Request.
type Response struct {
	Status        int
	ContentLength int64
	Framing       Framing
	// Close: the connection cannot carry another response after this
	// one: the instance said so, the body ends when it closes, or its
	// framing was ambiguous.
	Close bool
	Len   int
	// chunked and hasLength say which framing field to send on; the
	// instance's own are dropped and sent again in canonical form.
	chunked, hasLength bool

	statusLine []byte // after the version: "200 OK"
	fields     []field
	fieldsBuf  [32]field
}

// Parse parses a response head as returned by ReadHead, for a request
// whose method was HEAD or not. A response that is not HTTP/1.x, or is
// ambiguous about its length, is ErrMalformed: the caller answers 502.
func (r *Response) Parse(head []byte, toHead bool) error {
	r.Status, r.ContentLength, r.Framing, r.Close, r.Len = 0, 0, NoBody, false, len(head)
	r.chunked, r.hasLength = false, false
	r.fields = r.fieldsBuf[:0]
	i := bytes.Index(head, []byte("\r\n"))
	if i < 0 {
		return ErrMalformed
	}
	line := head[:i]
	http10 := false
	switch {
	case bytes.HasPrefix(line, []byte("HTTP/1.1 ")):
	case bytes.HasPrefix(line, []byte("HTTP/1.0 ")):
		http10 = true
	default:
		return ErrMalformed
	}
	r.statusLine = line[len("HTTP/1.1 "):]
	if len(r.statusLine) < 3 || (len(r.statusLine) > 3 && r.statusLine[3] != ' ') {
		return ErrMalformed
	}
	for _, c := range r.statusLine {
		// A bare LF here would end the head for net/http (and for the
		// client) before the fields we frame the body by.
		if c < ' ' && c != '	' || c == 0x7f {
			return ErrMalformed
		}
	}
	code, err := strconv.Atoi(string(r.statusLine[:3]))
	if err != nil || code < 100 {
		return ErrMalformed
	}
	r.Status = code

	var connection []byte
	lengths, codings := 0, 0
	ls := lines{rest: head[i+2:]}
	for {
		line, ok, err := ls.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		f, err := parseField(line)
		if err != nil || len(r.fields) == MaxFields {
			return ErrMalformed
		}
		switch n := f.name; {
		case is(n, "content-length"):
			l, ok := parseLength(f.value)
			if !ok || (lengths > 0 && l != r.ContentLength) {
				return ErrMalformed
			}
			lengths++
			r.ContentLength = l
			f.drop = true
		case is(n, "transfer-encoding"):
			// Like net/http: one field, "chunked", and none in HTTP/1.0,
			// where its framing is faulty (RFC 9112 section 6.1).
			f.drop = true
			if codings++; codings > 1 || !is(f.value, "chunked") || http10 {
				return ErrMalformed
			}
		case is(n, "connection"):
			f.drop = true
			connection = append(connection[:len(connection):len(connection)], f.value...)
			connection = append(connection, ',')
		case is(n, "keep-alive"), is(n, "proxy-connection"), is(n, "upgrade"):
			f.drop = true
		}
		r.fields = append(r.fields, f)
	}
	keepAlive := false
	tokens(connection, func(tok []byte) {
		switch {
		case is(tok, "close"):
			r.Close = true
		case is(tok, "keep-alive"):
			keepAlive = true
		}
	})
	if http10 && !keepAlive {
		r.Close = true
	}
	dropNamed(r.fields, connection)

	switch {
	case codings > 0:
		// A length beside chunked coding is a smuggling attempt or a bug:
		// chunked wins, the length is not passed on, and the connection,
		// whose next message may start elsewhere for another parser, is
		// not reused.
		r.chunked, r.ContentLength = true, 0
		if lengths > 0 {
			r.Close = true
		}
	case lengths > 0:
		r.hasLength = true
	}
	switch {
	case toHead || code < 200 || code == 204 || code == 304:
		r.Framing = NoBody
	case r.chunked:
		r.Framing = Chunked
	case r.hasLength:
		r.Framing = Length
	default:
		r.Framing = UntilClose
		r.Close = true
	}
	return nil
}

// AppendClient appends the head to send to the client: always HTTP/1.1,
// the instance's fields without the hop-by-hop ones, its framing field in
// canonical form, then extra (complete header lines wake adds, see
// Exchange.Extra; may be empty), and Connection: close when the
// connection ends after this response.
func (r *Response) AppendClient(dst []byte, closing bool, extra []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = append(dst, r.statusLine...)
	dst = append(dst, "\r\n"...)
	dst = appendFields(dst, r.fields)
	dst = appendFraming(dst, r.chunked, r.hasLength, r.ContentLength)
	dst = append(dst, extra...)
	if closing {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, "\r\n"...)
}
