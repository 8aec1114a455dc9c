package delivery

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"PT0S", 0},
		{"PT0.2S", 200 * time.Millisecond},
		{"PT0,5S", 500 * time.Millisecond},
		{"PT1S", time.Second},
		{"PT10S", 10 * time.Second},
		{"PT1M30S", 90 * time.Second},
		{"PT1.5M", 90 * time.Second},
		{"PT2H", 2 * time.Hour},
		{"PT1H1M1.001S", time.Hour + time.Minute + time.Second + time.Millisecond},
		{"P1D", 24 * time.Hour},
		{"P1DT12H", 36 * time.Hour},
		{"P2W", 14 * 24 * time.Hour},
		{"PT0.000000001S", time.Nanosecond},
		{"PT0.0000000019S", time.Nanosecond}, // below a nanosecond is truncated
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string // substring
	}{
		{"", "empty"},
		{"5s", "must start with 'P'"},
		{"-PT1S", "signed"},
		{"P", "no components"},
		{"PT", "no time components"},
		{"P1DT", "no time components"},
		{"P1Y", "no fixed length"},
		{"P1M", "no fixed length"},
		{"P1H", "must come after 'T'"},
		{"PT1D", "must come before 'T'"},
		{"PT1X", "unknown time unit"},
		{"P1X", "unknown date unit"},
		{"PT1", "no unit designator"},
		{"PTS", "expected a number"},
		{"PT1S1M", "out of order"},
		{"PT1S1S", "out of order"},
		{"PT1HT1S", "'T' appears twice"},
		{"PT1.5M1S", "only the last component"},
		{"PT.5S", "malformed number"},
		{"PT1.S", "malformed number"},
		{"PT1.2.3S", "malformed number"},
		{"P1W1D", "weeks cannot be combined"},
		{"PT99999999999999999999S", "too large"},
		{"P99999999W", "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) succeeded, want error containing %q", tt.in, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDuration(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.in) {
				t.Errorf("error %q does not quote the input", err)
			}
		})
	}
}

// FuzzParseDuration checks that no input panics and that every accepted
// duration is non-negative.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT0.2S", "P1DT2H3M4.5S", "P2W", "PT", "P1Y", "PT1.5M"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && d < 0 {
			t.Errorf("ParseDuration(%q) = %v, negative", s, d)
		}
	})
}
