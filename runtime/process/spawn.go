package process

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/wakefn/wake/runtime/cgroup"
)

// spawner forks every child of a Runtime from one OS thread.
//
// Children get Pdeathsig SIGKILL so that none outlives wake, even a wake
// that is SIGKILLed. But Linux sends the parent-death signal when the
// *thread* that forked the child exits, not the process, and Go ends OS
// threads behind our back: a goroutine that exits while locked to its
// thread (any library may do that) takes the thread with it, and the
// scheduler is free to retire idle threads. A child forked from whatever
// thread a goroutine happened to run on could then be killed at a random
// moment while wake runs on. So all forks happen in one goroutine that
// holds runtime.LockOSThread for the whole life of the Runtime: no other
// goroutine ever runs on that thread, and Go never ends a locked thread
// under a live goroutine. The cost is one parked thread per Runtime and
// forks serialized through a channel (well under a millisecond each, far
// below an instance's start time).
type spawner struct {
	reqs chan spawnReq
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

type spawnReq struct {
	cmd   *exec.Cmd
	group *cgroup.Group // the child is born in it; nil for none
	reply chan spawnReply
}

type spawnReply struct {
	startTime uint64 // field 22 of /proc/PID/stat
	err       error
}

func startSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), quit: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *spawner) loop() {
	// Never unlocked: when the loop returns (after Shutdown stopped every
	// child) the goroutine exits locked and Go ends the thread with it,
	// which SIGKILLs any child that could somehow still be alive.
	goruntime.LockOSThread()
	defer close(s.done)
	for {
		select {
		case req := <-s.reqs:
			var rep spawnReply
			rep.err = startIn(req.cmd, req.group)
			if rep.err == nil {
				// Read before anyone can reap the child, so the
				// pid still names it.
				if st, err := readStat(req.cmd.Process.Pid); err == nil {
					rep.startTime = st.startTime
				}
			}
			req.reply <- rep
		case <-s.quit:
			return
		}
	}
}

// startIn starts cmd so that it is born in group: on cgroup v2 through
// CLONE_INTO_CGROUP, on v1 by forking while the spawner's thread is in the
// group, then leaving it. Either way no process of the instance is ever
// outside its group, so none can escape the group's kill.
func startIn(cmd *exec.Cmd, group *cgroup.Group) error {
	if group == nil {
		return cmd.Start()
	}
	if cgroup.V2() {
		fd, err := group.FD()
		if err != nil {
			return err
		}
		defer fd.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(fd.Fd())
		return cmd.Start()
	}
	leave, err := group.EnterThread()
	if err != nil {
		return err
	}
	err = cmd.Start()
	if lerr := leave(); lerr != nil && err == nil {
		// The thread stays in the group: the next fork would land in it
		// too. Refuse this start; the instance is retried.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("leaving the instance's cgroup: %w", lerr)
	}
	return err
}

// start starts cmd from the spawner's thread, in group (nil for none),
// and returns the child's start time (clock ticks after boot, as /proc
// reports it).
func (s *spawner) start(cmd *exec.Cmd, group *cgroup.Group) (uint64, error) {
	req := spawnReq{cmd: cmd, group: group, reply: make(chan spawnReply, 1)}
	select {
	case s.reqs <- req:
	case <-s.quit:
		return 0, ErrShutdown
	}
	rep := <-req.reply
	return rep.startTime, rep.err
}

func (s *spawner) stop() {
	s.once.Do(func() { close(s.quit) })
	<-s.done
}

// cmd returns the command of an instance listening on port: the
// container's command and args ($(VAR) expanded as Kubernetes does), in
// its working directory, with the base environment, then the manifest's,
// then PORT and the K_* variables. It runs in a process group of its own
// and is SIGKILLed if the forking thread dies.
func (s *revSpec) cmd(port int) *exec.Cmd {
	injected := [][2]string{
		{"PORT", strconv.Itoa(port)},
		{"K_SERVICE", s.function},
		{"K_CONFIGURATION", s.function},
		{"K_REVISION", s.key.Name},
	}
	vars := map[string]string{}
	for _, kv := range injected {
		vars[kv[0]] = kv[1]
	}
	env := append([]string(nil), s.baseEnv...)
	for _, e := range s.env {
		v := expand(e.Value, vars)
		if _, reserved := vars[e.Name]; !reserved {
			vars[e.Name] = v
		}
		env = append(env, e.Name+"="+v)
	}
	for _, kv := range injected {
		env = append(env, kv[0]+"="+kv[1])
	}
	args := append(append([]string(nil), s.command[1:]...), s.args...)
	for i, a := range args {
		args[i] = expand(a, vars)
	}
	cmd := exec.Command(expand(s.command[0], vars), args...)
	cmd.Dir = s.workingDir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// expand replaces $(NAME) with vars[NAME] the way Kubernetes expands a
// container's command, args and env: $$ is a literal $, and a reference to
// an unknown variable is left as written.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// ports hands out free loopback ports, one per live instance. A port is
// found by listening on 127.0.0.1:0 and closing the listener; the set keeps
// a port from going to two live instances should the kernel offer it
// twice. Another program can still take it before the instance binds it:
// the instance then exits and is replaced, on a new port.
type ports struct {
	mu   sync.Mutex
	used map[int]bool
}

func (p *ports) take() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 16 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !p.used[port] {
			p.used[port] = true
			return port, nil
		}
	}
	return 0, errors.New("every port offered is in use by an instance")
}

func (p *ports) release(port int) {
	p.mu.Lock()
	delete(p.used, port)
	p.mu.Unlock()
}

// procStat is what wake reads of /proc/PID/stat.
type procStat struct {
	state     byte   // field 3: R, S, D, Z (zombie), ...
	pgrp      int    // field 5
	startTime uint64 // field 22: clock ticks after boot
}

// readStat parses /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(string(b))
}

func parseStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed stat %q", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("malformed stat %q", s)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("malformed stat pgrp %q", f[2])
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed stat starttime %q", f[19])
	}
	return procStat{state: f[0][0], pgrp: pgrp, startTime: start}, nil
}
