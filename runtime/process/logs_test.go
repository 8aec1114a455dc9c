package process

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// shRevision is a revision running script with sh, then exec-ing testfn.
func shRevision(name, script string) *api.Revision {
	rev := testRevision(name)
	rev.Spec.Containers[0].Command = []string{"/bin/sh", "-c", script + "\nexec \"$0\"", testfn}
	return rev
}

// logsOf returns what Logs writes now.
func logsOf(t *testing.T, rt *Runtime, key api.RevisionKey, opts runtime.LogOptions) string {
	t.Helper()
	var b strings.Builder
	if err := rt.Logs(context.Background(), key, opts, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsTail(t *testing.T) {
	e := newEnv(t, Options{})
	rev := shRevision("tail-00001", `printf 'one\ntwo\nthree\n'; echo err >&2`)
	e.deploy(t, rev, 1)
	id := e.rec.waitFor(t, "ready", readyN(1)).Ready[0].ID
	eventually(t, "the listening line", func() bool {
		return strings.Contains(logsOf(t, e.rt, rev.Key(), runtime.LogOptions{}), "listening")
	})
	all := logsOf(t, e.rt, rev.Key(), runtime.LogOptions{})
	want := fmt.Sprintf("[%[1]s] one\n[%[1]s] two\n[%[1]s] three\n[%[1]s] err\n[%[1]s] testfn: tail-00001 listening on ", id)
	if !strings.HasPrefix(all, want) {
		t.Errorf("Logs =\n%s\nwant it to start with\n%s", all, want)
	}
	tail := logsOf(t, e.rt, rev.Key(), runtime.LogOptions{Tail: 2})
	lines := strings.Split(strings.TrimSuffix(tail, "\n"), "\n")
	if len(lines) != 2 || lines[0] != "["+id+"] err" || !strings.Contains(lines[1], "listening") {
		t.Errorf("Logs with Tail 2 = %q", tail)
	}
}

func TestLogsFollow(t *testing.T) {
	e := newEnv(t, Options{})
	rev := shRevision("follow-00001", `echo first; (i=0; while [ $i -lt 600 ]; do echo "tick $i"; i=$((i+1)); sleep 0.05; done) &`)
	e.deploy(t, rev, 1)
	first := e.rec.waitFor(t, "ready", readyN(1)).Ready[0].ID
	eventually(t, "a few lines", func() bool {
		return strings.Contains(logsOf(t, e.rt, rev.Key(), runtime.LogOptions{}), "tick 2\n")
	})

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- e.rt.Logs(ctx, rev.Key(), runtime.LogOptions{Follow: true, Tail: 1}, &out) }()

	eventually(t, "new lines followed", func() bool { return strings.Contains(out.String(), "["+first+"] tick 10\n") })
	e.scale(t, rev.Key(), 2)
	second := e.rec.waitFor(t, "two ready", readyN(2)).Ready[1].ID
	eventually(t, "a new instance followed", func() bool { return strings.Contains(out.String(), "["+second+"] first\n") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Logs = %v, want nil once ctx ends", err)
	}
	// Tail 1 dropped all but the last line already written, and every
	// line followed appears once, whole.
	ticks := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, "["+first+"] ") && !strings.HasPrefix(l, "["+second+"] ") {
			t.Errorf("line %q has no instance prefix", l)
		}
		if l == "["+first+"] first" {
			t.Errorf("line %q was before the tail", l)
		}
		if ticks[l] && strings.Contains(l, "tick") {
			t.Errorf("line %q twice", l)
		}
		ticks[l] = true
	}
}

func TestLogsRotateAtLimit(t *testing.T) {
	const limit = 4096
	e := newEnv(t, Options{LogLimit: limit})
	rev := shRevision("rotate-00001", `i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done`)
	e.deploy(t, rev, 1)
	id := e.rec.waitFor(t, "ready", readyN(1)).Ready[0].ID
	eventually(t, "the listening line", func() bool {
		return strings.Contains(logsOf(t, e.rt, rev.Key(), runtime.LogOptions{Tail: 1}), "listening")
	})
	dir := filepath.Join(e.dir, "logs", "default", "rotate-00001")
	files, _ := os.ReadDir(dir)
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
		if info, _ := f.Info(); info.Size() > limit {
			t.Errorf("%s is %d bytes, over the %d limit", f.Name(), info.Size(), limit)
		}
	}
	if diff := cmp.Diff([]string{id + ".log", id + ".log.1"}, names); diff != "" {
		t.Errorf("log files (-want +got):\n%s", diff)
	}
	// What is kept is the end of the output, without a gap.
	lines := strings.Split(strings.TrimSuffix(logsOf(t, e.rt, rev.Key(), runtime.LogOptions{}), "\n"), "\n")
	if !strings.Contains(lines[len(lines)-1], "listening") {
		t.Fatalf("last line %q", lines[len(lines)-1])
	}
	next := 2999
	for i := len(lines) - 2; i >= 1; i-- { // lines[0] may have been cut by the rotation
		if want := fmt.Sprintf("[%s] line %d", id, next); lines[i] != want {
			t.Fatalf("line %d = %q, want %q", i, lines[i], want)
		}
		next--
	}
	if next > 2999-limit/(12+stampLen) { // "line NNNN\n" and its stamp

		t.Errorf("only %d lines kept", 2999-next)
	}
}

