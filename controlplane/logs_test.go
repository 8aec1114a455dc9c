package controlplane_test

import (
	"context"
	"fmt"
	"io"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/runtime"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

type fakeLine struct {
	id   string
	at   time.Time
	text string
}

// fakeLogs is a LogReader over lines held in memory, by revision, that
// honours Tail, Since, Timestamps and Follow as the process runtime does.
type fakeLogs struct {
	mu      sync.Mutex
	lines   map[string][]fakeLine
	changed chan struct{} // closed and replaced by add
}

func newFakeLogs() *fakeLogs {
	return &fakeLogs{lines: map[string][]fakeLine{}, changed: make(chan struct{})}
}

func (f *fakeLogs) add(rev string, lines ...fakeLine) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines[rev] = append(f.lines[rev], lines...)
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeLogs) Logs(ctx context.Context, rev api.RevisionKey, opts runtime.LogOptions, w io.Writer) error {
	sent := 0
	for first := true; ; first = false {
		f.mu.Lock()
		lines, changed := f.lines[rev.Name][sent:], f.changed
		sent += len(lines)
		f.mu.Unlock()
		var out []fakeLine
		for _, l := range lines {
			if !l.at.Before(opts.Since) {
				out = append(out, l)
			}
		}
		if first && opts.Tail > 0 && len(out) > opts.Tail {
			out = out[len(out)-opts.Tail:]
		}
		for _, l := range out {
			stamp := ""
			if opts.Timestamps {
				stamp = l.at.Format(time.RFC3339Nano) + " "
			}
			if _, err := fmt.Fprintf(w, "[%s] %s%s\n", l.id, stamp, l.text); err != nil {
				return err
			}
		}
		if !opts.Follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func revKeys(names ...string) []api.RevisionKey {
	var out []api.RevisionKey
	for _, n := range names {
		out = append(out, api.RevisionKey{Namespace: "default", Name: n})
	}
	return out
}

func TestStreamLogsMergesRevisionsByTime(t *testing.T) {
	logs := newFakeLogs()
	logs.add("hello-00001", fakeLine{"hello-00001-aaaaa", ms(1), "one"}, fakeLine{"hello-00001-aaaaa", ms(4), "four"}, fakeLine{"hello-00001-aaaaa", ms(6), "six"})
	logs.add("hello-00002", fakeLine{"hello-00002-bbbbb", ms(2), "two"}, fakeLine{"hello-00002-bbbbb", ms(5), "five"})
	tests := []struct {
		name string
		tail int
		want string
	}{
		{"all", 0, "[hello-00001-aaaaa] one\n[hello-00002-bbbbb] two\n[hello-00001-aaaaa] four\n[hello-00002-bbbbb] five\n[hello-00001-aaaaa] six\n"},
		{"the last 3 of both", 3, "[hello-00001-aaaaa] four\n[hello-00002-bbbbb] five\n[hello-00001-aaaaa] six\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b syncWriter
			opts := controlplane.LogStreamOptions{Reader: logs, Tail: tc.tail,
				Revisions: func() ([]api.RevisionKey, error) { return revKeys("hello-00001", "hello-00002"), nil }}
			if err := controlplane.StreamLogs(context.Background(), opts, &b); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("StreamLogs (-want +got):\n%s", diff)
			}
		})
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// lines is a writer whose every write (a whole line, in a follow) is sent
// on a channel.
type lines chan string

func (c lines) Write(p []byte) (int, error) {
	c <- string(p)
	return len(p), nil
}

func TestStreamLogsFollowsRevisionsThatJoin(t *testing.T) {
	logs := newFakeLogs()
	// Two lines at the last time written first: neither comes again.
	logs.add("hello-00001", fakeLine{"hello-00001-aaaaa", ms(1), "old"}, fakeLine{"hello-00001-aaaaa", ms(3), "last a"}, fakeLine{"hello-00001-aaaaa", ms(3), "last b"})
	logs.add("hello-00002", fakeLine{"hello-00002-bbbbb", ms(2), "before the follow"})
	clk := testingclock.NewFakeClock(ms(10))
	var (
		mu     sync.Mutex
		routed = revKeys("hello-00001")
	)
	asked := make(chan struct{}, 10)
	opts := controlplane.LogStreamOptions{Reader: logs, Follow: true, Tail: 2, Clock: clk, Recheck: time.Second,
		Revisions: func() ([]api.RevisionKey, error) {
			mu.Lock()
			defer mu.Unlock()
			asked <- struct{}{}
			return routed, nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(lines, 10)
	done := make(chan error, 1)
	go func() { done <- controlplane.StreamLogs(ctx, opts, out) }()
	<-asked
	if got, want := <-out, "[hello-00001-aaaaa] last a\n[hello-00001-aaaaa] last b\n"; got != want {
		t.Fatalf("first %q, want %q", got, want)
	}
	logs.add("hello-00001", fakeLine{"hello-00001-aaaaa", ms(4), "new"})
	if got, want := <-out, "[hello-00001-aaaaa] new\n"; got != want {
		t.Fatalf("followed %q, want %q", got, want)
	}

	// A check finds nothing new.
	logs.add("hello-00002", fakeLine{"hello-00002-bbbbb", ms(1005), "through its tag, before it had traffic"})
	for !clk.HasWaiters() {
		goruntime.Gosched()
	}
	clk.Step(time.Second) // ms(1010)
	<-asked

	// hello-00002 gains traffic: what it printed since that check joins.
	mu.Lock()
	routed = revKeys("hello-00001", "hello-00002")
	mu.Unlock()
	logs.add("hello-00002", fakeLine{"hello-00002-bbbbb", ms(1500), "served"})
	clk.Step(time.Second)
	if got, want := <-out, "[hello-00002-bbbbb] served\n"; got != want {
		t.Fatalf("after hello-00002 joined %q, want %q", got, want)
	}
	logs.add("hello-00002", fakeLine{"hello-00002-bbbbb", ms(2500), "more"})
	if got, want := <-out, "[hello-00002-bbbbb] more\n"; got != want {
		t.Fatalf("followed %q, want %q", got, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("StreamLogs = %v", err)
	}
	select {
	case l := <-out:
		t.Errorf("also wrote %q", l)
	default:
	}
}

func TestLogRevisions(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	key := api.FunctionKey{Namespace: "default", Name: "hello"}
	apply(t, cp, v1)
	got, err := cp.LogRevisions(key, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(revKeys("hello-00001"), got); diff != "" {
		t.Errorf("before any is ready, following (-want +got):\n%s", diff)
	}
	ready(cp, "hello-00001")
	apply(t, cp, v2)
	ready(cp, "hello-00002")
	apply(t, cp, `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - command: ["./hello"]
          env: [{name: GREETING, value: salut}]
  traffic:
    - revisionName: hello-00001
      percent: 100
    - revisionName: hello-00002
      percent: 0
      tag: canary
`)
	ready(cp, "hello-00003")
	// hello-00003 is the latest ready but has no traffic; hello-00002 has a
	// tag.
	got, _ = cp.LogRevisions(key, true)
	if diff := cmp.Diff(revKeys("hello-00001", "hello-00002"), got); diff != "" {
		t.Errorf("following (-want +got):\n%s", diff)
	}
	got, _ = cp.LogRevisions(key, false)
	if diff := cmp.Diff(revKeys("hello-00001", "hello-00002", "hello-00003"), got); diff != "" {
		t.Errorf("not following (-want +got):\n%s", diff)
	}
}
