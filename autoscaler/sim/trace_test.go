package sim

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// perTick repeats v n times: a series of ticks.
func perTick(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func concat(parts ...[]float64) []float64 {
	var out []float64
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestRead(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		serviceTime  time.Duration
		wantFormat   Format
		wantDemand   []float64
		wantArrivals []float64
	}{{
		name: "concurrency: a missing second has no load, arrivals by Little's law",
		in:   "second,concurrency\n0,5\n2,10\n",
		// 5 in flight at 100ms each is 50 rps: 5 per tick.
		wantFormat:   FormatConcurrency,
		wantDemand:   concat(perTick(10, 5), perTick(10, 0), perTick(10, 10)),
		wantArrivals: concat(perTick(10, 5), perTick(10, 0), perTick(10, 10)),
	}, {
		name:        "rps with a service time",
		in:          "second,rps\n0,100\n",
		serviceTime: 250 * time.Millisecond,
		wantFormat:  FormatRPS,
		// 100 rps × 0.25s = 25 in flight; 10 requests arrive per tick.
		wantDemand:   perTick(10, 25),
		wantArrivals: perTick(10, 10),
	}, {
		name:         "a decimal offset covers its own second",
		in:           "second,concurrency\n0.5,10\n",
		wantFormat:   FormatConcurrency,
		wantDemand:   concat(perTick(5, 0), perTick(10, 10)),
		wantArrivals: concat(perTick(5, 0), perTick(10, 10)),
	}, {
		name:         "an offset inside a tick is spread over the two it touches",
		in:           "second,concurrency\n0.05,10\n",
		wantFormat:   FormatConcurrency,
		wantDemand:   concat([]float64{5}, perTick(9, 10), []float64{5}),
		wantArrivals: concat([]float64{5}, perTick(9, 10), []float64{5}),
	}, {
		name: "comments, blank lines, spaces, CRLF and a capitalised header",
		in: "# a trace\r\n\r\n  Second , Concurrency  # the header\r\n" +
			"0, 2 # two clients\r\n# the end\r\n",
		wantFormat:   FormatConcurrency,
		wantDemand:   perTick(10, 2),
		wantArrivals: perTick(10, 2),
	}, {
		name: "request log: partial ticks, a long request, one of no duration, any order",
		in:   "start,duration\n1,0\n0.05,0.2\n2,1.5\n",
		// 0.05-0.25 covers half of tick 0, all of 1, half of 2; 2-3.5
		// covers ticks 20-34 whole. The request at 1s takes no time but
		// arrives in tick 10.
		wantFormat: FormatRequests,
		wantDemand: concat([]float64{0.5, 1, 0.5}, perTick(17, 0), perTick(15, 1)),
		wantArrivals: concat([]float64{1}, perTick(9, 0), []float64{1}, perTick(9, 0),
			[]float64{1}, perTick(14, 0)),
	}, {
		name:         "request log: overlapping requests add up",
		in:           "start,duration\n0,1\n0.5,0.5\n",
		wantFormat:   FormatRequests,
		wantDemand:   concat(perTick(5, 1), perTick(5, 2)),
		wantArrivals: concat([]float64{1}, perTick(4, 0), []float64{1}, perTick(4, 0)),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Read(strings.NewReader(tt.in), "t.csv", ReadOptions{ServiceTime: tt.serviceTime})
			if err != nil {
				t.Fatal(err)
			}
			if tr.Format != tt.wantFormat {
				t.Errorf("format %q, want %q", tr.Format, tt.wantFormat)
			}
			approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
			if diff := cmp.Diff(tt.wantDemand, tr.Demand, approx); diff != "" {
				t.Errorf("demand per tick (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantArrivals, tr.Arrivals, approx); diff != "" {
				t.Errorf("arrivals per tick (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // lines of the error, in order
	}{{
		name: "empty",
		in:   "# only a comment\n\n",
		want: []string{"t.csv: empty trace: want a header line (second,concurrency, second,rps, start,duration), then rows"},
	}, {
		name: "no rows",
		in:   "second,rps\n",
		want: []string{"t.csv:1: no rows after the header"},
	}, {
		name: "unknown header",
		in:   "# comment\ntime,load\n0,1\n",
		want: []string{`t.csv:2: header "time,load": want one of second,concurrency, second,rps, start,duration`},
	}, {
		name: "a header-less file names its first row",
		in:   "0,5\n1,5\n",
		want: []string{`t.csv:1: header "0,5": want one of second,concurrency, second,rps, start,duration`},
	}, {
		name: "every bad row at once",
		in:   "second,concurrency\n0,1,2\nx,1\n1,-1\n2,NaN\n3,1e400\n",
		want: []string{
			"t.csv:2: want 2 fields (second,concurrency), got 3",
			`t.csv:3: second "x": must be a number`,
			`t.csv:4: concurrency "-1": must not be negative`,
			`t.csv:5: concurrency "NaN": must be a number`,
			`t.csv:6: concurrency "1e400": must be a number`,
		},
	}, {
		name: "overlapping and backwards rows",
		in:   "second,rps\n0,1\n0.5,1\n3,1\n2,1\n",
		want: []string{
			`t.csv:3: second "0.5": overlaps line 2, whose row is the load over [0, 1): each row covers one second, so seconds must increase by at least 1`,
			`t.csv:5: second "2": overlaps line 4, whose row is the load over [3, 4): each row covers one second, so seconds must increase by at least 1`,
		},
	}, {
		name: "a timestamp where an offset was meant",
		in:   "second,concurrency\n1700000000,5\n",
		want: []string{`t.csv:2: second "1700000000": beyond the 24h0m0s a trace may span (seconds count from the trace's start, not the epoch)`},
	}, {
		name: "the last second may not end past the limit",
		in:   "second,concurrency\n86399.5,5\n",
		want: []string{`t.csv:2: second "86399.5": its second ends beyond the 24h0m0s a trace may span`},
	}, {
		name: "request log",
		in:   "start,duration\n-1,1\n1,-0.5\n86000,1000\n1\n",
		want: []string{
			`t.csv:2: start "-1": must not be negative`,
			`t.csv:3: duration "-0.5": must not be negative`,
			"t.csv:4: request ends at 87000: beyond the 24h0m0s a trace may span",
			"t.csv:5: want 2 fields (start,duration), got 1",
		},
	}, {
		name: "a line too long to be a trace",
		in:   "second,concurrency\n0," + strings.Repeat("1", 2<<20) + "\n",
		want: []string{"t.csv:2: line longer than 1 MiB: is this a CSV trace?"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Read(strings.NewReader(tt.in), "t.csv", ReadOptions{})
			if err == nil {
				t.Fatalf("Read succeeded with %v of trace, want an error", tr.Duration())
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadReportsTenProblemsThenCounts(t *testing.T) {
	in := "second,concurrency\n" + strings.Repeat("x,1\n", 25)
	_, err := Read(strings.NewReader(in), "t.csv", ReadOptions{})
	if err == nil {
		t.Fatal("Read succeeded, want an error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 11 || lines[10] != "t.csv: and 15 more problems" {
		t.Errorf("got %d lines ending %q, want 10 problems and \"t.csv: and 15 more problems\"", len(lines), lines[len(lines)-1])
	}
}

func TestReadRejectsNegativeServiceTime(t *testing.T) {
	_, err := Read(strings.NewReader("second,rps\n0,1\n"), "t.csv", ReadOptions{ServiceTime: -time.Second})
	if err == nil || err.Error() != "service time -1s: must be positive" {
		t.Errorf("got %v, want the service time named", err)
	}
}

func TestReadFileNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "load.csv")
	if err := os.WriteFile(path, []byte("second,concurrency\n0,oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path, ReadOptions{})
	if want := path + `:2: concurrency "oops": must be a number`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	_, err = ReadFile(filepath.Join(t.TempDir(), "missing.csv"), ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("got %v, want an error naming missing.csv", err)
	}
}

// TestShippedTraces checks the examples read, and are what their comments
// say: a few minutes each.
func TestShippedTraces(t *testing.T) {
	for _, name := range []string{"step", "spike", "ramp", "sawtooth", "diurnal", "requests"} {
		tr, err := ReadFile(filepath.Join(tracesDir, name+".csv"), ReadOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if d := tr.Duration(); d < 50*time.Second || d > 10*time.Minute {
			t.Errorf("%s spans %v, want a minute to ten", name, d)
		}
	}
}

// FuzzRead feeds Read arbitrary bytes: it must return a trace or an error,
// never panic, and a trace it returns must be simulable.
func FuzzRead(f *testing.F) {
	f.Add("second,concurrency\n0,5\n2.5,10\n")
	f.Add("second,rps\n# c\n0,100 # x\n")
	f.Add("start,duration\n0.05,0.2\n1,0\n")
	f.Add("start,duration\n86399.99,0.01\n")
	f.Fuzz(func(t *testing.T, in string) {
		tr, err := Read(strings.NewReader(in), "fuzz.csv", ReadOptions{})
		if err != nil {
			return
		}
		if len(tr.Demand) == 0 || len(tr.Demand) != len(tr.Arrivals) || tr.Duration() > MaxTraceDuration {
			t.Fatalf("trace of %d demand and %d arrival ticks", len(tr.Demand), len(tr.Arrivals))
		}
		for k := range tr.Demand {
			if !(tr.Demand[k] >= 0) || !(tr.Arrivals[k] >= 0) || math.IsInf(tr.Demand[k], 0) || math.IsInf(tr.Arrivals[k], 0) {
				t.Fatalf("tick %d: demand %v, arrivals %v", k, tr.Demand[k], tr.Arrivals[k])
			}
		}
		if tr.Duration() <= time.Minute {
			if _, err := Run(tr, Options{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
