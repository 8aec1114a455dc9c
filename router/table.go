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
}

type choice struct {
	rev  api.RevisionKey
	upTo int // cumulative percent: pick this choice when n < upTo
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
				e.choices = append(e.choices, choice{rev: rev, upTo: e.total})
			}
			if tg.Tag != "" {
				host := t.Host(api.FunctionKey{Namespace: r.Function.Namespace, Name: tg.Tag + "-" + r.Function.Name})
				tagged[host] = &entry{function: r.Function, choices: []choice{{rev: rev, upTo: 1}}, total: 1}
			}
		}
		if e.total > 0 {
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

// pick chooses a revision given n uniformly drawn in [0, total).
func (e *entry) pick(n int) api.RevisionKey {
	// Linear: a function rarely has more than a handful of targets, and a
	// scan of 2-3 ints beats a binary search's branches.
	for i := range e.choices {
		if n < e.choices[i].upTo {
			return e.choices[i].rev
		}
	}
	return e.choices[len(e.choices)-1].rev
}
