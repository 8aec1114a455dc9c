package v1

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ParseISODuration parses the ISO-8601 durations of Knative's
// DeliverySpec ("PT0.2S", "PT1M30S", "P1DT2H", "P2W"). Only units with a
// fixed length are accepted: weeks (on their own), days (24h), hours,
// minutes and seconds; years and months are rejected rather than
// approximated, and so are negative durations. The smallest unit given
// may carry a fraction, written with '.' or ',' ("PT1.5M" is 90s),
// computed exactly; fractions below a nanosecond are truncated. The error
// says what is wrong, not the input: callers name it.
func ParseISODuration(s string) (time.Duration, error) { return parseDuration(s) }

var errOverflow = errors.New("too large")

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty; want a value like PT0.2S")
	}
	if s[0] == '-' || s[0] == '+' {
		return 0, errors.New("signed durations are not allowed")
	}
	if s[0] != 'P' {
		return 0, errors.New("must start with 'P', like PT0.2S")
	}
	rest := s[1:]
	if rest == "" {
		return 0, errors.New("no components after 'P'")
	}
	var total time.Duration
	inTime := false
	// lastRank ranks each unit so that units must appear largest first.
	lastRank := -1
	fractional := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, errors.New("'T' appears twice")
			}
			inTime = true
			rest = rest[1:]
			if rest == "" {
				return 0, errors.New("no time components after 'T'")
			}
			continue
		}
		if fractional {
			return 0, errors.New("only the last component may have a fraction")
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.' || rest[i] == ',') {
			i++
		}
		num := rest[:i]
		if num == "" {
			return 0, fmt.Errorf("expected a number at %q", rest)
		}
		if i == len(rest) {
			return 0, fmt.Errorf("number %q has no unit designator", num)
		}
		designator := rest[i]
		rest = rest[i+1:]

		unit, rank, err := unitOf(designator, inTime)
		if err != nil {
			return 0, err
		}
		if lastRank == 0 {
			return 0, errors.New("weeks cannot be combined with other units")
		}
		if rank <= lastRank {
			return 0, fmt.Errorf("unit '%c' out of order or repeated", designator)
		}
		lastRank = rank
		v, frac, err := component(num, unit)
		if err != nil {
			return 0, err
		}
		fractional = frac
		if total > math.MaxInt64-v {
			return 0, errOverflow
		}
		total += v
	}
	return total, nil
}

// unitOf returns the length of a designator and its rank (weeks first).
func unitOf(c byte, inTime bool) (time.Duration, int, error) {
	if !inTime {
		switch c {
		case 'W':
			return 7 * 24 * time.Hour, 0, nil
		case 'D':
			return 24 * time.Hour, 1, nil
		case 'Y', 'M':
			return 0, 0, fmt.Errorf("'%c' (years or months) has no fixed length; use days, or hours after 'T'", c)
		case 'H', 'S':
			return 0, 0, fmt.Errorf("'%c' must come after 'T', like PT1%c", c, c)
		}
		return 0, 0, fmt.Errorf("unknown date unit '%c'", c)
	}
	switch c {
	case 'H':
		return time.Hour, 2, nil
	case 'M':
		return time.Minute, 3, nil
	case 'S':
		return time.Second, 4, nil
	case 'D', 'W', 'Y':
		return 0, 0, fmt.Errorf("'%c' must come before 'T'", c)
	}
	return 0, 0, fmt.Errorf("unknown time unit '%c'", c)
}

// component converts "12" or "1.5" of unit into a duration, reporting
// whether it had a fraction.
func component(num string, unit time.Duration) (time.Duration, bool, error) {
	whole, fracDigits, hasFrac := num, "", false
	if i := strings.IndexAny(num, ".,"); i >= 0 {
		whole, fracDigits, hasFrac = num[:i], num[i+1:], true
		if whole == "" || fracDigits == "" || strings.ContainsAny(fracDigits, ".,") {
			return 0, false, fmt.Errorf("malformed number %q", num)
		}
	}
	var w int64
	for _, c := range whole {
		if w > (math.MaxInt64-9)/10 {
			return 0, false, errOverflow
		}
		w = w*10 + int64(c-'0')
	}
	if w > math.MaxInt64/int64(unit) {
		return 0, false, errOverflow
	}
	d := time.Duration(w) * unit
	// The fraction: digits/10^n of unit, computed digit by digit so that no
	// intermediate overflows (unit ≤ one week ≈ 6e14ns).
	scale := unit
	for _, c := range fracDigits {
		scale /= 10
		if scale == 0 {
			break
		}
		add := time.Duration(c-'0') * scale
		if d > math.MaxInt64-add {
			return 0, false, errOverflow
		}
		d += add
	}
	return d, hasFrac, nil
}
