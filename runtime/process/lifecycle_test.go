package process

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/wakefn/wake/runtime"
)

func TestShutdownLeavesNoProcess(t *testing.T) {
	e := newEnv(t, Options{TerminationGracePeriod: time.Second})
	rev := testRevision("family-00001", "TESTFN_SPAWN_CHILD=1")
	e.deploy(t, rev, 2)
	e.rec.waitFor(t, "two ready", readyN(2))

	// testfn prints its child's pid: wait for both lines in the logs.
	childRE := regexp.MustCompile(`testfn: child pid (\d+)`)
	var children []int
	eventually(t, "two child pids logged", func() bool {
		var b strings.Builder
		if err := e.rt.Logs(context.Background(), rev.Key(), runtime.LogOptions{}, &b); err != nil {
			t.Fatal(err)
		}
		children = children[:0]
		for _, m := range childRE.FindAllStringSubmatch(b.String(), -1) {
			pid, _ := strconv.Atoi(m[1])
			children = append(children, pid)
		}
		return len(children) == 2
	})
	leaders := e.pids()
	for _, pid := range append(leaders, children...) {
		if !alive(pid) {
			t.Fatalf("process %d not running before Shutdown", pid)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range append(leaders, children...) {
		if alive(pid) {
			t.Errorf("process %d outlived Shutdown", pid)
		}
	}
	if recs, _ := filepath.Glob(filepath.Join(e.dir, "instances", "*.json")); len(recs) != 0 {
		t.Errorf("records left after Shutdown: %v", recs)
	}
	for _, l := range e.logs.FilterMessage("instance stopped").All() {
		if l.ContextMap()["reason"] != reasonShutdown {
			t.Errorf("stop log %v, want reason shutdown", l.ContextMap())
		}
	}
	if n := len(e.dr.done()); n != 2 {
		t.Errorf("%d drains at Shutdown, want 2", n)
	}
	if err := e.rt.Scale(ctx, rev.Key(), 1); err == nil {
		t.Error("Scale after Shutdown succeeded")
	}
}

func TestShutdownDeadlineKillsAtOnce(t *testing.T) {
	e := newEnv(t, Options{TerminationGracePeriod: time.Hour})
	e.dr.release = make(chan struct{}) // drains never end on their own
	rev := testRevision("stuck-00001", "TESTFN_IGNORE_TERM=1")
	e.deploy(t, rev, 1)
	e.rec.waitFor(t, "ready", readyN(1))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := e.rt.Shutdown(ctx); err == nil {
		t.Error("Shutdown past its deadline returned nil")
	}
	for _, pid := range e.pids() {
		if alive(pid) {
			t.Errorf("process %d outlived Shutdown", pid)
		}
	}
}

// startGroup starts sh -c script as the leader of a new process group and
// returns it with its start time.
func startGroup(t *testing.T, script string) (*exec.Cmd, uint64) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	st, err := readStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// The script says "up" once its children run.
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "up" {
		t.Fatalf("%q printed %q", script, line)
	}
	return cmd, st.startTime
}

func groupMembers(pgid int) []int {
	var pids []int
	for pid, st := range allProcs() {
		if st.pgrp == pgid && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestNewKillsOrphanedGroups(t *testing.T) {
	dir := t.TempDir()
	recs := records{dir: filepath.Join(dir, "instances")}
	if err := os.MkdirAll(recs.dir, 0o755); err != nil {
		t.Fatal(err)
	}

	// A group whose leader is alive, with a child.
	withLeader, start1 := startGroup(t, "sleep 1000 & echo up; wait")
	// A group whose leader exited, leaving its child.
	noLeader, start2 := startGroup(t, "sleep 1000 & echo up")
	if err := noLeader.Wait(); err != nil {
		t.Fatal(err)
	}
	// A process whose pid a record names, with another start time: the pid
	// was recycled, and it must survive.
	stranger, start3 := startGroup(t, "echo up; exec sleep 1000")
	t.Cleanup(func() {
		_ = syscall.Kill(-stranger.Process.Pid, syscall.SIGKILL)
		_ = stranger.Wait()
	})

	if n := len(groupMembers(withLeader.Process.Pid)); n != 2 {
		t.Fatalf("group with leader has %d live members, want 2", n)
	}
	orphan := groupMembers(noLeader.Process.Pid)
	if len(orphan) != 1 {
		t.Fatalf("group without leader has %d live members, want 1", len(orphan))
	}
	for _, rec := range []record{
		{PID: withLeader.Process.Pid, StartTime: start1, Revision: "old-00001", Instance: "old-00001-aaaaa"},
		{PID: noLeader.Process.Pid, StartTime: start2, Revision: "old-00001", Instance: "old-00001-bbbbb"},
		{PID: stranger.Process.Pid, StartTime: start3 - 1, Revision: "old-00001", Instance: "old-00001-ccccc"},
	} {
		if err := recs.write(rec); err != nil {
			t.Fatal(err)
		}
	}

	rt, err := New(Options{StateDir: dir, Observer: newRecorder(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	_ = withLeader.Wait() // reap the killed leader

	eventually(t, "orphans killed", func() bool {
		return len(groupMembers(withLeader.Process.Pid)) == 0 && !alive(orphan[0])
	})
	if !alive(stranger.Process.Pid) {
		t.Error("a process with a recycled pid was killed")
	}
	if left, _ := filepath.Glob(filepath.Join(recs.dir, "*.json")); len(left) != 0 {
		t.Errorf("records left: %v", left)
	}
}

func TestStateDirIsExclusive(t *testing.T) {
	dir := t.TempDir()
	opts := Options{StateDir: dir, Observer: newRecorder()}
	rt, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(opts); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second New on one state dir = %v, want in use", err)
	}
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt, err = New(opts)
	if err != nil {
		t.Fatalf("New after Shutdown: %v", err)
	}
	_ = rt.Shutdown(context.Background())
}

// TestSIGKILLedWakeLeavesNothingBehind kills a wake (the test binary
// playing one) with SIGKILL: Pdeathsig kills its instance at once, and the
// next New kills the instance's child, which Pdeathsig does not cover: by
// its process group, or, for a child that left it (setsid), by the
// instance's cgroup.
func TestSIGKILLedWakeLeavesNothingBehind(t *testing.T) {
	t.Run("child in the process group", func(t *testing.T) { sigkilledWake(t, "1") })
	t.Run("setsid child", func(t *testing.T) {
		needCgroups(t)
		sigkilledWake(t, "setsid")
	})
}

func sigkilledWake(t *testing.T, spawn string) {
	dir := t.TempDir()
	wake := exec.Command(os.Args[0], "-test.run=^$")
	wake.Env = append(os.Environ(), helperStateEnv+"="+dir, helperTestfnEnv+"="+testfn, helperSpawnEnv+"="+spawn)
	wake.Stderr = os.Stderr
	out, err := wake.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := wake.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = wake.Process.Kill()
		_ = wake.Wait()
	}()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("helper wake printed %q", line)
	}

	recs, _ := filepath.Glob(filepath.Join(dir, "instances", "*.json"))
	if len(recs) != 1 {
		t.Fatalf("records %v, want one", recs)
	}
	leader, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(recs[0]), ".json"))
	var child int
	defer func() { // should the test fail midway
		for _, pid := range []int{leader, child} {
			if pid > 0 && alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}()
	eventually(t, "the child's pid in the log", func() bool {
		logs, _ := filepath.Glob(filepath.Join(dir, "logs", "default", "orphan-00001", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if m := regexp.MustCompile(`child pid (\d+)`).FindSubmatch(b); m != nil {
				child, _ = strconv.Atoi(string(m[1]))
			}
		}
		return child != 0
	})
	if !alive(leader) || !alive(child) {
		t.Fatalf("instance %d or its child %d not running", leader, child)
	}

	if err := wake.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = wake.Wait()
	eventually(t, "Pdeathsig to kill the instance", func() bool { return !alive(leader) })
	if !alive(child) {
		t.Fatalf("child %d died with wake: the test shows nothing", child)
	}

	rt, err := New(Options{StateDir: dir, Observer: newRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	eventually(t, "New to kill the orphaned child", func() bool { return !alive(child) })
	if left, _ := filepath.Glob(filepath.Join(dir, "instances", "*.json")); len(left) != 0 {
		t.Errorf("records left: %v", left)
	}
}
