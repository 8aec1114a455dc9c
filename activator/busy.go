package activator

import (
	"slices"

	api "github.com/wakefn/wake/api/v1"
)

// Revisions returns the keys of the registered revisions, in no order.
// The gateway's demand reporter walks them every half second.
func (a *Activator) Revisions() []api.RevisionKey {
	var keys []api.RevisionKey
	a.revisions.Range(func(k, _ any) bool {
		keys = append(keys, k.(api.RevisionKey))
		return true
	})
	return keys
}

// Busy returns the IDs of the revision's instances this activator still
// uses, sorted: those in its ready set, and those that left it but still
// serve a request. An instance may go only once no gateway reports it
// busy; an unknown revision uses none.
//
// It reads what the request path keeps anyway (the ready set and the
// draining map) under the revision's mutex, once per report: the request
// path pays nothing for it.
func (a *Activator) Busy(key api.RevisionKey) []string {
	rv := a.lookup(key)
	if rv == nil {
		return nil
	}
	return rv.busy()
}

func (rv *revision) busy() []string {
	rv.mu.Lock()
	ids := make([]string, 0, len(rv.endpoints)+len(rv.draining))
	for _, ep := range rv.endpoints {
		ids = append(ids, ep.ID)
	}
	for id := range rv.draining {
		ids = append(ids, id)
	}
	rv.mu.Unlock()
	// An instance that came back under a new address while its old
	// connection still drains is in both: name it once.
	slices.Sort(ids)
	return slices.Compact(ids)
}
