package controlplane

import (
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/router"
)

// RouteFromStatus rebuilds, from a Function as a control plane wrote it
// (its status.traffic, status.rollout and annotations), the route that
// resolveTraffic gave that control plane's own router. It is how the
// gateways of Kubernetes mode route exactly as the controller would
// without its revisions at hand: status.traffic is resolveTraffic's
// output, one target per route target, in the same order.
//
// Two things the status does not carry are taken from elsewhere:
//
//   - Aliases (canary and stable, for the Wake-Revision-Tag header) exist
//     while a rollout is Progressing or Paused and its canary is the
//     revision the latestRevision target resolved to (splitOf's rule).
//     That revision is the status target marked latestRevision. When that
//     target was left out of status because its share and tag were empty
//     (a rollout at 0%, or a latestRevision target of 0% without a tag),
//     the revision is status.latestReadyRevisionName (or, with none ready
//     yet, latestCreatedRevisionName), and whether the spec has a
//     latestRevision target is read from the spec when the status was
//     derived from this very generation.
//   - Sticky comes from the wake.dev/sticky-sessions annotation, on the
//     metadata rather than in status: an annotation change is read at once.
//
// A Function without status.traffic (never reconciled, or no revision yet)
// gives a route without targets, which NewTable gives no host.
func RouteFromStatus(fn *api.Function) router.Route {
	route := router.Route{Function: fn.Key(), Sticky: fn.Annotations[AnnotationStickySessions] != "false"}
	latest, hasLatest := "", false
	for _, t := range fn.Status.Traffic {
		route.Targets = append(route.Targets, router.Target{Revision: t.RevisionName, Percent: int(t.PercentOrZero()), Tag: t.Tag})
		if isTrue(t.LatestRevision) {
			latest, hasLatest = t.RevisionName, true
		}
	}
	if !hasLatest && fn.Status.ObservedGeneration == fn.Generation && specFollowsLatest(fn) {
		latest = fn.Status.LatestReadyRevisionName
		if latest == "" {
			latest = fn.Status.LatestCreatedRevisionName
		}
		hasLatest = latest != ""
	}
	if hasLatest {
		if split, ok := splitOf(fn.Status.Rollout, latest); ok && split.active {
			route.Aliases = map[string]string{"canary": split.canary, "stable": split.stable}
		}
	}
	return route
}

// specFollowsLatest tells whether fn's spec has a latestRevision target.
func specFollowsLatest(fn *api.Function) bool {
	for _, t := range fn.Spec.Traffic {
		if isTrue(t.LatestRevision) {
			return true
		}
	}
	return false
}

func isTrue(b *bool) bool { return b != nil && *b }
