package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// follow starts `wake logs ARGS -f` against the server and returns what it
// prints as it prints it; it is stopped when the test ends.
func (s *server) follow(args ...string) *syncBuffer {
	s.t.Helper()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, wakeBin, append(append([]string{"logs"}, args...), "-f", "--server", "http://"+s.admin)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WAKE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "WAKE_STATE_DIR="+s.stateDir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if s.t.Failed() {
			s.t.Logf("wake logs %s -f printed:\n%s", strings.Join(args, " "), out)
		}
	})
	return out
}

// served matches the line testfn prints for a request (TESTFN_LOG_REQUESTS),
// with the instance wake logs puts before it.
func served(rev, path string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\[` + rev + `-[a-z0-9]{5}\] testfn: request GET ` + regexp.QuoteMeta(path) + ` `)
}

// TestLogsTrafficTour walks the README's tour with a canary: apply, apply
// again, roll back, reach the canary by its tag, and read the logs of both
// revisions, following and by time.
func TestLogsTrafficTour(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	m := marker(t)
	env := func(greeting string) map[string]string {
		return map[string]string{"GREETING": greeting, "TESTFN_LOG_REQUESTS": "1"}
	}
	// The same file: a command's working directory is its manifest's.
	v1 := writeManifest(t, fn{name: "hello", marker: m, env: env("v1")}.yaml())
	if out := w.mustCLI("apply", "-f", v1); !strings.HasPrefix(out, "function default/hello applied (revision hello-00001)\n") {
		t.Errorf("first apply printed %q", out)
	}
	if out := w.mustCLI("apply", "-f", v1); !strings.HasPrefix(out, "function default/hello unchanged\n") {
		t.Errorf("applying the same manifest again printed %q, want it to say unchanged", out)
	}
	canary := fn{name: "hello", marker: m, env: env("v2"), traffic: `  - revisionName: hello-00001
    percent: 90
  - latestRevision: true
    percent: 10
    tag: canary
`}.yaml()
	out := w.apply(canary)
	for _, want := range []string{
		"function default/hello applied (revision hello-00002)\n",
		fmt.Sprintf("hello: revision hello-00002 is ready at http://hello.default.localhost:%s (10%% of its requests)\n", port(w.http)),
		fmt.Sprintf("hello: tag canary: http://canary-hello.default.localhost:%s (revision hello-00002)\n", port(w.http)),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the canary's apply printed\n%s\nwant a line %q", out, want)
		}
	}

	// A revision that does not exist is named, with those that do.
	_, errOut, err := w.cli("traffic", "hello", "--to", "nosuch=100")
	if want := `traffic: revision "nosuch" of function default/hello does not exist (revisions: hello-00001, hello-00002)`; err == nil || !strings.Contains(errOut, want) || strings.Contains(errOut, "manifest") {
		t.Errorf("wake traffic --to nosuch=100: %v\n%s\nwant %q", err, errOut, want)
	}

	// Rolling back keeps the canary's tag, and says what changed.
	out = w.mustCLI("traffic", "hello", "--to", "hello-00001=100")
	for _, want := range []string{
		"  hello-00001: 90% → 100%\n",
		"  hello-00002 (latest, tag canary): 10% → 0%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("wake traffic printed\n%s\nwant %q", out, want)
		}
	}
	if got := w.mustCLI("invoke", "hello", "--tag", "canary"); got != "hello-00002 v2\n" {
		t.Errorf("wake invoke hello --tag canary after the rollback: %q", got)
	}
	for range 10 {
		if r := w.mustGet("hello.default.localhost", "/"); r.body != "hello-00001 v1\n" {
			t.Fatalf("after the rollback the function's host answered %d %q", r.code, r.body)
		}
	}

	// --tail N: the last N lines of both revisions, in the order served.
	hosts := []string{"hello.default.localhost", "canary-hello.default.localhost"}
	revs := []string{"hello-00001", "hello-00002"}
	for i := range 6 {
		w.mustGet(hosts[i%2], fmt.Sprintf("/order-%d", i))
		// wake stamps a line when it reads it from the instance's pipe:
		// lines of two instances are in the order served when each was
		// read before the next request (under -race on 2 cores a reader
		// can lag the next request by milliseconds).
		eventually(t, 10*time.Second, fmt.Sprintf("request %d in the logs", i), func() bool {
			return served(revs[i%2], fmt.Sprintf("/order-%d", i)).MatchString(w.mustCLI("logs", "hello", "--tail", "1"))
		})
	}
	var tail string
	eventually(t, 10*time.Second, "the last request in the logs", func() bool {
		tail = w.mustCLI("logs", "hello", "--tail", "4")
		return served(revs[1], "/order-5").MatchString(tail)
	})
	lines := strings.Split(strings.TrimSuffix(tail, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("wake logs --tail 4 printed %d lines:\n%s", len(lines), tail)
	}
	for i, l := range lines {
		if n := i + 2; !served(revs[n%2], fmt.Sprintf("/order-%d", n)).MatchString(l) {
			t.Errorf("line %d of wake logs --tail 4 is %q, want request %d served by %s:\n%s", i, l, n, revs[n%2], tail)
		}
	}

	// -f follows both revisions: the one with all the traffic, and the
	// tagged one at 0%.
	f := w.follow("hello", "--tail", "1")
	eventually(t, 10*time.Second, "the last line", func() bool { return served(revs[1], "/order-5").MatchString(f.String()) })
	w.mustGet(hosts[0], "/followed-1")
	w.mustGet(hosts[1], "/followed-2")
	eventually(t, 10*time.Second, "requests of both revisions followed", func() bool {
		return served(revs[0], "/followed-1").MatchString(f.String()) && served(revs[1], "/followed-2").MatchString(f.String())
	})
	if strings.Contains(f.String(), "/order-4") {
		t.Errorf("--tail 1 printed more than the last line:\n%s", f)
	}

	// A revision that gains traffic while followed joins the follow.
	w.mustCLI("traffic", "hello", "--to", "hello-00001=100", "--untag", "canary")
	if r := w.mustGet("canary-hello.default.localhost", "/"); r.code != 404 {
		t.Errorf("the canary's host after --untag canary: %d %q", r.code, r.body)
	}
	g := w.follow("hello")
	eventually(t, 10*time.Second, "the follow started", func() bool { return served(revs[0], "/followed-1").MatchString(g.String()) })
	w.mustCLI("traffic", "hello", "--to", "@latest=100")
	eventually(t, 20*time.Second, "a request of the revision that gained traffic followed", func() bool {
		w.mustGet(hosts[0], "/joined")
		return served(revs[1], "/joined").MatchString(g.String())
	})
	if strings.Contains(g.String(), "/followed-2 ") {
		t.Errorf("a line hello-00002 printed before it gained traffic and before the follow began was followed:\n%s", g)
	}
}
