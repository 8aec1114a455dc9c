package cron

import (
	"errors"
	"fmt"
	"strings"
	"time"

	robfig "github.com/robfig/cron/v3"

	api "github.com/wakefn/wake/api/v1"
)

// ErrInvalidSchedule is wrapped by every error ParseSchedule returns.
var ErrInvalidSchedule = errors.New("invalid cron schedule")

// Schedule is a parsed cron expression in a time zone. The zero Schedule
// never fires.
type Schedule struct {
	expr string
	loc  *time.Location
	s    robfig.Schedule
}

// ParseSchedule parses a cron expression:
//
//   - 5 fields "minute hour day-of-month month day-of-week", or 6 with a
//     leading seconds field;
//   - a descriptor: @yearly, @annually, @monthly, @weekly, @daily,
//     @midnight, @hourly, or "@every DURATION" (at least 1s, whole seconds);
//   - optionally prefixed by "CRON_TZ=ZONE " or "TZ=ZONE ".
//
// timezone is an IANA zone name such as "America/New_York"; "" means UTC,
// unless the expression carries a CRON_TZ= prefix. Setting both is an error,
// as in Knative's PingSource. "Local" is refused: a trigger must not change
// meaning with the host it runs on.
func ParseSchedule(expr, timezone string) (Schedule, error) {
	spec := strings.TrimSpace(expr)
	if spec == "" {
		return Schedule{}, fmt.Errorf("%w: schedule is empty", ErrInvalidSchedule)
	}
	zone := timezone
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		prefix, rest, _ := strings.Cut(spec, " ")
		_, name, _ := strings.Cut(prefix, "=")
		if timezone != "" {
			return Schedule{}, fmt.Errorf("%w: %q sets the zone with %s and timezone is %q: set only one",
				ErrInvalidSchedule, expr, prefix, timezone)
		}
		if name == "" {
			return Schedule{}, fmt.Errorf("%w: %q: %s names no time zone", ErrInvalidSchedule, expr, prefix)
		}
		zone, spec = name, strings.TrimSpace(rest)
		if spec == "" {
			return Schedule{}, fmt.Errorf("%w: %q has a time zone but no schedule", ErrInvalidSchedule, expr)
		}
	}
	loc, err := loadZone(zone)
	if err != nil {
		return Schedule{}, fmt.Errorf("%w: %q: %w", ErrInvalidSchedule, expr, err)
	}
	parsed, err := api.ParseSchedule(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("%w: %q: %w", ErrInvalidSchedule, expr, err)
	}
	// robfig treats time.Local as "the zone of the time given to Next";
	// pin the zone so the schedule means the same everywhere.
	if spec, ok := parsed.(*robfig.SpecSchedule); ok {
		spec.Location = loc
	}
	return Schedule{expr: expr, loc: loc, s: parsed}, nil
}

func loadZone(name string) (*time.Location, error) {
	switch name {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, errors.New(`time zone "Local" depends on the host: name an IANA zone such as "Europe/Paris"`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as \"America/New_York\")", name)
	}
	return loc, nil
}

// Next returns the first scheduled time strictly after t, in t's location,
// or the zero time if the schedule never fires again.
func (s Schedule) Next(t time.Time) time.Time {
	if s.s == nil {
		return time.Time{}
	}
	n := s.s.Next(t)
	if !n.After(t) { // defensive: a schedule must never return to the past
		return time.Time{}
	}
	return n
}

// IsZero reports whether s is the zero Schedule.
func (s Schedule) IsZero() bool { return s.s == nil }

// Location returns the schedule's time zone.
func (s Schedule) Location() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}

// String returns the expression the schedule was parsed from.
func (s Schedule) String() string { return s.expr }

// Equal reports whether s and o are the same expression in the same zone.
func (s Schedule) Equal(o Schedule) bool {
	return s.expr == o.expr && s.Location().String() == o.Location().String()
}

// maxWalk bounds how many scheduled times one call steps through, so an
// every-second schedule after a year down costs milliseconds, not minutes.
const maxWalk = 10000

// lastIn returns the latest scheduled time in (after, until], and how many
// scheduled times fall in that interval (n is a lower bound when capped).
// ok is false when there is none.
func (s Schedule) lastIn(after, until time.Time) (last time.Time, n int, capped, ok bool) {
	t := s.Next(after)
	if t.IsZero() || t.After(until) {
		return time.Time{}, 0, false, false
	}
	for n = 1; ; n++ {
		nx := s.Next(t)
		if nx.IsZero() || nx.After(until) {
			return t, n, false, true
		}
		if n >= maxWalk {
			break
		}
		t = nx
	}
	// Too many to walk: look back from until in doubling windows for the
	// first window holding a scheduled time, and walk only that window.
	for d := time.Second; ; d *= 2 {
		start := until.Add(-d)
		if start.Before(t) {
			start = t
		}
		c := s.Next(start)
		if c.IsZero() || c.After(until) {
			continue // start < t is impossible here: Next(t) <= until.
		}
		for {
			nx := s.Next(c)
			if nx.IsZero() || nx.After(until) {
				return c, n, true, true
			}
			c = nx
		}
	}
}
