package router

import (
	"bytes"
	"net/http"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/h1"
)

// Pinning a request to a revision, on a function's own host:
//
//   - the Wake-Revision-Tag header (or Knative's Knative-Serving-Tag)
//     names a tag of the route, one of its target revisions, or an alias;
//     an unknown value falls back to the weighted pick, as Knative's
//     tag-header routing does;
//   - on a Sticky route that splits traffic, the wake-revision cookie
//     names one of the revisions taking traffic; a request without one
//     (or with a stale one) gets the weighted pick and a Set-Cookie.
//
// The header wins over the cookie, and a request pinned by the header
// gets no cookie. Tag hosts ignore both.

// StickyCookie is the name of the cookie that keeps a client on one
// revision of a sticky, split route.
const StickyCookie = "wake-revision"

// stickyCookie returns the Set-Cookie value naming rev.
func stickyCookie(rev string) string {
	return StickyCookie + "=" + rev + "; Path=/; HttpOnly; SameSite=Lax"
}

// pinsOf indexes what Wake-Revision-Tag may name in r: aliases, then
// target revisions, then tags, each overriding the one before.
func pinsOf(r Route) map[string]api.RevisionKey {
	pins := make(map[string]api.RevisionKey, len(r.Aliases)+2*len(r.Targets))
	key := func(rev string) api.RevisionKey { return api.RevisionKey{Namespace: r.Function.Namespace, Name: rev} }
	for alias, rev := range r.Aliases {
		if alias != "" && rev != "" {
			pins[alias] = key(rev)
		}
	}
	for _, tg := range r.Targets {
		pins[tg.Revision] = key(tg.Revision)
	}
	for _, tg := range r.Targets {
		if tg.Tag != "" {
			pins[tg.Tag] = key(tg.Revision)
		}
	}
	return pins
}

// Pick is where the router sends one request.
type Pick struct {
	Function api.FunctionKey
	Revision api.RevisionKey
	// SetCookie, when not "", is the Set-Cookie value the response must
	// carry: the route is sticky and the request came without a cookie
	// naming one of its revisions.
	SetCookie string
}

// ResolveH1 picks the revision for a request of the fast path: by its
// host, then its tag header and sticky cookie. It allocates nothing
// beyond what ResolveBytes does.
func (rt *Router) ResolveH1(req *h1.Request) (Pick, bool) {
	e := rt.table.Load().hosts[string(hostBytes(req.Host))]
	if e == nil {
		if !hasUpper(req.Host) {
			return Pick{}, false
		}
		if e = rt.table.Load().lookup(NormalizeHost(string(req.Host))); e == nil {
			return Pick{}, false
		}
	}
	if len(req.Tag) > 0 && e.pins != nil {
		if rev, ok := e.pins[string(req.Tag)]; ok {
			return Pick{Function: e.function, Revision: rev}, true
		}
	}
	if e.sticky {
		if v := CookieValue(req.Cookie, StickyCookie); len(v) > 0 {
			for i := range e.choices {
				if string(v) == e.choices[i].rev.Name {
					return Pick{Function: e.function, Revision: e.choices[i].rev}, true
				}
			}
		}
		c := rt.choose(e)
		return Pick{Function: e.function, Revision: c.rev, SetCookie: c.cookie}, true
	}
	return Pick{Function: e.function, Revision: rt.choose(e).rev}, true
}

// ResolveRequest is ResolveH1 for a request that came through net/http.
func (rt *Router) ResolveRequest(r *http.Request) (Pick, bool) {
	e := rt.table.Load().lookup(NormalizeHost(r.Host))
	if e == nil {
		return Pick{}, false
	}
	if e.pins != nil {
		tag := headerValue(r.Header, "Wake-Revision-Tag")
		if tag == "" {
			tag = headerValue(r.Header, "Knative-Serving-Tag")
		}
		if rev, ok := e.pins[tag]; ok && tag != "" {
			return Pick{Function: e.function, Revision: rev}, true
		}
	}
	if e.sticky {
		if c, err := r.Cookie(StickyCookie); err == nil {
			for i := range e.choices {
				if c.Value == e.choices[i].rev.Name {
					return Pick{Function: e.function, Revision: e.choices[i].rev}, true
				}
			}
		}
		c := rt.choose(e)
		return Pick{Function: e.function, Revision: c.rev, SetCookie: c.cookie}, true
	}
	return Pick{Function: e.function, Revision: rt.choose(e).rev}, true
}

// headerValue is h.Get for a canonical name, trimmed, without allocating.
func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return trimSpace(v[0])
	}
	return ""
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// choose draws a choice by weight.
func (rt *Router) choose(e *entry) *choice {
	if len(e.choices) == 1 {
		return &e.choices[0]
	}
	return &e.choices[e.index(rt.rand(e.total))]
}

// CookieValue returns the value of the cookie named name in a Cookie
// header ("a=1; b=2"), without its quotes; nil when it is not there. It
// does not allocate, and takes any bytes: a malformed pair is skipped.
func CookieValue(header []byte, name string) []byte {
	for len(header) > 0 {
		var pair []byte
		if i := bytes.IndexByte(header, ';'); i >= 0 {
			pair, header = header[:i], header[i+1:]
		} else {
			pair, header = header, nil
		}
		pair = bytes.TrimLeft(pair, " \t")
		eq := bytes.IndexByte(pair, '=')
		if eq < 0 || string(bytes.TrimRight(pair[:eq], " \t")) != name {
			continue
		}
		v := bytes.TrimSpace(pair[eq+1:])
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v
	}
	return nil
}

// hostBytes strips a port and a trailing dot from a host in a request's
// buffer.
func hostBytes(host []byte) []byte {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	return bytes.TrimSuffix(host, []byte("."))
}

func hasUpper(b []byte) bool {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}
