package v1

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestMinScaleScheduleAt(t *testing.T) {
	s, errs := ParseMinScaleSchedule("50 19 * * * for 2h -> 10; CRON_TZ=Europe/Paris 0 8 * * 1-5 for 10h -> 2\n"+
		"*/20 * * * * * for 8s -> 3;", 0, field.NewPath("a"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(s.Entries) != 3 || s.Entries[0].Min != 10 || s.Entries[0].For != 2*time.Hour || s.Entries[1].Schedule != "CRON_TZ=Europe/Paris 0 8 * * 1-5" {
		t.Fatalf("entries: %+v", s.Entries)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	// The seconds entry holds at :00-:07, :20-:27 and :40-:47 of every
	// minute: times meant for the other entries avoid those.
	tests := []struct {
		name      string
		at        time.Time
		wantMin   int32
		wantEntry int
	}{
		{"before the evening window", utc("2026-11-23T19:49:59Z"), 0, 0},
		{"evening window opens", utc("2026-11-23T19:50:00Z"), 10, 1},
		{"evening window, last instant", utc("2026-11-23T21:49:59Z"), 10, 1},
		{"evening window closed", utc("2026-11-23T21:50:10Z"), 0, 0},
		// 08:00 in Paris is 07:00 UTC in November.
		{"Paris morning, 07:00 UTC", utc("2026-11-23T07:00:10Z"), 2, 2},
		{"06:59 UTC is before 08:00 in Paris", utc("2026-11-23T06:59:59Z"), 0, 0},
		{"a time given in Paris", time.Date(2026, 11, 23, 17, 59, 10, 0, paris), 2, 2},
		{"Paris closes at 18:00 local", time.Date(2026, 11, 23, 18, 0, 10, 0, paris), 0, 0},
		{"Saturday: no Paris entry", utc("2026-11-28T09:00:10Z"), 0, 0},
		{"seconds field: a 20s fire holds 8s", utc("2026-11-28T12:00:27Z"), 3, 3},
		{"seconds field: closed after 8s", utc("2026-11-28T12:00:28Z"), 0, 0},
		{"overlap takes the max", utc("2026-11-23T20:00:41Z"), 10, 1},
		{"overlap: Paris and the 20s entry", utc("2026-11-23T10:00:05Z"), 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, e := s.At(tt.at)
			if m != tt.wantMin || e != tt.wantEntry {
				t.Errorf("At(%v) = %d, entry %d; want %d, entry %d", tt.at, m, e, tt.wantMin, tt.wantEntry)
			}
		})
	}
	var none *MinScaleSchedule
	if m, e := none.At(time.Now()); m != 0 || e != 0 || none.String() != "" {
		t.Errorf("nil schedule holds %d (entry %d)", m, e)
	}
}

func TestMinScaleScheduleDST(t *testing.T) {
	// 02:30 in New York does not exist on 2026-03-08; robfig fires at the
	// first instant after the gap. The entry still holds for its DURATION.
	s, errs := ParseMinScaleSchedule("TZ=America/New_York 0 9 * * * for 1h -> 4", 0, field.NewPath("a"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	// 09:00 EDT (after the switch) is 13:00 UTC; 09:00 EST before is 14:00 UTC.
	for _, c := range []struct {
		at   string
		want int32
	}{{"2026-03-09T13:30:00Z", 4}, {"2026-03-09T14:30:00Z", 0}, {"2026-03-06T14:30:00Z", 4}, {"2026-03-06T13:30:00Z", 0}} {
		at, _ := time.Parse(time.RFC3339, c.at)
		if m, _ := s.At(at); m != c.want {
			t.Errorf("At(%s) = %d, want %d", c.at, m, c.want)
		}
	}
}

func TestMinScaleScheduleErrors(t *testing.T) {
	path := field.NewPath("spec", "template", "metadata", "annotations").Key(AnnotationMinScaleSchedule)
	tests := []struct {
		name, value string
		maxScale    int32
		want        string
	}{
		{"empty", " ; ", 0, "must list at least one entry"},
		{"no arrow", "0 8 * * * for 1h", 0, `entry 1 ("0 8 * * * for 1h"): must be "SCHEDULE for DURATION -> MIN": no "->"`},
		{"no for", "0 8 * * * -> 2", 0, `entry 1 ("0 8 * * * -> 2"): must be "SCHEDULE for DURATION -> MIN": no "for DURATION"`},
		{"bad min", "0 8 * * * for 1h -> many", 0, `MIN "many" must be a whole number of instances, 0 or more`},
		{"negative min", "0 8 * * * for 1h -> -1", 0, `MIN "-1" must be a whole number`},
		{"above max-scale", "0 8 * * * for 1h -> 5", 3, "MIN 5 must be at most max-scale (3)"},
		{"above the limit", "0 8 * * * for 1h -> 1001", 0, "MIN 1001 must be at most 1000 (the max-scale-limit)"},
		{"bad duration", "0 8 * * * for ages -> 1", 0, `DURATION "ages" must be a duration`},
		{"short duration", "0 8 * * * for 500ms -> 1", 0, "DURATION 500ms must be at least 1s"},
		{"bad schedule", "0 25 * * * for 1h -> 1", 0, `SCHEDULE "0 25 * * *" must be a cron schedule`},
		{"never fires", "0 0 30 2 * for 1h -> 1", 0, "never fires"},
		{"every", "@every 1h for 10m -> 1", 0, `"@every 1h" is not anchored to the clock`},
		{"bad zone", "CRON_TZ=Mars/Olympus 0 8 * * * for 1h -> 1", 0, `unknown time zone "Mars/Olympus"`},
		{"local zone", "TZ=Local 0 8 * * * for 1h -> 1", 0, "TZ=Local must name an IANA time zone"},
		{"second entry named", "0 8 * * * for 1h -> 1\n0 9 * * * for 1x -> 1", 0, `entry 2 ("0 9 * * * for 1x -> 1")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, errs := ParseMinScaleSchedule(tt.value, tt.maxScale, path)
			if len(errs) != 1 || s != nil {
				t.Fatalf("got %v, %v; want one error", s, errs)
			}
			got := errs[0].Error()
			if !strings.HasPrefix(got, "spec.template.metadata.annotations[wake.dev/min-scale-schedule]: Invalid value: ") || !strings.Contains(got, tt.want) {
				t.Errorf("error %q, want the annotation's path and %q", got, tt.want)
			}
		})
	}
}

func TestParseScalingMinScaleSchedule(t *testing.T) {
	path := field.NewPath("spec", "template", "metadata", "annotations")
	s, errs := ParseScaling(map[string]string{AnnotationMinScaleSchedule: "0 8 * * * for 1h -> 2", AnnotationMaxScale: "4"}, 0, path)
	if len(errs) > 0 || s.MinScaleSchedule == nil || s.MinScaleSchedule.Entries[0].Min != 2 {
		t.Fatalf("ParseScaling: %+v %v", s.MinScaleSchedule, errs)
	}
	_, errs = ParseScaling(map[string]string{AnnotationMinScaleSchedule: "0 8 * * * for 1h -> 5", AnnotationMaxScale: "4"}, 0, path)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "entry 1") || !strings.Contains(errs[0].Error(), "max-scale (4)") {
		t.Errorf("MIN above max-scale: %v", errs)
	}
}

func FuzzParseMinScaleSchedule(f *testing.F) {
	f.Add("50 19 * * * for 2h -> 10; CRON_TZ=Europe/Paris 0 8 * * 1-5 for 10h -> 2")
	f.Add("->->; for for -> 1\n@daily for 1s -> 0")
	f.Fuzz(func(t *testing.T, v string) {
		s, errs := ParseMinScaleSchedule(v, 0, field.NewPath("a"))
		if (s == nil) == (len(errs) == 0) {
			t.Fatalf("%q: schedule %v with errors %v", v, s, errs)
		}
		s.At(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	})
}

func ExampleParseMinScaleSchedule() {
	s, errs := ParseMinScaleSchedule("50 19 * * * for 2h -> 10; CRON_TZ=Europe/Paris 0 8 * * 1-5 for 10h -> 2",
		0, field.NewPath("spec", "template", "metadata", "annotations").Key(AnnotationMinScaleSchedule))
	if len(errs) > 0 {
		panic(errs)
	}
	for _, at := range []string{"2026-11-23T07:30:00Z", "2026-11-23T20:00:00Z", "2026-11-23T22:00:00Z"} {
		t, _ := time.Parse(time.RFC3339, at)
		min, entry := s.At(t)
		fmt.Printf("%s: at least %d (entry %d)\n", at, min, entry)
	}
	_, errs = ParseMinScaleSchedule("@every 1h for 10m -> 3", 0, field.NewPath("spec", "template", "metadata", "annotations").Key(AnnotationMinScaleSchedule))
	fmt.Println(errs[0])
	// Output:
	// 2026-11-23T07:30:00Z: at least 2 (entry 2)
	// 2026-11-23T20:00:00Z: at least 10 (entry 1)
	// 2026-11-23T22:00:00Z: at least 0 (entry 0)
	// spec.template.metadata.annotations[wake.dev/min-scale-schedule]: Invalid value: "@every 1h for 10m -> 3": entry 1 ("@every 1h for 10m -> 3"): "@every 1h" is not anchored to the clock: use a cron schedule such as "*/30 * * * *" or a descriptor such as @hourly
}