// t0 is the fake clocks' start.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func stamp(at time.Time) string { return at.UTC().Format(stampLayout) + " " }

func TestLogFileStampsEachLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	clk := testingclock.NewFakePassiveClock(t0)
	lf := &logFile{path: path, limit: 1 << 20, clock: clk, f: f}
	t1 := t0.Add(1500 * time.Microsecond)
	for _, w := range []struct {
		at   time.Time
		data string
	}{
		{t0, "one\ntw"}, // "two" began at t0
		{t1, "o\nthree\n"},
		{t1.Add(time.Second), "\n"},
	} {
		clk.SetTime(w.at)
		if n, err := lf.Write([]byte(w.data)); n != len(w.data) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w.data, n, err)
		}
	}
	lf.Close()
	got, _ := os.ReadFile(path)
	want := stamp(t0) + "one\n" + stamp(t0) + "two\n" + stamp(t1) + "three\n" + stamp(t1.Add(time.Second)) + "\n"
	if string(got) != want {
		t.Errorf("log =\n%q\nwant\n%q", got, want)
	}
	if stamp(t1) != "2025-03-01T12:00:00.001500Z " {
		t.Errorf("stamp %q", stamp(t1))
	}
}

func TestLogFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	clk := testingclock.NewFakePassiveClock(t0)
	lf := &logFile{path: path, limit: 100, clock: clk, f: f}
	var all []string
	for i := range 100 {
		clk.SetTime(t0.Add(time.Duration(i) * time.Millisecond))
		line := strings.Repeat(strconv.Itoa(i%10), 7+i%50)
		all = append(all, line)
		chunk := []byte(line + "\n")
		if n, err := lf.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	lf.Close()
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	if len(old) > 100 || len(cur) > 100 || len(old) < 100-stampLen {
		t.Errorf("sizes %d and %d, want at most 100 each and the old one full but for a stamp", len(old), len(cur))
	}
	// What is kept reads back as the last lines written, with their times,
	// but for the first, which a rotation may have cut.
	c := &cursor{id: "x"}
	lines := c.timed(c.emit(append(old, cur...), false))
	for i, l := range lines[1:] {
		k := len(all) - len(lines) + 1 + i
		if want := (logLine{id: "x", at: t0.Add(time.Duration(k) * time.Millisecond), text: all[k]}); l != want {
			t.Errorf("line %d = %+v, want %+v", i+1, l, want)
		}
	}
	if len(lines) < 2 {
		t.Errorf("kept %d lines", len(lines))
	}
}

