package controlplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
)

func TestPlanGC(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ago := func(h int) time.Time { return now.Add(-time.Duration(h) * time.Hour) }
	// idle returns n non-active revisions r1..rn, r1 the least recently
	// active, each created created hours ago and active an hour apart,
	// the newest lastNewest hours ago.
	idle := func(n, created, lastNewest int) []gcCandidate {
		var out []gcCandidate
		for i := 1; i <= n; i++ {
			out = append(out, gcCandidate{name: fmt.Sprintf("r%d", i), created: ago(created), lastActive: ago(lastNewest + n - i)})
		}
		return out
	}
	small := api.RevisionGC{RetainSinceCreateTime: 48 * time.Hour, RetainSinceLastActiveTime: 15 * time.Hour, MinNonActiveRevisions: 2, MaxNonActiveRevisions: 4}
	tests := []struct {
		name string
		cfg  api.RevisionGC
		revs []gcCandidate
		want []string // collected
	}{{
		name: "Knative's defaults keep 20 whatever their age",
		cfg:  api.DefaultRevisionGC,
		revs: idle(20, 1000, 100),
	}, {
		name: "Knative's defaults: the 21st least recently active goes once stale",
		cfg:  api.DefaultRevisionGC,
		revs: idle(21, 1000, 100),
		want: []string{"r1"},
	}, {
		name: "young revisions stay however many: created under 48h ago",
		cfg:  small,
		revs: idle(4, 47, 20),
	}, {
		name: "recently active revisions stay: active under 15h ago",
		cfg:  small,
		revs: append(idle(2, 100, 20), gcCandidate{name: "recent", created: ago(100), lastActive: ago(14)}),
		want: []string{"r1"},
	}, {
		name: "stale ones go while more than min remain",
		cfg:  small,
		revs: idle(4, 100, 20),
		want: []string{"r1", "r2"},
	}, {
		name: "active revisions are never collected nor counted",
		cfg:  small,
		revs: append(idle(2, 100, 20),
			gcCandidate{name: "routed", created: ago(500), lastActive: ago(500), active: "traffic"},
			gcCandidate{name: "tagged", created: ago(500), lastActive: ago(500), active: "tag"},
			gcCandidate{name: "warm", created: ago(500), lastActive: ago(500), active: "instances"},
			gcCandidate{name: "pinned", created: ago(500), lastActive: ago(500), active: "rollout"}),
	}, {
		name: "past max the least recently active go, stale or not",
		cfg:  api.RevisionGC{RetainSinceCreateTime: 48 * time.Hour, RetainSinceLastActiveTime: 15 * time.Hour, MinNonActiveRevisions: 0, MaxNonActiveRevisions: 2},
		revs: idle(5, 1, 0),
		want: []string{"r1", "r2", "r3"},
	}, {
		name: "every setting disabled: nothing goes",
		cfg:  api.RevisionGC{RetainSinceCreateTime: api.Disabled, RetainSinceLastActiveTime: api.Disabled, MinNonActiveRevisions: 0, MaxNonActiveRevisions: api.Disabled},
		revs: idle(50, 1000, 100),
	}, {
		name: "one age setting disabled: the other decides",
		cfg:  api.RevisionGC{RetainSinceCreateTime: api.Disabled, RetainSinceLastActiveTime: time.Hour, MinNonActiveRevisions: 0, MaxNonActiveRevisions: api.Disabled},
		revs: append(idle(1, 1, 2), gcCandidate{name: "fresh", created: ago(1), lastActive: now.Add(-30 * time.Minute)}),
		want: []string{"r1"},
	}, {
		// Knative's walk: r1 (least recently active) is not stale, being
		// young; r2 is, and goes although r1 is older by activity.
		name: "staleness, not activity order, decides who goes under min",
		cfg:  api.RevisionGC{RetainSinceCreateTime: 48 * time.Hour, RetainSinceLastActiveTime: 15 * time.Hour, MinNonActiveRevisions: 1, MaxNonActiveRevisions: 100},
		revs: []gcCandidate{
			{name: "r1", created: ago(20), lastActive: ago(20)},
			{name: "r2", created: ago(100), lastActive: ago(16)},
		},
		want: []string{"r2"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range planGC(now, tt.cfg, tt.revs) {
				if v.collect {
					got = append(got, v.name)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("collected (-want +got)\n%s", d)
			}
		})
	}
}

// A kept revision says when it will go, or why it will not.
func TestPlanGCSaysWhen(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cfg := api.RevisionGC{RetainSinceCreateTime: 48 * time.Hour, RetainSinceLastActiveTime: 15 * time.Hour, MinNonActiveRevisions: 1, MaxNonActiveRevisions: 10}
	got := planGC(now, cfg, []gcCandidate{
		{name: "young", created: now.Add(-time.Hour), lastActive: now.Add(-time.Hour)},
		{name: "old", created: now.Add(-100 * time.Hour), lastActive: now.Add(-10 * time.Hour)},
		{name: "live", created: now.Add(-100 * time.Hour), lastActive: now, active: "traffic"},
	})
	want := []gcVerdict{
		{name: "young", at: now.Add(47 * time.Hour)},
		{name: "old", at: now.Add(5 * time.Hour)},
		{name: "live", kept: "traffic"},
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(gcVerdict{})); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	// Later, both are stale; the one kept by min says so.
	later := planGC(now.Add(50*time.Hour), cfg, []gcCandidate{
		{name: "young", created: now.Add(-time.Hour), lastActive: now.Add(-time.Hour)},
		{name: "old", created: now.Add(-100 * time.Hour), lastActive: now.Add(-10 * time.Hour)},
	})
	if !later[1].collect || later[0].collect || later[0].kept != "min-non-active-revisions" {
		t.Errorf("50h later: %+v", later)
	}
}
