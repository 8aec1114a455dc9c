package process

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

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
	if next > 2999-limit/12 {
		t.Errorf("only %d lines kept", 2999-next)
	}
}

func TestLogFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	lf := &logFile{path: path, limit: 100, f: f}
	var all bytes.Buffer
	for i := range 100 {
		chunk := []byte(strings.Repeat(strconv.Itoa(i%10), 7+i%50))
		all.Write(chunk)
		if n, err := lf.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	lf.Close()
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	if len(old) != 100 || len(cur) > 100 {
		t.Errorf("sizes %d and %d, want 100 and at most 100", len(old), len(cur))
	}
	if want := all.Bytes()[all.Len()-len(old)-len(cur):]; !bytes.Equal(append(old, cur...), want) {
		t.Errorf("kept %q, want the last bytes written %q", append(old, cur...), want)
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
