package cron

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST tests need America/New_York on hosts without zoneinfo
)

func mustParse(t testing.TB, expr, tz string) Schedule {
	t.Helper()
	s, err := ParseSchedule(expr, tz)
	if err != nil {
		t.Fatalf("ParseSchedule(%q, %q): %v", expr, tz, err)
	}
	return s
}

func TestParseScheduleNext(t *testing.T) {
	from := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC) // a Wednesday
	tests := []struct {
		name, expr, tz string
		want           time.Time
	}{
		{"five fields", "*/5 * * * *", "", from.Add(5 * time.Minute)},
		{"seconds field", "30 * * * * *", "", from.Add(30 * time.Second)},
		{"descriptor", "@hourly", "", from.Add(time.Hour)},
		{"every", "@every 90s", "", from.Add(90 * time.Second)},
		{"day of week", "0 9 * * MON", "", time.Date(2026, 6, 15, 9, 0, 0, 0, time.UTC)},
		{"timezone argument", "0 9 * * *", "America/New_York", time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC)},
		{"CRON_TZ prefix", "CRON_TZ=Europe/Paris 0 15 * * *", "", time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC)},
		{"TZ prefix", "TZ=Asia/Tokyo 0 0 * * *", "", time.Date(2026, 6, 10, 15, 0, 0, 0, time.UTC)},
		{"explicit UTC", "0 0 * * *", "UTC", time.Date(2026, 6, 11, 0, 0, 0, 0, time.UTC)},
		{"leap day", "0 0 29 2 *", "", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.expr, tt.tz)
			if got := s.Next(from); !got.Equal(tt.want) {
				t.Errorf("Next(%v) = %v, want %v", from, got.UTC(), tt.want)
			}
			if s.String() != tt.expr {
				t.Errorf("String() = %q, want %q", s.String(), tt.expr)
			}
		})
	}
}

