package router

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"

	api "github.com/wakefn/wake/api/v1"
)

// RevisionHandler serves a request routed to a revision: the activator.
type RevisionHandler interface {
	ServeRevision(w http.ResponseWriter, r *http.Request, fn api.FunctionKey, rev api.RevisionKey)
}

// Options configure a Router.
type Options struct {
	// Next serves routed requests. Required.
	Next RevisionHandler
	// Rand returns a uniform int in [0, n). nil means math/rand/v2's
	// goroutine-safe global source; tests pass a seeded one.
	Rand func(n int) int
}

// Router is the data plane's http.Handler. Its cost per request is one
// atomic load, one host normalization (no allocation for an already
// lower-case host) and one map read.
type Router struct {
	next  RevisionHandler
	rand  func(int) int
	table atomic.Pointer[Table]
}

// New returns a Router with an empty table: every host is unknown until
// SetTable.
func New(opts Options) *Router {
	r := &Router{next: opts.Next, rand: opts.Rand}
	if r.rand == nil {
		r.rand = rand.IntN
	}
	r.table.Store(NewTable("localhost", nil))
	return r
}

// SetTable publishes a new route table. Requests already routed keep the
// revision they were given.
func (rt *Router) SetTable(t *Table) { rt.table.Store(t) }

// Table returns the current table.
func (rt *Router) Table() *Table { return rt.table.Load() }

// Resolve picks the revision a request for host goes to.
func (rt *Router) Resolve(host string) (api.FunctionKey, api.RevisionKey, bool) {
	return rt.pick(rt.table.Load().lookup(NormalizeHost(host)))
}

// ResolveBytes is Resolve for a host still in a request's buffer; it does
// not allocate unless the host has upper-case letters.
func (rt *Router) ResolveBytes(host []byte) (api.FunctionKey, api.RevisionKey, bool) {
	host = hostBytes(host)
	if hasUpper(host) {
		return rt.Resolve(string(host))
	}
	return rt.pick(rt.table.Load().hosts[string(host)])
}

func (rt *Router) pick(e *entry) (api.FunctionKey, api.RevisionKey, bool) {
	if e == nil {
		return api.FunctionKey{}, api.RevisionKey{}, false
	}
	return e.function, rt.choose(e).rev, true
}

// ServeHTTP routes a request that came through net/http: by host, tag
// header and sticky cookie (see ResolveRequest).
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := rt.ResolveRequest(r)
	if !ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "wake: no function serves host %q\n", r.Host)
		return
	}
	if p.SetCookie != "" {
		w.Header().Add("Set-Cookie", p.SetCookie)
	}
	rt.next.ServeRevision(w, r, p.Function, p.Revision)
}

// NormalizeHost strips a port and a trailing dot and lower-cases host. It
// allocates only when the host has upper-case letters.
func NormalizeHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}
