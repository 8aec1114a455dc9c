package controlplane

import (
	"sort"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// This file holds the revision garbage collector's decision, Knative's
// (pkg/reconciler/gc, config-gc): pure, over the time it is given.

// Knative's routing state of a revision, kept on it: the label says
// whether a route sends it traffic or names it with a tag (active) or
// not (reserve); the annotation says when that last changed, which for a
// reserve revision is when it was last active.
const (
	LabelRoutingState              = "serving.knative.dev/routingState"
	AnnotationRoutingStateModified = "serving.knative.dev/routingStateModified"
	RoutingStateActive             = "active"
	RoutingStateReserve            = "reserve"
)

// AnnotationGC is set on the revisions the control plane answers with,
// never stored: when the collector will delete the revision (RFC 3339),
// or "kept: WHY" when it will not as things stand.
const AnnotationGC = "wake.dev/gc"

// gcCandidate is one revision of a function as the collector sees it.
type gcCandidate struct {
	name       string
	created    time.Time
	lastActive time.Time // when it stopped being routed; created when never
	// active says why it is never collected now ("traffic", "tag",
	// "instances", "latest", "rollout", "no-gc"); "" for a non-active
	// revision.
	active string
}

// gcVerdict is what the collector decides for one revision.
type gcVerdict struct {
	name    string
	collect bool      // delete it now
	at      time.Time // when it becomes stale; zero when never by age
	kept    string    // why it stays, when it is not collected
}

// planGC decides which of a function's revisions to delete at now, as
// Knative's collector does:
//
//  1. active revisions (routed, tagged, holding instances, the latest,
//     pinned by a rollout, or no-gc) are never collected;
//  2. with no more than MinNonActiveRevisions revisions in all, or
//     non-active, nothing is;
//  3. the non-active ones, least recently active first, are deleted when
//     stale (older than RetainSinceCreateTime and inactive for longer
//     than RetainSinceLastActiveTime, a Disabled setting not counting)
//     while more than MinNonActiveRevisions remain;
//  4. of those left, the least recently active beyond
//     MaxNonActiveRevisions are deleted, stale or not.
//
// Steps 2 and 3 are Knative's v2 collector step for step, so that the
// same revisions go; step 4 departs from it where it says.
//
// It returns a verdict per revision, in the order given, with the time a
// kept one would become stale so that users can see what will go when.
func planGC(now time.Time, cfg api.RevisionGC, revs []gcCandidate) []gcVerdict {
	out := make([]gcVerdict, len(revs))
	var idle []int // indexes of the non-active
	for i, r := range revs {
		out[i] = gcVerdict{name: r.name, at: staleAt(cfg, r)}
		if r.active != "" {
			out[i].kept, out[i].at = r.active, time.Time{}
			continue
		}
		idle = append(idle, i)
	}
	min, max := cfg.MinNonActiveRevisions, cfg.MaxNonActiveRevisions
	defer func() {
		for _, i := range idle {
			switch v := &out[i]; {
			case v.collect:
			case v.at.IsZero():
				v.kept = "retain settings disabled"
			case !now.Before(v.at):
				v.kept = "min-non-active-revisions"
			}
		}
	}()
	if max == api.Disabled && cfg.RetainSinceCreateTime == api.Disabled && cfg.RetainSinceLastActiveTime == api.Disabled {
		return out
	}
	if len(revs) <= min || len(idle) <= min {
		return out
	}
	// Least recently active first; then Knative's walk, kept as it is so
	// that the same revisions go: a stale one is deleted, one that is not
	// is swapped to the end, until only min could remain.
	revsOrder := append([]int(nil), idle...)
	sort.SliceStable(revsOrder, func(a, b int) bool {
		return revs[revsOrder[a]].lastActive.Before(revs[revsOrder[b]].lastActive)
	})
	swap, maxIdx := len(revsOrder), len(revsOrder)-min
	for i := 0; i < swap; {
		if i >= maxIdx {
			return out
		}
		if v := &out[revsOrder[i]]; !v.at.IsZero() && !now.Before(v.at) {
			v.collect = true
			i++
			continue
		}
		swap--
		revsOrder[i], revsOrder[swap] = revsOrder[swap], revsOrder[i]
	}
	left := revsOrder[swap:]
	if max == api.Disabled || len(left) <= max {
		return out
	}
	// Knative deletes left[max:] as its walk left them, which is not by
	// activity (five kept ones, max 2: it keeps the 2nd and 3rd least
	// recently active); wake deletes the least recently active, as
	// Knative's log line says it does.
	sort.SliceStable(left, func(a, b int) bool { return revs[left[a]].lastActive.Before(revs[left[b]].lastActive) })
	for _, i := range left[:len(left)-max] {
		out[i].collect = true
	}
	return out
}

// staleAt is when r becomes stale under cfg: the later of its creation
// plus RetainSinceCreateTime and its last activity plus
// RetainSinceLastActiveTime; zero when both are Disabled.
func staleAt(cfg api.RevisionGC, r gcCandidate) time.Time {
	var at time.Time
	if cfg.RetainSinceCreateTime == api.Disabled && cfg.RetainSinceLastActiveTime == api.Disabled {
		return at
	}
	if cfg.RetainSinceCreateTime != api.Disabled {
		at = r.created.Add(cfg.RetainSinceCreateTime)
	}
	if cfg.RetainSinceLastActiveTime != api.Disabled {
		if t := r.lastActive.Add(cfg.RetainSinceLastActiveTime); t.After(at) {
			at = t
		}
	}
	return at
}
