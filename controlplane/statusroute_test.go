package controlplane

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/router"
)

// TestRouteFromStatus checks that a gateway rebuilding a route from a
// Function's status, as the control plane derives it (withStatusLocked)
// and the API server stores it (JSON), gets exactly the route
// resolveTraffic gave the control plane's router.
func TestRouteFromStatus(t *testing.T) {
	latest := func(pct int64, tag string) api.TrafficTarget {
		return api.TrafficTarget{LatestRevision: ptr(true), Percent: ptr(pct), Tag: tag}
	}
	named := func(rev string, pct int64, tag string) api.TrafficTarget {
		return api.TrafficTarget{RevisionName: rev, LatestRevision: ptr(false), Percent: ptr(pct), Tag: tag}
	}
	rollout := func(phase string, canaryPct int64) *api.RolloutStatus {
		return &api.RolloutStatus{Phase: phase, Stable: "hello-00001", Canary: "hello-00002", CanaryPercent: canaryPct}
	}
	tests := []struct {
		name        string
		traffic     []api.TrafficTarget // nil: the default, 100% to the latest
		ready       []bool              // per revision, oldest first: hello-00001, ...
		ro          *api.RolloutStatus
		annotations map[string]string
		want        router.Route // checked only where not zero, besides the equality
	}{
		{name: "plain latest", ready: []bool{true, true}},
		{name: "no revision yet"},
		{name: "none ready: the latest created stands in", ready: []bool{false}},
		{name: "90/10 split with a tag", ready: []bool{true, true},
			traffic: []api.TrafficTarget{named("hello-00001", 90, ""), latest(10, "next")}},
		{name: "tags at 0%", ready: []bool{true, true},
			traffic: []api.TrafficTarget{latest(100, "current"), named("hello-00001", 0, "old")}},
		{name: "progressing rollout", ready: []bool{true, true}, ro: rollout(api.RolloutProgressing, 30),
			want: router.Route{Aliases: map[string]string{"canary": "hello-00002", "stable": "hello-00001"}}},
		{name: "paused rollout under a split and a tag", ready: []bool{true, true, true}, ro: &api.RolloutStatus{
			Phase: api.RolloutPaused, Stable: "hello-00002", Canary: "hello-00003", CanaryPercent: 51},
			traffic: []api.TrafficTarget{named("hello-00001", 20, "first"), latest(80, "next")}},
		{name: "progressing rollout at 0%: the canary is out of status", ready: []bool{true, true},
			ro:   rollout(api.RolloutProgressing, 0),
			want: router.Route{Aliases: map[string]string{"canary": "hello-00002", "stable": "hello-00001"}}},
		{name: "rolled-back rollout", ready: []bool{true, true}, ro: rollout(api.RolloutRolledBack, 0)},
		{name: "aborted rollout with a tag on latest", ready: []bool{true, true}, ro: rollout(api.RolloutAborted, 40),
			traffic: []api.TrafficTarget{latest(100, "next")}},
		{name: "succeeded rollout", ready: []bool{true, true}, ro: rollout(api.RolloutSucceeded, 100)},
		{name: "rollout of a revision no longer the latest", ready: []bool{true, true, true}, ro: rollout(api.RolloutProgressing, 30)},
		{name: "rollout whose canary is not ready yet", ready: []bool{true, false}, ro: rollout(api.RolloutProgressing, 30)},
		{name: "sticky off", ready: []bool{true, true},
			traffic:     []api.TrafficTarget{named("hello-00001", 50, ""), latest(50, "")},
			annotations: map[string]string{AnnotationStickySessions: "false"}},
		{name: "sticky on", ready: []bool{true, true},
			traffic:     []api.TrafficTarget{named("hello-00001", 50, ""), latest(50, "")},
			annotations: map[string]string{AnnotationStickySessions: "true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{Domain: "example.com"})
			fn := &api.Function{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello", Generation: 3, Annotations: tc.annotations}}
			fn.Spec.Traffic = tc.traffic
			fn.SetDefaults()
			fn.Status.Rollout = tc.ro
			var revs []*api.Revision
			for i, ready := range tc.ready {
				rev := &api.Revision{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: api.RevisionName("hello", int64(i+1)),
					Labels: map[string]string{api.LabelFunction: "hello", api.LabelGeneration: strconv.Itoa(i + 1)}}}
				status := api.ConditionUnknown
				if ready {
					status = api.ConditionTrue
				}
				rev.Status.Conditions = []api.Condition{{Type: api.ConditionReady, Status: status}}
				c.putRevisionLocked(rev)
				revs = append(revs, rev)
			}
			c.fns[fn.Key()] = fn
			sortRevisions(revs)
			want, _ := resolveTraffic(fn, revs, tc.ro, nil)
			got := RouteFromStatus(throughAPIServer(t, c.withStatusLocked(fn, nil)))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("RouteFromStatus differs from resolveTraffic (-want +got):\n%s", diff)
			}
			if tc.want.Aliases != nil {
				if diff := cmp.Diff(tc.want.Aliases, got.Aliases); diff != "" {
					t.Errorf("aliases (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestRouteFromStatusOfANewerSpec checks that a spec changed after the
// status was written does not mix into the route: the status is what the
// controller routes by until it reconciles the new generation.
func TestRouteFromStatusOfANewerSpec(t *testing.T) {
	fn := &api.Function{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello", Generation: 4}}
	fn.Spec.Traffic = []api.TrafficTarget{{LatestRevision: ptr(true), Percent: ptr[int64](0)}}
	fn.Status = api.FunctionStatus{
		ObservedGeneration: 3, LatestReadyRevisionName: "hello-00002",
		Traffic: []api.TrafficTarget{{RevisionName: "hello-00001", LatestRevision: ptr(false), Percent: ptr[int64](100)}},
		Rollout: &api.RolloutStatus{Phase: api.RolloutProgressing, Stable: "hello-00001", Canary: "hello-00002"},
	}
	got := RouteFromStatus(fn)
	want := router.Route{Function: fn.Key(), Sticky: true, Targets: []router.Target{{Revision: "hello-00001", Percent: 100}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// throughAPIServer returns fn as a client reads it back: through JSON.
func throughAPIServer(t *testing.T, fn *api.Function) *api.Function {
	t.Helper()
	b, err := json.Marshal(fn)
	if err != nil {
		t.Fatal(err)
	}
	out := &api.Function{}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
