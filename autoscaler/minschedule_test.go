package autoscaler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
)

// t0 is 12:00:00.3 UTC on a Saturday; the schedules below fire a minute
// or two later.

func TestMinScaleScheduleDecider(t *testing.T) {
	s := time.Second
	tests := []struct {
		name        string
		ann         map[string]string
		unreachable bool
		until       time.Duration
		want        []change
	}{{
		// Both entries hold from 12:01:30 to 12:02:00; the larger wins. When
		// the last closes, the count falls by the down rate (5 → 2 → 1),
		// then to zero at the first decision that finds the 6s window's
		// average 0.
		name: "overlapping entries take the max, then the usual way down",
		ann: map[string]string{api.AnnotationWindow: "6s",
			api.AnnotationMinScaleSchedule: "0 1 12 * * * for 60s -> 2; 30 1 12 * * * for 60s -> 5"},
		until: 240 * s,
		want:  []change{{0, 0}, {60 * s, 2}, {90 * s, 5}, {150 * s, 2}, {152 * s, 1}, {154 * s, 0}},
	}, {
		// The scale-down delay remembers what the schedule held: 4 stays 30s
		// after the window closes at 12:01:20, each step down waits as long.
		name: "scale-down-delay applies when the window closes",
		ann: map[string]string{api.AnnotationWindow: "6s", api.AnnotationScaleDownDelay: "30s",
			api.AnnotationMinScaleSchedule: "0 1 12 * * * for 20s -> 4"},
		until: 240 * s,
		want:  []change{{0, 0}, {60 * s, 4}, {108 * s, 2}, {138 * s, 1}, {168 * s, 0}},
	}, {
		// 13:01 in Paris is 12:01 UTC in March; read as UTC the entry would
		// hold an hour later.
		name: "an entry's zone",
		ann: map[string]string{api.AnnotationWindow: "6s",
			api.AnnotationMinScaleSchedule: "CRON_TZ=Europe/Paris 0 1 13 * * * for 10s -> 3\nTZ=UTC 0 1 13 * * * for 10s -> 7"},
		until: 120 * s,
		want:  []change{{0, 0}, {60 * s, 3}, {70 * s, 1}, {72 * s, 0}},
	}, {
		name:        "no route reaches it: the schedule does not hold, as min-scale",
		ann:         map[string]string{api.AnnotationMinScaleSchedule: "0 1 12 * * * for 60s -> 2"},
		unreachable: true,
		until:       120 * s,
		want:        []change{{0, 0}},
	}, {
		name: "max-scale from the server caps an entry",
		ann: map[string]string{api.AnnotationWindow: "6s", api.AnnotationMaxScale: "3",
			api.AnnotationMinScaleSchedule: "0 1 12 * * * for 10s -> 3"},
		until: 64 * s,
		want:  []change{{0, 0}, {60 * s, 3}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, decisions := simulation{spec: spec(t, tt.ann, 0), until: tt.until, unreachable: tt.unreachable}.run()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
				for _, d := range decisions {
					t.Logf("%v %s", d.At.Sub(t0), d.Reason())
				}
			}
		})
	}
}

func TestMinScaleScheduleReasons(t *testing.T) {
	sp := spec(t, map[string]string{api.AnnotationMinScale: "1", api.AnnotationMinScaleSchedule: "0 1 12 * * * for 10s -> 3"}, 0)
	d := NewDecider(sp, t0, false)
	if d.Desired() != 1 {
		t.Fatalf("starts at %d, want min-scale 1", d.Desired())
	}
	at := t0.Add(60 * time.Second)
	d.Record(at, Sample{Ready: 1})
	dec := d.Decide(at)
	if dec.Desired != 3 || !strings.Contains(dec.Reason(), "min-scale-schedule entry 1 holds ≥ 3") {
		t.Errorf("in the window: %s", dec.Reason())
	}
	if n, e := d.EffectiveMinScale(at); n != 3 || e != 1 {
		t.Errorf("EffectiveMinScale = %d, entry %d; want 3, entry 1", n, e)
	}
	// A wake in the window asks for at least what the schedule holds.
	if a := d.Activate(at.Add(time.Second), 1); a.Desired != 3 {
		t.Errorf("activation in the window: %s", a.Reason())
	}
	if n, e := d.EffectiveMinScale(at.Add(20 * time.Second)); n != 1 || e != 0 {
		t.Errorf("after the window EffectiveMinScale = %d, entry %d; want min-scale 1", n, e)
	}
	d.SetReachable(false)
	later := at.Add(4 * time.Second)
	d.Record(later, Sample{Ready: 3})
	if dec := d.Decide(later); !strings.Contains(dec.Reason(), "no route reaches it") {
		t.Errorf("unreachable in the window: %s", dec.Reason())
	}
	// A revision created in a window starts at the schedule's count.
	if d := NewDecider(sp, at, false); d.Desired() != 3 {
		t.Errorf("adopted in the window: starts at %d, want 3", d.Desired())
	}
}

// A revision at zero is decided at every decision tick, so a window that
// opens with no traffic scales it up; when it closes the revision goes
// back to zero as an idle revision does, at the first decision that finds
// its window's average 0.
func TestMinScaleScheduleInTheLoop(t *testing.T) {
	h := newHarness(t)
	h.run()
	rev := newRevision("hello-00001", map[string]string{
		api.AnnotationWindow:           "6s",
		api.AnnotationMinScaleSchedule: "CRON_TZ=Europe/Paris 0 2 13 * * * for 20s -> 3",
	})
	h.a.Upsert(rev, UpsertOptions{})
	h.flush()
	h.advance(119 * time.Second)
	h.wantCalls(scaleCall{"hello-00001", 0, 0})
	if st, _ := h.a.Status(keyA, false); st.EffectiveMinScale != 0 {
		t.Errorf("before the window EffectiveMinScale = %d", st.EffectiveMinScale)
	}
	h.advance(1 * time.Second) // 12:02:00.3 UTC, 13:02:00.3 in Paris
	h.wantCalls(scaleCall{"hello-00001", 0, 0}, scaleCall{"hello-00001", 3, 120 * time.Second})
	st, _ := h.a.Status(keyA, true)
	if st.EffectiveMinScale != 3 || st.MinScaleEntry != 1 || !strings.Contains(st.Last.Reason(), "min-scale-schedule entry 1 holds ≥ 3") {
		t.Errorf("in the window: effective %d, entry %d, reason %q", st.EffectiveMinScale, st.MinScaleEntry, st.Last.Reason())
	}
	h.advance(80 * time.Second)
	h.wantCalls(scaleCall{"hello-00001", 0, 0}, scaleCall{"hello-00001", 3, 120 * time.Second},
		scaleCall{"hello-00001", 1, 140 * time.Second}, scaleCall{"hello-00001", 0, 142 * time.Second})
}
