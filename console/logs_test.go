package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// logs is a hand-written LogReader: each revision's instance prints
// "line N of REVISION", each line in two writes, as a runtime's buffer may
// split it. It has printed opts.Tail lines, a millisecond apart, up to
// when it is asked; following, it prints one more every millisecond,
// after opts.Since, until ctx ends. With opts.Timestamps each line has
// its time after its instance, as runtimes write it.
type logs struct{}

func (logs) Logs(ctx context.Context, rev api.RevisionKey, opts runtime.LogOptions, w io.Writer) error {
	n := 0
	write := func(at time.Time) error {
		n++
		stamp := ""
		if opts.Timestamps {
			stamp = at.UTC().Format(time.RFC3339Nano) + " "
		}
		line := fmt.Sprintf("[%s-abcde] %sline %d of %s\n", rev.Name, stamp, n, rev.Name)
		half := len(line) / 2
		if _, err := io.WriteString(w, line[:half]); err != nil {
			return err
		}
		_, err := io.WriteString(w, line[half:])
		return err
	}
	now := time.Now()
	for i := opts.Tail; i > 0 && !opts.Follow; i-- {
		if err := write(now.Add(-time.Duration(i) * time.Millisecond)); err != nil {
			return err
		}
	}
	for opts.Follow {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Millisecond):
		}
		if at := time.Now(); at.After(opts.Since) {
			if err := write(at); err != nil {
				return err
			}
		}
	}
	return nil
}

// readLines reads whole lines of a logs stream into a channel.
func readLines(t *testing.T, base, query string) (int, <-chan string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ui/api/logs?"+query, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); res.Body.Close() })
	out := make(chan string, 1024)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			out <- sc.Text()
		}
	}()
	return res.StatusCode, out
}

// revisionOf checks that a line is whole and led by its instance, whose
// name begins with its revision's, and returns the revision.
func revisionOf(t *testing.T, line string) string {
	t.Helper()
	var inst, rev string
	var n int
	if _, err := fmt.Sscanf(line, "%s line %d of %s", &inst, &n, &rev); err != nil || inst != "["+rev+"-abcde]" {
		t.Fatalf("a line not whole, or not led by its instance: %q", line)
	}
	return rev
}

func TestLogsFollowEveryRevisionWithTraffic(t *testing.T) {
	p := newPlatform()
	p.revs = append(p.revs, rev("hello-00002", readyTrue), rev("hello-00003", crashLoop))
	p.fn.Status.Traffic = []api.TrafficTarget{share("hello-00001", 70, ""), share("hello-00002", 30, "")}
	p.fn.Status.LatestReadyRevisionName = "hello-00002"
	c := New(Options{Platform: p, Logs: logs{}})
	srv := httptest.NewServer(c)
	t.Cleanup(func() { c.Close(); srv.Close() })

	// By default: hello-00001 and hello-00002, which have a share, each
	// line whole and led by its instance; not hello-00003, which has none
	// until the split moves to it, and then it joins.
	code, lines := readLines(t, srv.URL, "function=default/hello&tail=5")
	if code != http.StatusOK {
		t.Fatalf("logs answered %d", code)
	}
	by := map[string]int{}
	for len(by) < 2 || by["hello-00001"] < 20 || by["hello-00002"] < 20 {
		l, ok := <-lines
		if !ok {
			t.Fatalf("the logs ended; lines by revision: %v", by)
		}
		by[revisionOf(t, l)]++
	}
	if by["hello-00003"] != 0 {
		t.Errorf("the default logs have hello-00003's lines, which has no traffic: %v", by)
	}
	p.mu.Lock()
	p.fn.Status.Traffic = []api.TrafficTarget{share("hello-00001", 70, ""), share("hello-00003", 30, "")}
	p.mu.Unlock()
	for deadline := time.After(time.Minute); ; {
		select {
		case l := <-lines:
			if revisionOf(t, l) != "hello-00003" {
				continue
			}
		case <-deadline:
			t.Fatal("hello-00003, given a share, did not join the logs")
		}
		break
	}

	// One revision picked: its lines only.
	_, lines = readLines(t, srv.URL, "function=default/hello&tail=3&revision=hello-00002")
	for range 10 {
		if l := <-lines; revisionOf(t, l) != "hello-00002" {
			t.Errorf("hello-00002's logs have %q", l)
		}
	}

	// Without following: the last lines of them all, merged by time.
	_, lines = readLines(t, srv.URL, "function=default/hello&tail=3&follow=false")
	var got []string
	for l := range lines {
		got = append(got, l)
	}
	if len(got) != 3 {
		t.Errorf("tail=3 without follow: %q", got)
	}

	for _, q := range []string{"function=default/hello&revision=hello-00009", "function=default/nope", "function=default/hello&revision="} {
		if code, _ := readLines(t, srv.URL, q); code != http.StatusNotFound {
			t.Errorf("logs?%s answered %d, want 404", q, code)
		}
	}
}
