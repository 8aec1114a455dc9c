package sim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Tick is the simulator's resolution. Load is constant within a tick and
// instances become ready on tick boundaries, so start-up times must be
// whole ticks. 100ms keeps a 1.5s start-up exact and a day of trace at
// 864,000 ticks (a few MB, well under a second to run).
const Tick = 100 * time.Millisecond

// MaxTraceDuration bounds a trace, the simulated time after it included:
// a typo in an offset (a Unix timestamp where seconds from the start were
// meant) gets an error, not gigabytes of empty ticks.
const MaxTraceDuration = 24 * time.Hour

// DefaultServiceTime is how long one request takes when a trace gives only
// concurrency or only rps and the other has to be derived (Little's law:
// concurrency = rps × service time).
const DefaultServiceTime = 100 * time.Millisecond

// maxProblems is how many problems one read reports before summing up the
// rest: enough to fix a file in one go, not a screenful per bad column.
const maxProblems = 10

// Format is what a trace file holds, named by its header line.
type Format string

// The trace formats. A load trace has one row per second that has load:
// the row at second s (a whole or decimal offset from the trace's start)
// is the load over [s, s+1s). Rows must not overlap, seconds without a
// row have no load, and the trace ends one second after its last row (add
// a row with 0 to simulate idle time after the load). A request log has
// one row per request, in any order: when it started and how long it took,
// both in seconds; it ends when its last request does.
const (
	FormatConcurrency Format = "second,concurrency" // requests in flight (and queued) over the second
	FormatRPS         Format = "second,rps"         // requests arriving per second
	FormatRequests    Format = "start,duration"     // one request per row
)

var formats = []Format{FormatConcurrency, FormatRPS, FormatRequests}

// Trace is load over time at Tick resolution, read from a file by Read.
// Both series have one entry per tick and cover the same span.
type Trace struct {
	Name   string // the file, for reports and errors
	Format Format
	// ServiceTime converted between rps and concurrency: the trace's own
	// for FormatRequests (0: the log says how long each request took).
	ServiceTime time.Duration
	// Demand[k] is the time-weighted mean of requests in flight plus queued
	// over tick k, that is over [k×Tick, (k+1)×Tick).
	Demand []float64
	// Arrivals[k] is the requests that arrived during tick k; fractional
	// where derived from concurrency with the service time.
	Arrivals []float64
}

// Duration is the span the trace covers.
func (t *Trace) Duration() time.Duration { return time.Duration(len(t.Demand)) * Tick }

// Requests is how many requests the trace holds.
func (t *Trace) Requests() float64 {
	sum := 0.0
	for _, a := range t.Arrivals {
		sum += a
	}
	return sum
}

// ReadOptions are how to read a trace.
type ReadOptions struct {
	// ServiceTime derives rps from concurrency and concurrency from rps. 0
	// means DefaultServiceTime; a request log does not use it.
	ServiceTime time.Duration
}

// ReadFile reads the trace in the file at path; see Read.
func ReadFile(path string, opts ReadOptions) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading trace: %w", err)
	}
	defer f.Close()
	return Read(f, path, opts)
}

// Read reads a trace: CSV with a header line naming its Format, then rows.
// Blank lines are skipped and '#' starts a comment, on a line of its own or
// after the values. Every problem found is reported (up to ten), each as
// NAME:LINE: what was wrong.
func Read(r io.Reader, name string, opts ReadOptions) (*Trace, error) {
	st := opts.ServiceTime
	if st == 0 {
		st = DefaultServiceTime
	}
	if st < 0 {
		return nil, fmt.Errorf("service time %v: must be positive", st)
	}
	header, rows, err := scanRows(r, name)
	if err != nil {
		return nil, err
	}
	format := Format(strings.ToLower(strings.Join(header.fields, ",")))
	p := &problems{name: name}
	switch format {
	case FormatConcurrency, FormatRPS:
		loads := parseLoadRows(rows, format, p)
		if err := p.err(); err != nil {
			return nil, err
		}
		return loadTrace(name, format, st, loads), nil
	case FormatRequests:
		reqs := parseRequestRows(rows, p)
		if err := p.err(); err != nil {
			return nil, err
		}
		return requestTrace(name, reqs), nil
	}
	return nil, fmt.Errorf("%s:%d: header %q: want one of %s", name, header.line,
		strings.Join(header.fields, ","), formatList())
}

func formatList() string {
	s := make([]string, len(formats))
	for i, f := range formats {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// row is one line's comma-separated fields, trimmed, and where it was.
type row struct {
	line   int
	fields []string
}

// scanRows returns the header and the data rows after it, skipping blank
// lines and comments.
func scanRows(r io.Reader, name string) (row, []row, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var header row
	var rows []row
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if header.line == 0 {
			header = row{line: line, fields: fields}
			continue
		}
		rows = append(rows, row{line: line, fields: fields})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return row{}, nil, fmt.Errorf("%s:%d: line longer than 1 MiB: is this a CSV trace?", name, line+1)
		}
		return row{}, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if header.line == 0 {
		return row{}, nil, fmt.Errorf("%s: empty trace: want a header line (%s), then rows", name, formatList())
	}
	if len(rows) == 0 {
		return row{}, nil, fmt.Errorf("%s:%d: no rows after the header", name, header.line)
	}
	return header, rows, nil
}

// problems collects what is wrong with a file, line by line.
type problems struct {
	name string
	errs []error
	more int
}

func (p *problems) add(line int, format string, args ...any) {
	if len(p.errs) == maxProblems {
		p.more++
		return
	}
	p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", p.name, line, fmt.Sprintf(format, args...)))
}

func (p *problems) err() error {
	if p.more > 0 {
		return errors.Join(append(p.errs, fmt.Errorf("%s: and %d more problems", p.name, p.more))...)
	}
	return errors.Join(p.errs...)
}

// fieldCount checks a row has the format's two fields.
func (p *problems) fieldCount(r row, format Format) bool {
	if len(r.fields) != 2 {
		p.add(r.line, "want 2 fields (%s), got %d", format, len(r.fields))
		return false
	}
	return true
}

// number parses a finite, non-negative number; what names the column.
func (p *problems) number(line int, what, s string) (float64, bool) {
	f, ok := parseNumber(s)
	switch {
	case !ok:
		p.add(line, "%s %q: must be a number", what, s)
	case f < 0:
		p.add(line, "%s %q: must not be negative", what, s)
	default:
		return f, true
	}
	return 0, false
}

// seconds parses an offset or duration in seconds, within the span a trace
// may have.
func (p *problems) seconds(line int, what, s string) (time.Duration, bool) {
	f, ok := p.number(line, what, s)
	if !ok {
		return 0, false
	}
	if f > MaxTraceDuration.Seconds() {
		p.add(line, "%s %q: beyond the %v a trace may span (seconds count from the trace's start, not the epoch)",
			what, s, MaxTraceDuration)
		return 0, false
	}
	return time.Duration(math.Round(f * float64(time.Second))), true
}

// parseNumber accepts what strconv.ParseFloat does, except NaN and
// infinities, which no load or time can be.
func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

// seconds writes d as a plain number of seconds, as traces give them:
// "3", "4.5".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
