package router

import (
	"sort"
	"strings"

	api "github.com/wakefn/wake/api/v1"
)

// Route is one function's resolved traffic, as the control plane computes
// it: concrete revisions with percents and optional tags.
type Route struct {
	Function api.FunctionKey
	Targets  []Target
	// Aliases name revisions for the Wake-Revision-Tag header only (alias
	// → revision name, e.g. canary and stable during a rollout); they
	// create no host. A tag or target of the same name wins. nil: none.
	Aliases map[string]string
	// Sticky keeps a client on one revision while the traffic is split
	// over two or more: the response to a request without a valid
	// wake-revision cookie sets one naming the revision picked, and a
	// request with one goes there. Ignored without a split.
	Sticky bool
}

// Target is a share of a function's traffic going to one revision.
type Target struct {
	Revision string // revision name, in the function's namespace
	Percent  int
	Tag      string
}

// Table is an immutable snapshot of every route, indexed by host. Build one
// with NewTable and publish it with Router.SetTable.
type Table struct {
	domain string
	hosts  map[string]*entry
	// Conflicts lists hosts claimed twice (a function named like another's
	// tag host); the function's own host wins.
	Conflicts []string
}

// entry is what a host resolves to: a cumulative weight table over
// revisions. A tag host has a single choice.
type entry struct {
	function api.FunctionKey
	choices  []choice
	total    int
	// pins resolve Wake-Revision-Tag on a function's own host: tags,
	// target revision names and aliases. nil on tag hosts.
	pins map[string]api.RevisionKey
	// sticky: the route is Sticky and splits over 2 or more choices.
	sticky bool
}

type choice struct {
	rev  api.RevisionKey
	upTo int // cumulative percent: pick this choice when n < upTo
	// cookie is the Set-Cookie value naming rev, built once so that a
	// sticky pick costs no allocation.
	cookie string
}

// NewTable indexes routes under domain. Targets with 0% still get their tag
// host; a function whose percents are all 0 has no default host.
func NewTable(domain string, routes []Route) *Table {
	t := &Table{domain: strings.ToLower(domain), hosts: make(map[string]*entry)}
	// Functions' own hosts first, so that they win over a colliding tag host.
	tagged := map[string]*entry{}
	for _, r := range routes {
		e := &entry{function: r.Function}
		for _, tg := range r.Targets {
			rev := api.RevisionKey{Namespace: r.Function.Namespace, Name: tg.Revision}
			if tg.Percent > 0 {
				e.total += tg.Percent
				e.choices = append(e.choices, choice{rev: rev, upTo: e.total, cookie: stickyCookie(tg.Revision)})
			}
			if tg.Tag != "" {
				host := t.Host(api.FunctionKey{Namespace: r.Function.Namespace, Name: tg.Tag + "-" + r.Function.Name})
				tagged[host] = &entry{function: r.Function, choices: []choice{{rev: rev, upTo: 1}}, total: 1}
			}
		}
		if e.total > 0 {
			e.pins = pinsOf(r)
			e.sticky = r.Sticky && len(e.choices) >= 2
			t.hosts[t.Host(r.Function)] = e
		}
	}
	for host, e := range tagged {
		if _, taken := t.hosts[host]; taken {
			t.Conflicts = append(t.Conflicts, host)
			continue
		}
		t.hosts[host] = e
	}
	sort.Strings(t.Conflicts)
	return t
}

// Host is the host a function answers on under domain:
// NAME.NAMESPACE.DOMAIN. A tag's host is the host of "TAG-NAME".
func Host(fn api.FunctionKey, domain string) string {
	return fn.Name + "." + fn.Namespace + "." + domain
}

// Host is the host a function answers on in this table.
func (t *Table) Host(fn api.FunctionKey) string { return Host(fn, t.domain) }

// Len is the number of hosts in the table.
func (t *Table) Len() int { return len(t.hosts) }

// lookup resolves a normalized host. One map read.
func (t *Table) lookup(host string) *entry { return t.hosts[host] }

// index chooses a choice given n uniformly drawn in [0, total).
func (e *entry) index(n int) int {
	// Linear: a function rarely has more than a handful of targets, and a
	// scan of 2-3 ints beats a binary search's branches.
	for i := range e.choices {
		if n < e.choices[i].upTo {
			return i
		}
	}
	return len(e.choices) - 1
}
