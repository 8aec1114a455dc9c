// Package cgroup owns the control groups wake puts each instance in: one
// group per instance under wake's own parent group, with its memory, CPU
// and process-count limits, so that an instance cannot take the machine,
// every process it starts (setsid or not) can be found and killed with
// it, and a kill for its memory limit can be told from any other.
//
// It works on cgroup v2 (the unified hierarchy) and on cgroup v1, where
// the memory, cpu, pids and freezer controllers are mounted separately
// under the root (as on this project's CI machines).
package cgroup

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Root is where cgroup hierarchies are mounted.
const Root = "/sys/fs/cgroup"

// v1Controllers are the v1 hierarchies an instance joins: limits in the
// first three, and freezer so that a kill cannot race a fork.
var v1Controllers = []string{"memory", "cpu", "pids", "freezer"}

// Scope names the wake whose state is in dir among others on the machine:
// a hash of its absolute path, used below "wake/" for its instances'
// groups (and by the container engine for their addresses), so that two
// wakes never touch each other's.
func Scope(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:6])
}

// Limits bound one instance. Zero fields mean no limit.
type Limits struct {
	MemoryBytes int64
	// CPUMillis is the CPU time per second of wall time, in thousandths of
	// a core (Kubernetes' "500m" is 500).
	CPUMillis int64
	Pids      int64
}

// cfsPeriod is the CFS period the CPU quota is a share of (Kubernetes').
const cfsPeriod = 100000

// Group is one instance's control group.
type Group struct {
	v2    bool
	paths map[string]string // controller (or "" on v2) -> directory
}

// V2 says whether this machine uses the unified hierarchy only.
func V2() bool {
	_, err := os.Stat(filepath.Join(Root, "cgroup.controllers"))
	return err == nil
}

// Available says why instances cannot be put in groups here, or nil.
func Available() error {
	if V2() {
		return writable(filepath.Join(Root, "wake"))
	}
	for _, c := range v1Controllers {
		if err := writable(filepath.Join(Root, c, "wake")); err != nil {
			return err
		}
	}
	return nil
}

func writable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cgroups: %w (needs root and a writable %s)", err, Root)
	}
	return nil
}

// New creates the group parent/name (parent is a path below wake's, such
// as "wake/instances") with limits.
//
// The group joins the cpu controller only with a CPU limit: a group of
// its own weighs as one task against all others in CFS, so an instance
// with several busy threads would get less CPU than the same process
// outside any group (measured: the warm path through wake lost a fifth of
// its throughput). Without a limit it keeps the scheduling it had.
func New(parent, name string, lim Limits) (*Group, error) {
	g := Open(parent, name)
	if lim.CPUMillis <= 0 {
		delete(g.paths, "cpu")
	}
	for _, p := range g.paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			g.Remove()
			return nil, fmt.Errorf("creating cgroup %s: %w", p, err)
		}
	}
	if g.v2 {
		// Enable the controllers for children of the parent.
		enable := "+memory +pids"
		if lim.CPUMillis > 0 {
			enable += " +cpu"
		}
		_ = os.WriteFile(filepath.Join(filepath.Dir(g.paths[""]), "cgroup.subtree_control"), []byte(enable), 0o644)
	}
	if err := g.setLimits(lim); err != nil {
		g.Remove()
		return nil, err
	}
	return g, nil
}

func (g *Group) setLimits(lim Limits) error {
	type setting struct{ ctrl, file, value string }
	var set []setting
	if g.v2 {
		if lim.MemoryBytes > 0 {
			set = append(set, setting{"", "memory.max", strconv.FormatInt(lim.MemoryBytes, 10)}, setting{"", "memory.swap.max", "0"})
		}
		if lim.CPUMillis > 0 {
			set = append(set, setting{"", "cpu.max", fmt.Sprintf("%d %d", max(lim.CPUMillis*cfsPeriod/1000, 1000), cfsPeriod)})
		}
		if lim.Pids > 0 {
			set = append(set, setting{"", "pids.max", strconv.FormatInt(lim.Pids, 10)})
		}
	} else {
		if lim.MemoryBytes > 0 {
			set = append(set, setting{"memory", "memory.limit_in_bytes", strconv.FormatInt(lim.MemoryBytes, 10)},
				setting{"memory", "memory.swappiness", "0"})
		}
		if lim.CPUMillis > 0 {
			set = append(set, setting{"cpu", "cpu.cfs_period_us", strconv.Itoa(cfsPeriod)},
				setting{"cpu", "cpu.cfs_quota_us", strconv.FormatInt(max(lim.CPUMillis*cfsPeriod/1000, 1000), 10)})
		}
		if lim.Pids > 0 {
			set = append(set, setting{"pids", "pids.max", strconv.FormatInt(lim.Pids, 10)})
		}
	}
	for _, s := range set {
		p := filepath.Join(g.paths[s.ctrl], s.file)
		if err := os.WriteFile(p, []byte(s.value), 0o644); err != nil {
			if s.file == "memory.swappiness" || s.file == "memory.swap.max" {
				continue // no swap accounting: nothing to turn off
			}
			return fmt.Errorf("setting %s to %s: %w", p, s.value, err)
		}
	}
	return nil
}

// Open returns the group at parent/name as it is, for one left by a
// previous wake.
func Open(parent, name string) *Group {
	g := &Group{v2: V2(), paths: map[string]string{}}
	if g.v2 {
		g.paths[""] = filepath.Join(Root, parent, name)
	} else {
		for _, c := range v1Controllers {
			g.paths[c] = filepath.Join(Root, c, parent, name)
		}
	}
	return g
}

