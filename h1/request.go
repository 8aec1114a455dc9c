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
	// ContentLength is the body's length; 0 when there is none, or when
	// the body is Chunked.
	ContentLength int64
	// Chunked: the body has the chunked transfer coding.
	Chunked bool
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
	// Preface: the bytes are HTTP/2's connection preface, not a request.
	Preface bool
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
	teTrailers bool
	hasLength  bool // a Content-Length was sent (0 included)
	fieldsBuf  [32]field
}

// reset clears r for a new head, keeping its field storage.
func (r *Request) reset(n int) {
	r.Method, r.Target, r.Host, r.forwarded, r.Tag, r.Cookie = nil, nil, nil, nil, nil, nil
	r.ContentLength, r.Chunked, r.Close, r.Head, r.Replayable, r.Preface, r.Len = 0, false, false, false, false, false, n
	r.teTrailers, r.hasLength = false, false
	r.fields = r.fieldsBuf[:0]
}

// http2Preface is what a client speaking HTTP/2 with prior knowledge sends
// first; ReadHead returns its first part as a head.
const http2Preface = "PRI * HTTP/2.0\r\n\r\n"

// Parse parses a request head as returned by ReadHead. It allocates
// nothing. It returns:
//
//   - nil: the fast path can serve the request;
//   - ErrUnsupported: a well-formed request whose body's framing Parse
//     knows (ContentLength, Chunked), or HTTP/2's preface (Preface), but
//     which net/http must serve: HTTP/1.0, an upgrade, Expect, a target
//     that is not origin-form, repeated fields net/http merges, bytes the
//     fast path leaves to net/http to judge;
//   - a *RequestError: a request to refuse, with its status. Parse is
//     stricter than net/http, never laxer: whatever net/http refuses it
//     refuses, and it also refuses what RFC 9112 says is ambiguous and
//     net/http takes (bare LF line ends, Transfer-Encoding in HTTP/1.0,
//     Content-Length beside Transfer-Encoding, a repeated Content-Length).
func (r *Request) Parse(head []byte) error {
	r.reset(len(head))
	if bytes.HasPrefix(head, []byte(http2Preface)) {
		r.Preface = true
		return ErrUnsupported
	}
	i := bytes.IndexByte(head, '\n')
	if i < 1 || head[i-1] != '\r' {
		return errBareLF
	}
	line := head[:i-1]
	// Split as net/http does: at the first space, then the next one.
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, version, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || !isToken(method) || len(target) == 0 {
		return errRequestLine
	}
	http10 := false
	switch string(version) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		http10 = true
	default:
		if len(version) == 8 && string(version[:5]) == "HTTP/" && version[6] == '.' {
			return errVersion
		}
		return errRequestLine
	}
	unsupported := http10 || len(method) > 32 || target[0] != '/'
	for _, c := range target {
		switch {
		case c <= ' ' || c == 0x7f:
			return errRequestLine
		case c >= 0x80:
			unsupported = true // net/http judges such targets
		}
	}
	r.Method, r.Target = method, target
	r.Head = string(method) == "HEAD"
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		r.Replayable = true
	}

	var connection []byte
	hosts, lengths, codings := 0, 0, 0
	ls := lines{rest: head[i+1:]}
	for {
		line, ok, err := ls.next()
		if err != nil {
			return errBareLF
		}
		if !ok {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errObsFold
		}
		f, err := parseField(line)
		if err != nil {
			return errField
		}
		if len(r.fields) == MaxFields {
			return errTooManyField
		}
		switch n := f.name; {
		case is(n, "host"):
			hosts++
			r.Host = f.value
		case is(n, "content-length"):
			lengths++
			l, ok := parseLength(f.value)
			if !ok || lengths > 1 {
				return errLength
			}
			r.ContentLength, r.hasLength = l, true
			f.drop = true // sent on in canonical form, see AppendOutbound
		case is(n, "transfer-encoding"):
			codings++
			if codings > 1 || !is(f.value, "chunked") {
				if http10 {
					return errTE10
				}
				return errCoding
			}
			r.Chunked = true
			f.drop = true // sent on as "chunked"
		case is(n, "upgrade"), is(n, "expect"):
			unsupported = true
		case is(n, "connection"):
			f.drop = true
			if connection != nil {
				unsupported = true // net/http merges them
			}
			connection = f.value
		case is(n, "te"):
			f.drop = true
			tokens(f.value, func(tok []byte) { r.teTrailers = r.teTrailers || is(tok, "trailers") })
		case is(n, "keep-alive"), is(n, "proxy-connection"), is(n, "proxy-authorization"), is(n, "trailer"),
			is(n, "x-forwarded-proto"), is(n, "x-forwarded-host"):
			// Hop-by-hop, or set by wake from what it saw: a client's own
			// X-Forwarded-Host would name a host it was not routed by.
			f.drop = true
		case is(n, "x-forwarded-for"):
			f.drop = true
			if r.forwarded != nil {
				unsupported = true // rare; net/http joins repeated ones
			}
			r.forwarded = f.value
		case is(n, "idempotency-key"), is(n, "x-idempotency-key"):
			r.Replayable = true
		case is(n, "cookie"):
			if r.Cookie != nil {
				unsupported = true
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
	switch {
	case http10 && r.Chunked:
		return errTE10
	case lengths > 0 && r.Chunked:
		return errLengthAndTE
	case hosts > 1:
		return errHosts
	case hosts == 0 && !http10:
		return errNoHost
	case hosts == 0 || !plainHost(r.Host):
		unsupported = true // net/http judges odd hosts
	}
	tokens(connection, func(tok []byte) {
		switch {
		case is(tok, "close"):
			r.Close = true
		case is(tok, "upgrade"):
			unsupported = true
		}
	})
	dropNamed(r.fields, connection)
	if unsupported {
		return ErrUnsupported
	}
	return nil
}

// plainHost tells a Host value the fast path routes: a name or an address,
// with a port, and nothing net/http might judge otherwise.
func plainHost(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

// AppendOutbound appends the head to send to an instance: the request line
// and the client's fields without the hop-by-hop ones, the body's framing
// in canonical form (Content-Length: N, or Transfer-Encoding: chunked, so
// that no parser can read it another way), then X-Forwarded-For (the
// client's address appended), X-Forwarded-Host (the Host wake routed by),
// X-Forwarded-Proto and this hop's Forwarded.
func (r *Request) AppendOutbound(dst []byte, clientIP string) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = append(dst, r.Target...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	dst = appendFields(dst, r.fields)
	dst = appendFraming(dst, r.Chunked, r.hasLength, r.ContentLength)
	dst = append(dst, "X-Forwarded-For: "...)
	if len(r.forwarded) > 0 {
		dst = append(dst, r.forwarded...)
		dst = append(dst, ", "...)
	}
	dst = append(dst, clientIP...)
	dst = append(dst, "\r\nX-Forwarded-Host: "...)
	dst = append(dst, r.Host...)
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