// writeLog writes lines to INSTANCE.log of key under s, each at its time.
func writeLog(t *testing.T, s *logStore, key api.RevisionKey, id string, lines ...logLine) {
	t.Helper()
	if err := os.MkdirAll(s.dir(key), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(s.dir(key), id+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(stamp(l.at) + l.text + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func readStore(t *testing.T, s *logStore, key api.RevisionKey, opts runtime.LogOptions) string {
	t.Helper()
	var b strings.Builder
	if err := s.read(context.Background(), testingclock.NewFakeClock(t0), key, true, opts, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLogsMergeInstancesByTime(t *testing.T) {
	s := newLogStore(t.TempDir(), 1<<20, 10)
	key := api.RevisionKey{Namespace: "default", Name: "m-00001"}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// a started first and printed most; b's lines fall between a's.
	writeLog(t, s, key, "m-00001-aaaaa", logLine{at: at(1), text: "a1"}, logLine{at: at(2), text: "a2"}, logLine{at: at(5), text: "a5"}, logLine{at: at(9), text: "a9"})
	writeLog(t, s, key, "m-00001-bbbbb", logLine{at: at(3), text: "b3"}, logLine{at: at(5), text: "b5"}, logLine{at: at(7), text: "b7"})
	s.order[filepath.Join(s.dir(key), "m-00001-aaaaa.log")] = 1
	s.order[filepath.Join(s.dir(key), "m-00001-bbbbb.log")] = 2
	tests := []struct {
		name string
		opts runtime.LogOptions
		want string
	}{
		{"all, by time", runtime.LogOptions{},
			"[m-00001-aaaaa] a1\n[m-00001-aaaaa] a2\n[m-00001-bbbbb] b3\n[m-00001-aaaaa] a5\n[m-00001-bbbbb] b5\n[m-00001-bbbbb] b7\n[m-00001-aaaaa] a9\n"},
		{"the last 3 of all instances, not of each", runtime.LogOptions{Tail: 3},
			"[m-00001-bbbbb] b5\n[m-00001-bbbbb] b7\n[m-00001-aaaaa] a9\n"},
		{"since", runtime.LogOptions{Since: at(5), Tail: 10},
			"[m-00001-aaaaa] a5\n[m-00001-bbbbb] b5\n[m-00001-bbbbb] b7\n[m-00001-aaaaa] a9\n"},
		{"timestamps", runtime.LogOptions{Tail: 2, Timestamps: true},
			"[m-00001-bbbbb] 2025-03-01T12:00:00.007Z b7\n[m-00001-aaaaa] 2025-03-01T12:00:00.009Z a9\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, readStore(t, s, key, tc.opts)); diff != "" {
				t.Errorf("read (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogsOfAnEarlierWakeHaveNoStamps(t *testing.T) {
	s := newLogStore(t.TempDir(), 1<<20, 10)
	key := api.RevisionKey{Namespace: "default", Name: "old-00001"}
	old := filepath.Join(s.dir(key), "old-00001-ooooo.log")
	if err := os.MkdirAll(s.dir(key), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("from before\nstamps\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(old, t0, t0); err != nil {
		t.Fatal(err)
	}
	writeLog(t, s, key, "old-00001-nnnnn", logLine{at: t0.Add(-time.Hour), text: "clock set back"}, logLine{at: t0.Add(time.Second), text: "new"})
	s.order[filepath.Join(s.dir(key), "old-00001-nnnnn.log")] = 1
	// The old log's lines are as written, and as old as its last write.
	want := "[old-00001-nnnnn] clock set back\n[old-00001-ooooo] from before\n[old-00001-ooooo] stamps\n[old-00001-nnnnn] new\n"
	if diff := cmp.Diff(want, readStore(t, s, key, runtime.LogOptions{})); diff != "" {
		t.Errorf("read (-want +got):\n%s", diff)
	}
}

// chunks is a writer whose every write is sent on a channel.
type chunks chan string

func (c chunks) Write(p []byte) (int, error) {
	c <- string(p)
	return len(p), nil
}

func TestLogsFollowMergesEachPollByTime(t *testing.T) {
	s := newLogStore(t.TempDir(), 1<<20, 10)
	key := api.RevisionKey{Namespace: "default", Name: "f-00001"}
	clk := testingclock.NewFakeClock(t0)
	s.clock = clk
	_, a, err := s.create(key, 1)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(a, "before\n")
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chunks, 10)
	done := make(chan error, 1)
	go func() { done <- s.read(ctx, clk, key, true, runtime.LogOptions{Follow: true, Since: t0}, out) }()
	if got := <-out; !strings.HasSuffix(got, "] before\n") {
		t.Fatalf("first write %q", got)
	}
	for !clk.HasWaiters() { // the ticker
		goruntime.Gosched()
	}
	// Between two polls: a new instance, and lines of both out of order
	// of their arrival.
	_, b, err := s.create(key, 2)
	if err != nil {
		t.Fatal(err)
	}
	clk.SetTime(t0.Add(20 * time.Millisecond))
	fmt.Fprintf(a, "a at 20ms\n")
	clk.SetTime(t0.Add(10 * time.Millisecond))
	fmt.Fprintf(b, "b at 10ms\n")
	clk.SetTime(t0.Add(30 * time.Millisecond))
	fmt.Fprintf(b, "b at 30ms\n")
	clk.Step(followPeriod)
	got := <-out
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	var texts []string
	for _, l := range lines {
		_, text, _ := strings.Cut(l, "] ")
		texts = append(texts, text)
	}
	if diff := cmp.Diff([]string{"b at 10ms", "a at 20ms", "b at 30ms"}, texts); diff != "" {
		t.Errorf("followed (-want +got):\n%s\n%s", diff, got)
	}
	cancel()
	clk.Step(followPeriod)
	if err := <-done; err != nil {
		t.Errorf("read = %v", err)
	}
}

func TestLogStoreKeepsRecentAndLive(t *testing.T) {
	s := newLogStore(t.TempDir(), 1024, 3)
	key := api.RevisionKey{Namespace: "default", Name: "keep-00001"}
	// A previous run's log, older than anything of this run.
	if err := os.MkdirAll(s.dir(key), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir(key), "keep-00001-old00.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 6 {
		id, lf, err := s.create(key, int64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		lf.Close()
		ids = append(ids, id)
		if i != 1 { // the second instance lives on
			s.done(key, id)
		}
	}
	var got []string
	for _, e := range s.list(s.dir(key)) {
		got = append(got, e.id)
	}
	want := []string{ids[1], ids[4], ids[5]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("logs kept (-want +got):\n%s", diff)
	}
}