func TestParseScheduleErrors(t *testing.T) {
	tests := []struct {
		name, expr, tz string
		want           string // in the message
	}{
		{"empty", "  ", "", "empty"},
		{"four fields", "* * * *", "", "expected 5 to 6 fields, found 4"},
		{"seven fields", "* * * * * * *", "", "found 7"},
		{"minute out of range", "60 * * * *", "", "above maximum"},
		{"bad name", "0 0 * * FUNDAY", "", "FUNDAY"},
		{"unknown descriptor", "@fortnightly", "", "@fortnightly"},
		{"every zero", "@every 0s", "", "at least 1s"},
		{"every negative", "@every -1h", "", "at least 1s"},
		{"every fraction", "@every 1500ms", "", "whole seconds"},
		{"every garbage", "@every soon", "", "wants a duration"},
		{"unknown zone", "0 0 * * *", "Mars/Olympus", `unknown time zone "Mars/Olympus"`},
		{"Local zone", "0 0 * * *", "Local", "depends on the host"},
		{"unknown prefix zone", "CRON_TZ=Nowhere 0 0 * * *", "", `unknown time zone "Nowhere"`},
		{"zone twice", "CRON_TZ=UTC 0 0 * * *", "Europe/Paris", "set only one"},
		{"empty prefix zone", "CRON_TZ= 0 0 * * *", "", "names no time zone"},
		{"zone without schedule", "CRON_TZ=UTC", "", "no schedule"},
		{"never fires", "0 0 30 2 *", "", "never fires"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSchedule(tt.expr, tt.tz)
			if err == nil {
				t.Fatalf("ParseSchedule(%q, %q) = nil error, want one containing %q", tt.expr, tt.tz, tt.want)
			}
			if !errors.Is(err, ErrInvalidSchedule) {
				t.Errorf("error %v does not wrap ErrInvalidSchedule", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestScheduleDST pins robfig's behaviour, which the package doc describes.
func TestScheduleDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := func(mo time.Month, d, h, m int, zone string) time.Time {
		// h:m wall clock in New York with the named offset, to tell the
		// two 01:30s of the fall-back day apart.
		off := map[string]int{"EST": -5, "EDT": -4}[zone]
		return time.Date(2026, mo, d, h-off, m, 0, 0, time.UTC)
	}
	tests := []struct {
		name, expr string
		from       time.Time
		want       []time.Time
	}{
		{"spring forward: 02:30 does not exist that day", "30 2 * * *", at(3, 7, 0, 0, "EST"), []time.Time{
			at(3, 7, 2, 30, "EST"), at(3, 9, 2, 30, "EDT"), at(3, 10, 2, 30, "EDT"),
		}},
		{"spring forward: hourly skips the missing hour", "0 * * * *", at(3, 8, 0, 30, "EST"), []time.Time{
			at(3, 8, 1, 0, "EST"), at(3, 8, 3, 0, "EDT"), at(3, 8, 4, 0, "EDT"),
		}},
		{"fall back: 01:30 happens twice", "30 1 * * *", at(10, 31, 0, 0, "EDT"), []time.Time{
			at(10, 31, 1, 30, "EDT"), at(11, 1, 1, 30, "EDT"), at(11, 1, 1, 30, "EST"), at(11, 2, 1, 30, "EST"),
		}},
		{"fall back: hourly fires each real hour", "0 * * * *", at(11, 1, 0, 30, "EDT"), []time.Time{
			at(11, 1, 1, 0, "EDT"), at(11, 1, 1, 0, "EST"), at(11, 1, 2, 0, "EST"),
		}},
		{"fall back: 02:30 once", "30 2 * * *", at(11, 1, 0, 0, "EDT"), []time.Time{
			at(11, 1, 2, 30, "EST"), at(11, 2, 2, 30, "EST"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.expr, "America/New_York")
			prev := tt.from
			for i, want := range tt.want {
				got := s.Next(prev)
				if !got.Equal(want) {
					t.Fatalf("fire %d: Next(%v) = %v, want %v", i, prev.In(ny), got.In(ny), want.In(ny))
				}
				prev = got
			}
		})
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, seed := range []string{"*/5 * * * *", "0 30 * * * *", "@every 1h", "CRON_TZ=UTC @daily", "TZ=", "1-5/0 * * * *", "0 0 31 2 *", "@every", "* * * * * * *"} {
		f.Add(seed, "")
	}
	f.Add("0 9 * * *", "America/New_York")
	from := time.Date(2026, 3, 8, 6, 59, 59, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr, tz string) {
		s, err := ParseSchedule(expr, tz)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchedule) {
				t.Fatalf("error %v does not wrap ErrInvalidSchedule", err)
			}
			return
		}
		if n := s.Next(from); !n.IsZero() && !n.After(from) {
			t.Fatalf("Next(%v) = %v, not after", from, n)
		}
	})
}

func TestLastIn(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, expr string
		until      time.Time
		wantLast   time.Time
		wantN      int
		wantCapped bool
	}{
		{"none", "0 * * * *", from.Add(59 * time.Minute), time.Time{}, 0, false},
		{"three", "0 * * * *", from.Add(3*time.Hour + 30*time.Minute), from.Add(3 * time.Hour), 3, false},
		{"inclusive", "0 * * * *", from.Add(3 * time.Hour), from.Add(3 * time.Hour), 3, false},
		{"every second for a year", "* * * * * *", from.AddDate(1, 0, 0).Add(500 * time.Millisecond), from.AddDate(1, 0, 0), maxWalk, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			last, n, capped, ok := mustParse(t, tt.expr, "").lastIn(from, tt.until)
			if !last.Equal(tt.wantLast) || n != tt.wantN || capped != tt.wantCapped || ok != (tt.wantN > 0) {
				t.Errorf("lastIn = %v, %d, %v, %v; want %v, %d, %v", last, n, capped, ok, tt.wantLast, tt.wantN, tt.wantCapped)
			}
		})
	}
}
