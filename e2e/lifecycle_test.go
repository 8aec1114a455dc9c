package e2e

import (
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

func TestRestartKeepsFunctionsAndTraffic(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	w := startWake(t, state)
	m := marker(t)
	canary(t, w, m, `  - revisionName: shop-00001
    percent: 50
  - latestRevision: true
    percent: 50
    tag: next
`)
	before := w.function("shop")
	if err := w.stop(); err != nil {
		t.Fatalf("wake serve did not exit cleanly on SIGTERM: %v", err)
	}
	if pids := processesWith(m); len(pids) != 0 {
		t.Fatalf("instances %v outlived wake serve", pids)
	}

	w = startWake(t, state)
	after := w.function("shop")
	if before.Status.LatestReadyRevisionName != after.Status.LatestReadyRevisionName ||
		len(after.Status.Traffic) != 2 || after.Status.Traffic[1].Tag != "next" {
		t.Errorf("after restart: %+v, want the same as before: %+v", after.Status, before.Status)
	}
	for _, r := range w.revisions("shop") {
		if r.Status.ActualReplicas != 0 {
			t.Errorf("%s has %d instances after restart, want to come back cold at zero", r.Name, r.Status.ActualReplicas)
		}
	}
	if r := w.mustGet("next-shop.default.localhost", "/"); r.body != "shop-00002 v2\n" {
		t.Errorf("tag host after restart: %d %q", r.code, r.body)
	}
}

func TestNoInstanceOutlivesWakeKilled(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	m := marker(t)
	w.apply(fn{name: "orphan", marker: m}.yaml())
	if len(processesWith(m)) == 0 {
		t.Fatal("no instance running after apply")
	}
	w.kill()
	eventually(t, 10*time.Second, "instances gone after wake serve got SIGKILL", func() bool {
		return len(processesWith(m)) == 0
	})
}

func TestCommandThatCannotStartSaysWhy(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	file := writeManifest(t, fn{name: "broken", marker: marker(t), env: map[string]string{"TESTFN_EXIT_AT_START": "3"}}.yaml())
	_, stderr, err := w.cli("apply", "-f", file, "--timeout", "60s")
	if err == nil {
		t.Fatal("wake apply of a function that exits at start succeeded")
	}
	if !strings.Contains(stderr, "broken-00001 failed") || !strings.Contains(stderr, "exiting at start as asked") {
		t.Errorf("wake apply said:\n%s\nwant the revision's failure with the function's last output", stderr)
	}
	r := w.revision("broken", "broken-00001")
	if c := api.GetCondition(r.Status.Conditions, api.ConditionReady); c == nil || c.Status != api.ConditionFalse {
		t.Errorf("Ready condition %+v, want False with a reason", c)
	}
	out := w.mustCLI("get", "revisions")
	if !strings.Contains(out, "broken-00001") || !strings.Contains(out, "False") {
		t.Errorf("wake get revisions:\n%s", out)
	}
}

func TestLogsShowInstanceOutput(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	w.apply(fn{name: "chatty", marker: marker(t)}.yaml())
	eventually(t, 10*time.Second, "wake logs to show the instance's output", func() bool {
		out, _, err := w.cli("logs", "chatty")
		return err == nil && strings.Contains(out, "chatty-00001 listening on")
	})
}

func TestDeleteFunctionStopsItsInstances(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	m := marker(t)
	w.apply(fn{name: "gone", marker: m}.yaml())
	w.mustCLI("delete", "function", "gone")
	if r := w.mustGet("gone.default.localhost", "/"); r.code != 404 {
		t.Errorf("after delete the host answers %d, want 404", r.code)
	}
	eventually(t, 20*time.Second, "instances of a deleted function to stop", func() bool {
		return len(processesWith(m)) == 0
	})
}
