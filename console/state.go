package console

import (
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// What a badge says. The control plane's Ready condition of a function
// follows its latest created revision (Knative's rule), which is not
// always where requests go: a split pinned to an older revision, or a new
// revision not ready yet, leaves the latest without traffic. And a
// revision that served once keeps Ready True while its instances crash
// (ContainerHealthy says so instead). The console says what a request
// meets: the state of the revisions it is routed to, and, beside it, a
// note for a revision that fails where no request goes.

// stateView is a function's badge: Ready is True, False or Unknown, with
// the reason and message of the revision it is about (Revision), or of
// the function itself (Revision empty: its spec was rejected, or it has
// no revision yet).
type stateView struct {
	Ready    string `json:"ready"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	Revision string `json:"revision,omitempty"`
	// Notes are the revisions newer than every one with traffic that
	// fail or are not ready yet, newest first: a deploy that went wrong,
	// or goes on, where no request is sent.
	Notes []noteView `json:"notes,omitempty"`
}

// noteView is a revision with no share of the traffic that is not well:
// "hello-00003 (no traffic): CrashLoopBackOff". Tags, if any, still reach
// it by their own URL.
type noteView struct {
	Revision string   `json:"revision"`
	Tags     []string `json:"tags,omitempty"`
	Ready    string   `json:"ready"`
	Reason   string   `json:"reason,omitempty"`
	Message  string   `json:"message,omitempty"`
}

// revisionState is a revision's badge: Ready=False, and also
// ContainerHealthy=False under a Ready that stays True (it served once and
// its instances now keep failing: requests get a 503), are False with
// that condition's reason and message.
func revisionState(conds []api.Condition) (ready, reason, message string) {
	if c := api.GetCondition(conds, controlplane.ConditionContainerHealthy); c != nil && c.Status == api.ConditionFalse {
		if r := api.GetCondition(conds, api.ConditionReady); r == nil || r.Status != api.ConditionFalse {
			return string(api.ConditionFalse), c.Reason, c.Message
		}
	}
	return readyOf(conds)
}

// functionState decides a function's badge from its Ready condition,
// where its traffic goes (fn.Status.Traffic) and its revisions (revs,
// oldest first, as Platform.Revisions lists them):
//
//  1. A revision with a share of the traffic that fails makes the
//     function False, with the revision's reason and message: requests
//     reach it and fail. Of several, the one with the largest share (the
//     newest of equals).
//  2. Else a function whose spec was rejected is as the control plane
//     says (the older spec serves, and that is worth a red badge).
//  3. Else the function is as the revisions with traffic are: Unknown
//     while one is not ready yet (the first deploy), True when all are.
//     A function with no revision with traffic is as the control plane
//     says.
//
// A revision without traffic never makes the badge; if it is newer than
// every revision with traffic and is not ready, it is a note. An older
// one is history, which the function's page lists with every revision.
func functionState(fn *api.Function, revs []*api.Revision) stateView {
	share, tags := trafficOf(fn)
	var failing, unready *api.Revision
	newestRouted := -1
	for i, r := range revs {
		if share[r.Name] <= 0 {
			continue
		}
		newestRouted = i
		switch ready, _, _ := revisionState(r.Status.Conditions); {
		case ready == string(api.ConditionFalse):
			if failing == nil || share[r.Name] >= share[failing.Name] {
				failing = r
			}
		case ready != string(api.ConditionTrue) && unready == nil:
			unready = r
		}
	}
	var s stateView
	s.Ready, s.Reason, s.Message = readyOf(fn.Status.Conditions)
	rejected := s.Ready == string(api.ConditionFalse) && s.Reason == controlplane.ReasonRejected
	switch {
	case newestRouted < 0:
		return s // nothing routed: as the control plane says, without notes
	case failing != nil:
		s = stateView{Revision: failing.Name}
		s.Ready, s.Reason, s.Message = revisionState(failing.Status.Conditions)
	case rejected:
		// As the control plane says.
	case unready != nil:
		s = stateView{Revision: unready.Name}
		s.Ready, s.Reason, s.Message = revisionState(unready.Status.Conditions)
	default:
		s = stateView{Ready: string(api.ConditionTrue)}
	}
	for i := len(revs) - 1; i > newestRouted; i-- {
		r := revs[i]
		n := noteView{Revision: r.Name, Tags: tags[r.Name]}
		n.Ready, n.Reason, n.Message = revisionState(r.Status.Conditions)
		if n.Ready != string(api.ConditionTrue) {
			s.Notes = append(s.Notes, n)
		}
	}
	return s
}

// trafficOf returns each revision's share of fn's traffic and its tags.
func trafficOf(fn *api.Function) (share map[string]int64, tags map[string][]string) {
	share, tags = map[string]int64{}, map[string][]string{}
	for _, t := range fn.Status.Traffic {
		share[t.RevisionName] += t.PercentOrZero()
		if t.Tag != "" {
			tags[t.RevisionName] = append(tags[t.RevisionName], t.Tag)
		}
	}
	return share, tags
}