// List returns the names of the groups under parent.
func List(parent string) []string {
	dir := filepath.Join(Root, parent)
	if !V2() {
		dir = filepath.Join(Root, "pids", parent)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// Path returns the group's directory in the v1 hierarchy ctrl, or its
// only directory on v2 (ctrl ignored).
func (g *Group) Path(ctrl string) string {
	if g.v2 {
		return g.paths[""]
	}
	return g.paths[ctrl]
}

// Procs lists the processes in the group and the groups below it.
func (g *Group) Procs() []int {
	root := g.Path("pids")
	var pids []int
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		f, err := os.Open(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
				pids = append(pids, pid)
			}
		}
		f.Close()
		return nil
	})
	return pids
}

// Kill SIGKILLs every process in the group and waits, at most d, until
// none is left. On v1 the group is frozen first, so a process cannot fork
// a child that escapes the kill; on v2 cgroup.kill does it in one step.
func (g *Group) Kill(d time.Duration) error {
	if g.v2 {
		_ = os.WriteFile(filepath.Join(g.paths[""], "cgroup.kill"), []byte("1"), 0o644)
	} else {
		freezer := filepath.Join(g.paths["freezer"], "freezer.state")
		if os.WriteFile(freezer, []byte("FROZEN"), 0o644) == nil {
			defer os.WriteFile(freezer, []byte("THAWED"), 0o644)
		}
	}
	deadline := time.Now().Add(d)
	for {
		pids := g.Procs()
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if !g.v2 {
			// A frozen process dies of SIGKILL only once thawed.
			_ = os.WriteFile(filepath.Join(g.paths["freezer"], "freezer.state"), []byte("THAWED"), 0o644)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: %d processes left after SIGKILL", g.Path("pids"), len(pids))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// OOMKilled says whether the kernel killed a process of the group for the
// group's memory limit: on v2 and for processes directly in a v1 group,
// by the oom_kill count; on v1 a group below it (an OCI runtime's, gone
// with its container) is counted by the limit having been hit.
func (g *Group) OOMKilled() bool {
	if g.v2 {
		return readKey(filepath.Join(g.paths[""], "memory.events"), "oom_kill") > 0
	}
	mem := g.paths["memory"]
	if readKey(filepath.Join(mem, "memory.oom_control"), "oom_kill") > 0 {
		return true
	}
	b, _ := os.ReadFile(filepath.Join(mem, "memory.failcnt"))
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n > 0
}

// MemoryLimit returns the group's memory limit in bytes, 0 for none.
func (g *Group) MemoryLimit() int64 {
	file := filepath.Join(g.Path("memory"), "memory.limit_in_bytes")
	if g.v2 {
		file = filepath.Join(g.paths[""], "memory.max")
	}
	b, _ := os.ReadFile(file)
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n >= 1<<62 {
		return 0
	}
	return n
}

func readKey(file, key string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// Remove deletes the group and the groups below it, which must hold no
// process (Kill first).
func (g *Group) Remove() error {
	var errs []error
	for _, p := range g.paths {
		var dirs []string
		_ = filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, q)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// Prune removes the empty groups directly below parent (those of wakes
// that are gone), leaving any that still hold a group: rmdir refuses a
// group with children, so a live wake's are never touched, and one that
// starts an instance meanwhile creates its group again.
func Prune(parent string) {
	hierarchies := []string{Root}
	if !V2() {
		hierarchies = hierarchies[:0]
		for _, c := range v1Controllers {
			hierarchies = append(hierarchies, filepath.Join(Root, c))
		}
	}
	for _, h := range hierarchies {
		entries, _ := os.ReadDir(filepath.Join(h, parent))
		for _, e := range entries {
			if e.IsDir() {
				_ = syscall.Rmdir(filepath.Join(h, parent, e.Name()))
			}
		}
	}
}

// EnterThread moves the calling OS thread into the group and returns a
// function that moves it back. The caller must hold the thread
// (runtime.LockOSThread). A process forked meanwhile is born in the group,
// with no moment outside it in which it could fork a child that escapes
// it: on cgroup v1 membership is per thread, and fork inherits it. On v2,
// where a thread cannot leave its process's group, use FD with
// SysProcAttr.UseCgroupFD instead.
func (g *Group) EnterThread() (leave func() error, err error) {
	if g.v2 {
		return nil, errors.New("cgroup v2: a thread cannot enter a group alone; use FD")
	}
	orig, err := threadGroups()
	if err != nil {
		return nil, err
	}
	tid := []byte(strconv.Itoa(syscall.Gettid()))
	leave = func() error {
		var errs []error
		for c := range g.paths {
			if err := os.WriteFile(filepath.Join(Root, c, orig[c], "tasks"), tid, 0o644); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for c := range g.paths {
		if err := os.WriteFile(filepath.Join(g.paths[c], "tasks"), tid, 0o644); err != nil {
			leave()
			return nil, fmt.Errorf("entering cgroup %s: %w", g.paths[c], err)
		}
	}
	return leave, nil
}

// threadGroups reads the calling thread's v1 groups, by controller.
func threadGroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			out[c] = f[2]
		}
	}
	for _, c := range v1Controllers {
		if _, ok := out[c]; !ok {
			return nil, fmt.Errorf("this thread is in no %s cgroup", c)
		}
	}
	return out, nil
}

// FD opens the group's directory for SysProcAttr.CgroupFD (cgroup v2's
// CLONE_INTO_CGROUP); the caller closes it after the fork.
func (g *Group) FD() (*os.File, error) {
	if !g.v2 {
		return nil, errors.New("cgroup v1 has no CLONE_INTO_CGROUP; use EnterThread")
	}
	return os.Open(g.paths[""])
}
