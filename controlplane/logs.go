package controlplane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// A function's logs, as `wake logs NAME` shows them: which revisions they
// come from, and their lines merged by time.

// LogRevisions returns the revisions whose output a function's logs show,
// oldest first. Without follow, every revision, for the history. With
// follow, those that take requests now: a share of its traffic or a tag
// (a tag host reaches its revision at 0%), or before any is routed, the
// revision serving next.
func (c *ControlPlane) LogRevisions(key api.FunctionKey, follow bool) ([]api.RevisionKey, error) {
	fn, err := c.Function(key)
	if err != nil {
		return nil, err
	}
	routed := map[string]bool{}
	for _, t := range fn.Status.Traffic {
		if t.RevisionName != "" && (t.PercentOrZero() > 0 || t.Tag != "") {
			routed[t.RevisionName] = true
		}
	}
	if follow && len(routed) == 0 {
		if name := fn.Status.ServingRevision(); name != "" {
			return []api.RevisionKey{{Namespace: key.Namespace, Name: name}}, nil
		}
	}
	var out []api.RevisionKey
	for _, rev := range c.revisions(key.Namespace, key.Name) {
		if !follow || routed[rev.Name] {
			out = append(out, rev.Key())
		}
	}
	return out, nil
}

// DefaultLogRecheck is how often a followed function's logs look for
// revisions that gained traffic: a second, next to a poll of the
// runtime's logs every 200 ms, for one map read.
const DefaultLogRecheck = time.Second

// LogStreamOptions select what StreamLogs writes.
type LogStreamOptions struct {
	// Reader reads each revision's output; required. It must honour
	// LogOptions.Timestamps and Since (the process runtime does): lines
	// without a time are merged as if written at the time of the line
	// before them.
	Reader runtime.LogReader
	// Revisions returns the revisions to read, oldest first; required.
	// With Follow it is asked again every Recheck, and revisions new in
	// its answer are followed from then on. An error wrapping ErrNotFound
	// (the function is gone) ends a follow.
	Revisions func() ([]api.RevisionKey, error)
	// Tail limits what is written first to the last Tail lines of all the
	// revisions together; 0 means all that is kept.
	Tail   int
	Follow bool
	// Recheck is how often a follow asks Revisions again; 0 means
	// DefaultLogRecheck.
	Recheck time.Duration
	Clock   clock.WithTicker // nil means the real clock
}

// StreamLogs writes the output of the revisions to w, each line prefixed
// with its instance ("[INSTANCE] line", as LogReader writes it): first what
// is kept, the lines of every revision merged by the time they were
// written (a revision's lines at most Tail, which bounds what it holds in
// memory), then with Follow what they print next, in the order read, until
// ctx ends or the function is gone. A follow resumes strictly after the
// time of the last line written first, so nothing is written twice (a
// line still being written at that moment is shown as far as it got); a
// revision that joins shows what it printed since the last check that
// found it not yet there.
func StreamLogs(ctx context.Context, opts LogStreamOptions, w io.Writer) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	began := opts.Clock.Now()
	revs, err := opts.Revisions()
	if err != nil {
		return err
	}
	per := make([][]stampedLine, 0, len(revs))
	var failed []string
	for _, rev := range revs {
		var b bytes.Buffer
		err := opts.Reader.Logs(ctx, rev, runtime.LogOptions{Tail: opts.Tail, Timestamps: true}, &b)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("wake: reading logs of %s: %v\n", rev.Name, err))
		}
		per = append(per, parseStamped(b.Bytes()))
	}
	lines := runtime.MergeByTime(per, stampedLine.time)
	if opts.Tail > 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	bw := bufio.NewWriter(w)
	for _, s := range failed {
		bw.WriteString(s)
	}
	var resume time.Time // the follow's Since: after the last line written
	for _, l := range lines {
		bw.WriteString(l.text)
		resume = l.at.Add(time.Nanosecond)
	}
	if err := bw.Flush(); err != nil || !opts.Follow {
		return err
	}
	return follow(ctx, opts, revs, resume, began, w)
}

// follow follows revs from resume, and the revisions that join them from
// the last check that found them not yet there (or began).
func follow(ctx context.Context, opts LogStreamOptions, revs []api.RevisionKey, resume, began time.Time, w io.Writer) error {
	recheck := opts.Recheck
	if recheck <= 0 {
		recheck = DefaultLogRecheck
	}
	var (
		mu sync.Mutex // serialises whole lines to w
		wg sync.WaitGroup
	)
	defer wg.Wait() // after cancel: the readers end with ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	followed := map[api.RevisionKey]bool{}
	start := func(rev api.RevisionKey, since time.Time) {
		if followed[rev] {
			return
		}
		followed[rev] = true
		pr, pw := io.Pipe()
		wg.Add(2)
		go func() {
			defer wg.Done()
			err := opts.Reader.Logs(ctx, rev, runtime.LogOptions{Follow: true, Timestamps: true, Since: since}, pw)
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				fmt.Fprintf(w, "wake: reading logs of %s: %v\n", rev.Name, err)
				mu.Unlock()
			}
			pw.Close()
		}()
		go func() {
			defer wg.Done()
			r := bufio.NewReader(pr)
			for {
				line, err := r.ReadString('\n')
				if line != "" {
					mu.Lock()
					_, werr := io.WriteString(w, unstamp(line))
					mu.Unlock()
					if werr != nil {
						cancel() // the client is gone
					}
				}
				if err != nil {
					pr.CloseWithError(err)
					return
				}
			}
		}()
	}
	for _, rev := range revs {
		start(rev, resume)
	}
	ticker := opts.Clock.NewTicker(recheck)
	defer ticker.Stop()
	checked := began // the last check: a revision new now joined after it
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
		now := opts.Clock.Now()
		revs, err := opts.Revisions()
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		for _, rev := range revs {
			start(rev, later(resume, checked))
		}
		checked = now
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// stampedLine is a line as LogReader writes it with Timestamps, and its
// time.
type stampedLine struct {
	at   time.Time
	text string // "[INSTANCE] line\n", the time taken out
}

// parseStamped splits a revision's output into lines and takes their
// times out. A line with none takes the time of the line before it.
func parseStamped(b []byte) []stampedLine {
	var out []stampedLine
	var last time.Time
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b) - 1
		}
		line := string(b[:i+1])
		b = b[i+1:]
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		if at, ok := stampOf(line); ok {
			last = at
		}
		out = append(out, stampedLine{at: last, text: unstamp(line)})
	}
	return out
}

// stampOf returns the time of "[INSTANCE] TIME line".
func stampOf(line string) (time.Time, bool) {
	_, rest, ok := strings.Cut(line, "] ")
	if !ok {
		return time.Time{}, false
	}
	stamp, _, _ := strings.Cut(rest, " ")
	at, err := time.Parse(time.RFC3339Nano, strings.TrimSuffix(stamp, "\n"))
	return at, err == nil
}

// unstamp takes the time out of "[INSTANCE] TIME line"; a line without
// one is returned as it is.
func unstamp(line string) string {
	prefix, rest, ok := strings.Cut(line, "] ")
	if !ok {
		return line
	}
	stamp, text, found := strings.Cut(rest, " ")
	if !found {
		stamp, text = strings.TrimSuffix(rest, "\n"), "\n"
	}
	if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil {
		return line
	}
	return prefix + "] " + text
}

func (l stampedLine) time() time.Time { return l.at }
