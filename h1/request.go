package h1

import (
	"bytes"
	"strings"
)

// Request is a parsed request head. Its slices point into the head given
// to Parse and are valid as long as it is. A Request is reused from one
// request to the next on a connection; Parse resets it.
type Request struct {
	Method []byte
	Target []byte // origin-form: /path?query
	Host   []byte
	// ContentLength is the body's length; 0 when there is none. The fast
	// path takes no chunked request bodies.
	ContentLength int64
	// Close: the client will send nothing more on this connection.
	Close bool
	// Head: the method is HEAD, whose response has no body. Kept as a
	// flag because Method's bytes go when the head is consumed.
	Head bool
	// Replayable: the request may be sent again after a connection failed
	// without an answer, as net/http's Transport decides it: an idempotent
	// method without a body effect (GET, HEAD, OPTIONS, TRACE), or an
	// Idempotency-Key field saying the server deduplicates.
	Replayable bool
	// Len is the size of the head, blank line included.
	Len int
	// Tag is the value of Wake-Revision-Tag, or else of Knative's
	// Knative-Serving-Tag: the revision the client asks to be pinned to.
	// nil when neither was sent.
	Tag []byte
	// Cookie is the value of the Cookie field; nil when there is none. A
	// request with two Cookie fields (RFC 6265 allows one) goes to net/http.
	Cookie []byte

	fields     []field
	forwarded  []byte // X-Forwarded-For values already present, joined
	xfHost     bool   // X-Forwarded-Host already present
	teTrailers bool
	fieldsBuf  [32]field
}

// reset clears r for a new head, keeping its field storage.
func (r *Request) reset(n int) {
	r.Method, r.Target, r.Host, r.forwarded, r.Tag, r.Cookie = nil, nil, nil, nil, nil, nil
	r.ContentLength, r.Close, r.Head, r.Replayable, r.Len = 0, false, false, false, n
	r.xfHost, r.teTrailers = false, false
	r.fields = r.fieldsBuf[:0]
}

// Parse parses a request head as returned by ReadHead. ErrUnsupported
// means the request may be valid, but net/http must serve it: HTTP/1.0,
// a chunked or expected body, an upgrade, a missing or repeated Host, an
// absolute target, anything malformed.
func (r *Request) Parse(head []byte) error {
	r.reset(len(head))
	i := bytes.Index(head, []byte("\r\n"))
	if i < 0 {
		return ErrUnsupported
	}
	line := head[:i]
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 || string(line[sp2+1:]) != "HTTP/1.1" {
		return ErrUnsupported
	}
	r.Method, r.Target = line[:sp1], line[sp1+1:sp2]
	if !isToken(r.Method) || len(r.Method) > 32 || r.Target[0] != '/' {
		return ErrUnsupported
	}
	r.Head = string(r.Method) == "HEAD"
	switch string(r.Method) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		r.Replayable = true
	}
	for _, c := range r.Target {
		if c <= ' ' || c >= 0x7f {
			return ErrUnsupported
		}
	}
	var connection []byte
	hosts, lengths := 0, 0
	ls := lines{rest: head[i+2:]}
	for {
		line, ok, err := ls.next()
		if err != nil {
			return ErrUnsupported
		}
		if !ok {
			break
		}
		if line[0] == ' ' || line[0] == '\t' { // obsolete line folding
			return ErrUnsupported
		}
		f, err := parseField(line)
		if err != nil || len(r.fields) == MaxFields {
			return ErrUnsupported
		}
		switch n := f.name; {
		case is(n, "host"):
			hosts++
			r.Host = f.value
		case is(n, "content-length"):
			lengths++
			l, ok := parseLength(f.value)
			if !ok {
				return ErrUnsupported
			}
			r.ContentLength = l
		case is(n, "transfer-encoding"), is(n, "upgrade"), is(n, "expect"):
			return ErrUnsupported
		case is(n, "connection"):
			f.drop = true
			if connection != nil {
				return ErrUnsupported // one Connection field, or let net/http merge them
			}
			connection = f.value
		case is(n, "te"):
			f.drop = true
			tokens(f.value, func(tok []byte) { r.teTrailers = r.teTrailers || is(tok, "trailers") })
		case is(n, "keep-alive"), is(n, "proxy-connection"), is(n, "proxy-authorization"), is(n, "trailer"),
			is(n, "x-forwarded-proto"):
			f.drop = true
		case is(n, "x-forwarded-for"):
			f.drop = true
			if r.forwarded != nil {
				return ErrUnsupported // rare; net/http joins repeated ones
			}
			r.forwarded = f.value
		case is(n, "x-forwarded-host"):
			r.xfHost = true
		case is(n, "idempotency-key"), is(n, "x-idempotency-key"):
			r.Replayable = true
		case is(n, "cookie"):
			if r.Cookie != nil {
				return ErrUnsupported
			}
			r.Cookie = f.value
		case is(n, "wake-revision-tag"):
			r.Tag = f.value
		case is(n, "knative-serving-tag"):
			if r.Tag == nil {
				r.Tag = f.value
			}
		}
		r.fields = append(r.fields, f)
	}
	if hosts != 1 || lengths > 1 || len(r.Host) == 0 || bytes.ContainsAny(r.Host, " \t/\\") {
		return ErrUnsupported
	}
	upgrade := false
	tokens(connection, func(tok []byte) {
		switch {
		case is(tok, "close"):
			r.Close = true
		case is(tok, "upgrade"):
			upgrade = true
		}
	})
	if upgrade {
		return ErrUnsupported
	}
	dropNamed(r.fields, connection)
	return nil
}

// AppendOutbound appends the head to send to an instance: the request line
// and the client's fields without the hop-by-hop ones, then
// X-Forwarded-For (the client's address appended), X-Forwarded-Host (when
// the client sent none), X-Forwarded-Proto and this hop's Forwarded.
func (r *Request) AppendOutbound(dst []byte, clientIP string) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = append(dst, r.Target...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	dst = appendFields(dst, r.fields)
	dst = append(dst, "X-Forwarded-For: "...)
	if len(r.forwarded) > 0 {
		dst = append(dst, r.forwarded...)
		dst = append(dst, ", "...)
	}
	dst = append(dst, clientIP...)
	if !r.xfHost {
		dst = append(dst, "\r\nX-Forwarded-Host: "...)
		dst = append(dst, r.Host...)
	}
	dst = append(dst, "\r\nX-Forwarded-Proto: http\r\nForwarded: "...)
	dst = AppendForwarded(dst, clientIP, r.Host)
	dst = append(dst, "\r\n"...)
	if r.teTrailers {
		dst = append(dst, "TE: trailers\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// AppendForwarded appends this hop's element of an RFC 7239 Forwarded
// header: for=CLIENT;host=HOST;proto=http. A Forwarded header the client
// sent is kept as it was: a second header line continues the list. The
// host (it may carry a port) and an IPv6 client are quoted, as the RFC
// requires for anything but a token.
func AppendForwarded[S string | []byte](dst []byte, clientIP string, host S) []byte {
	dst = append(dst, "for="...)
	if strings.IndexByte(clientIP, ':') >= 0 {
		dst = append(dst, "\"["...)
		dst = append(dst, clientIP...)
		dst = append(dst, "]\""...)
	} else {
		dst = append(dst, clientIP...)
	}
	dst = append(dst, ";host="...)
	dst = appendQuoted(dst, host)
	return append(dst, ";proto=http"...)
}

// appendQuoted appends s as a quoted-string, escaping quotes and
// backslashes and dropping control characters.
func appendQuoted[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == 0x7f:
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
