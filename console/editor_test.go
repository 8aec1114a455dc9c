package console

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
)

func TestEditorHasOneRowPerRevision(t *testing.T) {
	yes := true
	latest := func(percent int64, tag string) api.TrafficTarget {
		return api.TrafficTarget{LatestRevision: &yes, Percent: &percent, Tag: tag}
	}
	withSpec := func(latestReady, latestCreated string, spec ...api.TrafficTarget) *api.Function {
		fn := function(readyTrue)
		fn.Spec.Traffic = spec
		fn.Status.LatestReadyRevisionName, fn.Status.LatestCreatedRevisionName = latestReady, latestCreated
		return fn
	}
	two := []*api.Revision{rev("hello-00001", readyTrue), rev("hello-00002", readyTrue)}
	none := []string{}
	tests := []struct {
		name string
		fn   *api.Function
		revs []*api.Revision
		want []targetView
	}{{
		name: "all on @latest: the latest revision's row follows it",
		fn:   withSpec("hello-00002", "hello-00002", latest(100, "")),
		revs: two,
		want: []targetView{
			{Key: "hello-00001", Revision: "hello-00001", Tags: none},
			{Key: "hello-00002", Revision: "hello-00002", Latest: true, CanFollow: true, Percent: 100, Tags: none},
		},
	}, {
		name: "a canary on @latest, the rest pinned",
		fn:   withSpec("hello-00002", "hello-00002", share("hello-00001", 90, ""), latest(10, "canary")),
		revs: two,
		want: []targetView{
			{Key: "hello-00001", Revision: "hello-00001", Percent: 90, Tags: none},
			{Key: "hello-00002", Revision: "hello-00002", Latest: true, CanFollow: true, Percent: 10, Tags: []string{"canary"}},
		},
	}, {
		name: "pinned: the latest may be switched to follow @latest",
		fn:   withSpec("hello-00002", "hello-00002", share("hello-00001", 30, ""), share("hello-00002", 70, "")),
		revs: two,
		want: []targetView{
			{Key: "hello-00001", Revision: "hello-00001", Percent: 30, Tags: none},
			{Key: "hello-00002", Revision: "hello-00002", CanFollow: true, Percent: 70, Tags: none},
		},
	}, {
		name: "no revision ready: @latest is the latest created",
		fn:   withSpec("", "hello-00001", latest(100, "")),
		revs: []*api.Revision{rev("hello-00001", deploying)},
		want: []targetView{{Key: "hello-00001", Revision: "hello-00001", Latest: true, CanFollow: true, Percent: 100, Tags: none}},
	}, {
		name: "the same revision pinned and as @latest: two rows, as the spec says",
		fn:   withSpec("hello-00002", "hello-00002", share("hello-00002", 40, ""), latest(60, "")),
		revs: two,
		want: []targetView{
			{Key: "hello-00001", Revision: "hello-00001", Tags: none},
			{Key: "hello-00002", Revision: "hello-00002", Percent: 40, Tags: none},
			{Key: "@latest", Revision: "hello-00002", Latest: true, Percent: 60, Tags: none},
		},
	}, {
		name: "a revision gone since the spec named it",
		fn:   withSpec("hello-00002", "hello-00002", share("hello-00000", 50, ""), latest(50, "")),
		revs: two,
		want: []targetView{
			{Key: "hello-00001", Revision: "hello-00001", Tags: none},
			{Key: "hello-00002", Revision: "hello-00002", Latest: true, CanFollow: true, Percent: 50, Tags: none},
			{Key: "hello-00000", Revision: "hello-00000", Percent: 50, Tags: none},
		},
	}, {
		name: "no revision yet",
		fn:   withSpec("", "", latest(100, "")),
		want: []targetView{{Key: "@latest", Latest: true, Percent: 100, Tags: none}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, editorTargets(tc.fn, tc.revs)); diff != "" {
				t.Errorf("editorTargets (-want +got):\n%s", diff)
			}
		})
	}
}
