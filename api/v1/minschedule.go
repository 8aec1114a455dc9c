package v1

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// AnnotationMinScaleSchedule raises a revision's minimum scale at times of
// day, on spec.template.metadata.annotations next to Knative's autoscaling
// annotations. Its value is entries separated by ";" or new lines, each
//
//	SCHEDULE for DURATION -> MIN
//
// e.g. "50 19 * * * for 2h -> 10; CRON_TZ=Europe/Paris 0 8 * * 1-5 for 10h -> 2".
// SCHEDULE is wake's cron dialect (see ParseSchedule) with an optional
// CRON_TZ= or TZ= prefix naming its zone (UTC when none); an entry holds
// at least MIN instances for DURATION after each time it fires. The
// minimum in force is the largest of min-scale and the MIN of every entry
// holding.
const AnnotationMinScaleSchedule = "wake.dev/min-scale-schedule"

// MinScaleSchedule is a parsed min-scale-schedule annotation. The zero
// value, and nil, hold nothing.
type MinScaleSchedule struct {
	Value   string // the annotation as written
	Entries []MinScaleEntry
}

// MinScaleEntry is one "SCHEDULE for DURATION -> MIN" of a schedule.
type MinScaleEntry struct {
	Schedule string        // as written, with its zone prefix
	For      time.Duration // how long each fire holds
	Min      int32         // the count held

	loc   *time.Location
	sched cron.Schedule
}

// String returns the annotation as written.
func (s *MinScaleSchedule) String() string {
	if s == nil {
		return ""
	}
	return s.Value
}

// Active reports whether the entry holds at t: its schedule fired in
// (t-For, t].
func (e *MinScaleEntry) Active(t time.Time) bool {
	if e.sched == nil {
		return false
	}
	from := t.Add(-e.For).In(e.loc)
	next := e.sched.Next(from)
	return !next.IsZero() && !next.After(t)
}

// At returns the highest MIN of the entries holding at t, and which entry
// holds it (1-based, the first of equals); 0, 0 when none holds. Its cost
// is one cron Next per entry: cheap enough for every decision of every
// revision.
func (s *MinScaleSchedule) At(t time.Time) (min int32, entry int) {
	if s == nil {
		return 0, 0
	}
	for i := range s.Entries {
		e := &s.Entries[i]
		if e.Min > min && e.Active(t) {
			min, entry = e.Min, i+1
		}
	}
	return min, entry
}

// ParseMinScaleSchedule parses a min-scale-schedule annotation. maxScale,
// when positive, bounds every MIN. Each problem is reported under path
// (the annotation's own path), naming the entry (1-based) and what is
// wrong with it.
func ParseMinScaleSchedule(value string, maxScale int32, path *field.Path) (*MinScaleSchedule, field.ErrorList) {
	var errs field.ErrorList
	s := &MinScaleSchedule{Value: value}
	n := 0
	for _, part := range strings.FieldsFunc(value, func(r rune) bool { return r == ';' || r == '\n' }) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n++
		e, err := parseMinScaleEntry(part, maxScale)
		if err != nil {
			errs = append(errs, field.Invalid(path, value, fmt.Sprintf("entry %d (%q): %s", n, part, err)))
			continue
		}
		s.Entries = append(s.Entries, e)
	}
	if n == 0 {
		errs = append(errs, field.Invalid(path, value,
			`must list at least one entry "SCHEDULE for DURATION -> MIN", e.g. "0 8 * * 1-5 for 10h -> 2"`))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// parseMinScaleEntry parses "SCHEDULE for DURATION -> MIN".
func parseMinScaleEntry(entry string, maxScale int32) (MinScaleEntry, error) {
	left, right, ok := cutLast(entry, "->")
	if !ok {
		return MinScaleEntry{}, fmt.Errorf(`must be "SCHEDULE for DURATION -> MIN": no "->"`)
	}
	words := strings.Fields(left)
	if len(words) < 3 || words[len(words)-2] != "for" {
		return MinScaleEntry{}, fmt.Errorf(`must be "SCHEDULE for DURATION -> MIN": no "for DURATION" before "->"`)
	}
	e := MinScaleEntry{Schedule: strings.Join(words[:len(words)-2], " ")}

	minStr := strings.TrimSpace(right)
	m, err := strconv.ParseInt(minStr, 10, 32)
	switch {
	case err != nil || m < 0:
		return e, fmt.Errorf("MIN %q must be a whole number of instances, 0 or more", minStr)
	case m > MaxScaleLimit:
		return e, fmt.Errorf("MIN %d must be at most %d (the max-scale-limit)", m, MaxScaleLimit)
	case maxScale > 0 && m > int64(maxScale):
		return e, fmt.Errorf("MIN %d must be at most max-scale (%d)", m, maxScale)
	}
	e.Min = int32(m)

	durStr := words[len(words)-1]
	if e.For, err = time.ParseDuration(durStr); err != nil {
		return e, fmt.Errorf("DURATION %q must be a duration such as 90s or 2h", durStr)
	}
	if e.For < time.Second {
		return e, fmt.Errorf("DURATION %s must be at least 1s", durStr)
	}

	spec, zone := e.Schedule, "UTC"
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		prefix, rest, _ := strings.Cut(spec, " ")
		_, zone, _ = strings.Cut(prefix, "=")
		spec = strings.TrimSpace(rest)
		if zone == "" || zone == "Local" {
			return e, fmt.Errorf("%s must name an IANA time zone such as Europe/Paris or UTC", prefix)
		}
	}
	if e.loc, err = time.LoadLocation(zone); err != nil {
		return e, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Paris)", zone)
	}
	if spec == "" {
		return e, fmt.Errorf("has a time zone but no schedule")
	}
	if strings.HasPrefix(spec, "@every") {
		return e, fmt.Errorf("%q is not anchored to the clock: use a cron schedule such as \"*/30 * * * *\" or a descriptor such as @hourly", spec)
	}
	if e.sched, err = ParseSchedule(spec); err != nil {
		return e, fmt.Errorf("SCHEDULE %q must be a cron schedule ([seconds] minute hour day-of-month month day-of-week, or a descriptor such as @daily): %v", spec, err)
	}
	// Evaluate in the entry's zone whatever zone the time asked about is in.
	if ss, ok := e.sched.(*cron.SpecSchedule); ok {
		ss.Location = e.loc
	}
	return e, nil
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
