package console

import api "github.com/wakefn/wake/api/v1"

// targetView is one row of the traffic editor, with what spec.traffic
// gives it now: as a rule one revision, whose share is pinned to it or,
// for the revision @latest resolves to, may follow @latest instead (and
// so move to the next revision ready).
type targetView struct {
	// Key names the row in the page: the revision's name, or "@latest"
	// for the row of a spec that gives the same revision a share both
	// pinned and as @latest (written by hand), which keeps both.
	Key string `json:"key"`
	// Revision is the revision the row's share reaches now; "" for an
	// @latest row of a function with no revision yet.
	Revision string `json:"revision"`
	// Latest says the share is spec's @latest target. CanFollow says the
	// page may switch the row between pinned and @latest: it is the
	// revision @latest resolves to, and the only row for it.
	Latest    bool     `json:"latest,omitempty"`
	CanFollow bool     `json:"canFollow,omitempty"`
	Percent   int64    `json:"percent"`
	Tags      []string `json:"tags"`
}

// latestKey is the key of a row of its own for spec's @latest target.
const latestKey = "@latest"

// editorTargets lists the editor's rows: one per revision (revs, oldest
// first), then one per revision spec.traffic names that is gone. The
// revision @latest resolves to (the latest ready, else the latest
// created, as the control plane routes it) carries the @latest target's
// share and tags, unless spec also pins a share or a tag to it by name:
// then the @latest target has a row of its own, so that an apply keeps
// what the spec says.
func editorTargets(fn *api.Function, revs []*api.Revision) []targetView {
	latest := fn.Status.LatestReadyRevisionName
	if latest == "" {
		latest = fn.Status.LatestCreatedRevisionName
	}
	var onLatest, pinnedLatest bool
	for _, t := range fn.Spec.Traffic {
		used := t.PercentOrZero() > 0 || t.Tag != ""
		switch {
		case t.LatestRevision != nil && *t.LatestRevision:
			onLatest = onLatest || used
		case t.RevisionName == latest:
			pinnedLatest = pinnedLatest || used
		}
	}
	own := latest == "" || (onLatest && pinnedLatest) // @latest gets a row of its own
	rows := make([]targetView, 0, len(revs)+1)
	at := map[string]int{}
	add := func(row targetView) {
		row.Tags = []string{}
		at[row.Key] = len(rows)
		rows = append(rows, row)
	}
	for _, r := range revs {
		add(targetView{Key: r.Name, Revision: r.Name, CanFollow: !own && r.Name == latest, Latest: !own && r.Name == latest && onLatest})
	}
	if own {
		add(targetView{Key: latestKey, Revision: latest, Latest: true})
	}
	for _, t := range fn.Spec.Traffic {
		key := t.RevisionName
		if t.LatestRevision != nil && *t.LatestRevision {
			key = latestKey
			if !own {
				key = latest
			}
		}
		i, ok := at[key]
		if !ok { // a revision deleted since, or not listed yet
			add(targetView{Key: key, Revision: key})
			i = len(rows) - 1
		}
		rows[i].Percent += t.PercentOrZero()
		if t.Tag != "" {
			rows[i].Tags = append(rows[i].Tags, t.Tag)
		}
	}
	return rows
}
