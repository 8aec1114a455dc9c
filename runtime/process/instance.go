package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/wakefn/wake/runtime"
)

// outputWait bounds how long an exited instance's output is awaited: its
// group was SIGKILLed, so the pipe closes at once unless a process escaped
// the group while keeping it open.
const outputWait = time.Second

// lastLines is how many lines of output a failure message quotes.
const lastLines = 5

// groupWait bounds how long a stop waits for the SIGKILLed members of an
// instance's group (its children) to die; only a process stuck in the
// kernel takes longer.
const groupWait = 2 * time.Second

// phase is where an instance is in its life. Only the revision's mutex
// guards it.
type phase int

const (
	phaseStarting phase = iota // started (or about to be), not ready yet
	phaseReady                 // passed its probe: in State.Ready
	phaseUnready               // was ready, failing its probe now: not stopped
	phaseStopping              // being stopped, or exited: in no count
)

// instance is one run of a revision's command. Its goroutine (run) owns
// the process from fork to reap: it probes it, reports to the revision,
// and stops it when asked (stopCh) or when it must.
type instance struct {
	rev    *revision
	seq    int64         // start order
	stopCh chan struct{} // closed by requestStop

	// guarded by rev.mu
	id, addr   string
	phase      phase
	everReady  bool
	readySince time.Time // zero unless ready
	stopReason string
	stopSeq    uint64 // the report that took the instance out of the counts
}

// requestStop asks the instance goroutine to stop the instance after
// report seq is delivered. Called once, with rev.mu held.
func (in *instance) requestStop(reason string, seq uint64) {
	in.stopReason, in.stopSeq = reason, seq
	close(in.stopCh)
}

func (in *instance) endpoint() runtime.Endpoint {
	in.rev.mu.Lock()
	defer in.rev.mu.Unlock()
	return runtime.Endpoint{ID: in.id, Addr: in.addr}
}

// proc is a started process group. Its leader is the instance's command,
// and the group's id is the leader's pid.
type proc struct {
	cmd       *exec.Cmd
	pid       int
	startTime uint64 // of the leader, as /proc reports it
	port      int
	start     time.Time // when it was forked, by the runtime's clock
	out       *output
	exited    chan struct{} // closed once the leader is reaped

	mu    sync.Mutex
	gone  bool // leader reaped: its pid may name another group now
	state *os.ProcessState
}

// signal sends sig to the whole group, unless the leader was reaped (the
// pid could then be another process's).
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.gone {
		_ = syscall.Kill(-p.pid, sig)
	}
}

// wait blocks until the leader exits, SIGKILLs what is left of its group,
// and reaps it.
func (p *proc) wait() {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	p.mu.Lock()
	// The leader is a zombie until the Wait below: its pid, which is the
	// group's id, cannot be reused yet, so this reaches only the group's
	// own stragglers (the instance's children), never a stranger.
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.state = p.cmd.ProcessState
	p.gone = true
	p.mu.Unlock()
	close(p.exited)
}

// waitGroup waits, at most d, until the group's other members (the
// instance's children, SIGKILLed by wait while the leader was a zombie) are
// gone, so that a stopped instance has left nothing running. Zombies count
// as gone: reaping them is their new parent's business. With no member
// left, as is usual, this is one kill(2) of signal 0; otherwise it reads
// /proc every 5 ms. It only looks: the leader is reaped, so the group id
// could name another group by now.
func (p *proc) waitGroup(d time.Duration) {
	deadline := time.Now().Add(d)
	for !errors.Is(syscall.Kill(-p.pid, 0), syscall.ESRCH) && time.Now().Before(deadline) {
		left := false
		for _, st := range allProcs() {
			if st.pgrp == p.pid && st.startTime >= p.startTime && st.state != 'Z' {
				left = true
				break
			}
		}
		if !left {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *proc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// run is the instance goroutine.
func (in *instance) run() {
	r := in.rev
	defer r.rt.wg.Done()
	defer r.instanceDone()
	select {
	case <-in.stopCh:
		return // a victim before it was started
	default:
	}
	p := in.start()
	if p == nil {
		return
	}
	defer in.cleanup(p)
	in.supervise(p)
}

// start forks the instance. On failure it records it and returns nil.
func (in *instance) start() *proc {
	r := in.rev
	rt, spec := r.rt, r.spec
	port, err := rt.ports.take()
	if err != nil {
		r.failed(in, true, runtime.ReasonStartFailed, "no free loopback port: "+err.Error(), time.Time{})
		return nil
	}
	id, lf, err := rt.logs.create(spec.key, in.seq)
	if err != nil {
		rt.ports.release(port)
		r.failed(in, true, runtime.ReasonStartFailed, "creating the instance log: "+err.Error(), time.Time{})
		return nil
	}
	r.mu.Lock()
	in.id, in.addr = id, "127.0.0.1:"+strconv.Itoa(port)
	r.mu.Unlock()
	fail := func(reason, msg string) *proc {
		fmt.Fprintf(lf, "wake: %s\n", msg)
		lf.Close()
		rt.logs.done(spec.key, id)
		rt.ports.release(port)
		if r.failed(in, true, reason, msg, time.Time{}) {
			r.log.Warn("instance failed to start", zap.String("instance", id), zap.String("reason", reason), zap.String("message", msg))
		}
		return nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fail(runtime.ReasonStartFailed, "creating the output pipe: "+err.Error())
	}
	cmd := spec.cmd(port)
	cmd.Stdout, cmd.Stderr = pw, pw
	startedAt := rt.clock.Now()
	startTime, err := rt.spawner.start(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		if errors.Is(err, ErrShutdown) {
			return fail(runtime.ReasonStartFailed, err.Error())
		}
		return fail(runtime.ReasonExecFailed, fmt.Sprintf("cannot run %q: %v", spec.command[0], err))
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, startTime: startTime, port: port, start: startedAt, exited: make(chan struct{})}
	// The record is written before wait can reap the leader, so its pid
	// and start time still name this process.
	if err := rt.records.write(record{PID: p.pid, StartTime: startTime, Namespace: spec.key.Namespace, Revision: spec.key.Name, Instance: id}); err != nil {
		r.log.Warn("recording the instance's process group", zap.String("instance", id), zap.Error(err))
	}
	p.out = newOutput(pr, lf)
	go p.wait()
	r.log.Info("instance started", zap.String("instance", id), zap.Int("pid", p.pid), zap.String("addr", "127.0.0.1:"+strconv.Itoa(port)))
	return p
}

// supervise probes the instance until it exits, is asked to stop, or
// misses its start deadline.
func (in *instance) supervise(p *proc) {
	r := in.rev
	rt := r.rt
	ctx, cancel := context.WithCancel(context.Background())
	pr := newProber(rt.clock, r.spec.probe, newCheck(rt.probes, r.spec.probe, p.port))
	results := make(chan bool)
	probing := make(chan struct{})
	go func() {
		defer close(probing)
		pr.run(ctx, results)
	}()
	defer func() {
		cancel()
		<-probing
	}()
	startTimer := rt.clock.NewTimer(rt.opts.StartTimeout)
	defer startTimer.Stop()
	startC := startTimer.C()
	for {
		select {
		case <-p.exited:
			cancel()
			in.exited(p)
			return
		case <-in.stopCh:
			cancel()
			in.stop(p)
			return
		case ready := <-results:
			if !ready {
				r.becameUnready(in, fmt.Sprintf("readiness probe failed %d times in a row: %v", r.spec.probe.failure, pr.lastError()))
				continue
			}
			if r.becameReady(in) && startC != nil {
				startTimer.Stop()
				startC = nil
				r.log.Info("instance ready", zap.String("instance", in.endpoint().ID), zap.Duration("startup", rt.clock.Since(p.start)))
			}
		case <-startC:
			startC = nil
			msg := fmt.Sprintf("not ready within %v; readiness probe: %v%s", rt.opts.StartTimeout, pr.lastError(), p.out.quote())
			if !r.failed(in, true, runtime.ReasonStartTimeout, msg, time.Time{}) {
				continue // being stopped anyway: stopCh is closed
			}
			cancel()
			in.terminate(p, false, 0)
			r.log.Info("instance stopped", zap.String("instance", in.endpoint().ID), zap.Int("pid", p.pid), zap.String("reason", reasonStartTimeout))
			return
		}
	}
}

// exited handles an exit: unexpected, it reports the instance gone at
// once, then the failure with the instance's last output.
func (in *instance) exited(p *proc) {
	r := in.rev
	unexpected, readySince := r.exited(in)
	if !unexpected {
		in.stop(p)
		return
	}
	p.out.wait(outputWait)
	status := describeExit(p.state)
	r.mu.Lock()
	everReady := in.everReady
	r.mu.Unlock()
	reason, msg := runtime.ReasonExitedBeforeReady, status+" before becoming ready"+p.out.quote()
	if everReady {
		reason, msg = runtime.ReasonCrashed, status+" after being ready"+p.out.quote()
	}
	r.failed(in, false, reason, msg, readySince)
	r.log.Info("instance stopped", zap.String("instance", in.endpoint().ID), zap.Int("pid", p.pid),
		zap.String("reason", reasonCrashed), zap.String("status", status))
}

// stop carries out requestStop: drain (for an instance that was ever
// ready), then SIGTERM, then SIGKILL after the grace period.
func (in *instance) stop(p *proc) {
	r := in.rev
	r.mu.Lock()
	reason, seq, drain := in.stopReason, in.stopSeq, in.everReady
	r.mu.Unlock()
	if reason == "" {
		reason = reasonCrashed // exited on its own while being failed
	}
	killed := in.terminate(p, drain, seq)
	r.log.Info("instance stopped", zap.String("instance", in.endpoint().ID), zap.Int("pid", p.pid),
		zap.String("reason", reason), zap.Bool("killed", killed))
}

// terminate ends the process group: when drain is set, it first waits for
// the observer to see snapshot seq (which lacks the instance) and for the
// Drainer, both within the revision's timeoutSeconds. It returns whether
// SIGKILL was needed. Shutdown's deadline cuts every wait short.
func (in *instance) terminate(p *proc, drain bool, seq uint64) (killed bool) {
	r := in.rev
	rt := r.rt
	if drain && !p.hasExited() {
		ctx, cancel := context.WithTimeout(rt.hard, r.spec.timeout)
		err := r.notify.wait(ctx, seq)
		if err == nil && rt.opts.Drainer != nil && !p.hasExited() {
			err = rt.opts.Drainer.Drain(ctx, r.spec.key, in.endpoint())
		}
		if err != nil {
			r.log.Warn("draining instance", zap.String("instance", in.endpoint().ID), zap.Error(err))
		}
		cancel()
	}
	if p.hasExited() {
		return false
	}
	p.signal(syscall.SIGTERM)
	grace := rt.clock.NewTimer(rt.opts.TerminationGracePeriod)
	defer grace.Stop()
	select {
	case <-p.exited:
		return false
	case <-grace.C():
	case <-rt.hard.Done():
	}
	p.signal(syscall.SIGKILL)
	<-p.exited
	return true
}

// cleanup releases what the instance held once its process is gone.
func (in *instance) cleanup(p *proc) {
	rt := in.rev.rt
	<-p.exited
	p.waitGroup(groupWait)
	p.out.wait(outputWait)
	p.out.close()
	rt.records.remove(p.pid)
	rt.logs.done(in.rev.spec.key, in.endpoint().ID)
	rt.ports.release(p.port)
}

// describeExit says how a process ended, e.g. "exited with status 1" or
// "was killed by signal SIGKILL".
func describeExit(s *os.ProcessState) string {
	if s == nil {
		return "exited"
	}
	if ws, ok := s.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "was killed by signal " + unix.SignalName(ws.Signal())
	}
	return "exited with status " + strconv.Itoa(s.ExitCode())
}

// output copies an instance's stdout and stderr (one pipe) to its log
// file, keeping the last tailBytes in memory for failure messages. The
// pipe is always drained, even when the log cannot be written, so the
// instance never blocks on a full pipe.
type output struct {
	r    *os.File
	lf   *logFile
	done chan struct{} // closed at EOF or once r is closed

	mu   sync.Mutex
	tail []byte
}

const tailBytes = 4 << 10

func newOutput(r *os.File, lf *logFile) *output {
	o := &output{r: r, lf: lf, done: make(chan struct{})}
	go o.copy()
	return o
}

func (o *output) copy() {
	defer close(o.done)
	buf := make([]byte, 32<<10)
	for {
		n, err := o.r.Read(buf)
		if n > 0 {
			_, _ = o.lf.Write(buf[:n])
			o.mu.Lock()
			o.tail = append(o.tail, buf[:n]...)
			if len(o.tail) > tailBytes {
				o.tail = append(o.tail[:0], o.tail[len(o.tail)-tailBytes:]...)
			}
			o.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// wait waits up to d for the end of the output.
func (o *output) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
	}
}

// close stops copying and closes the log file.
func (o *output) close() {
	o.r.Close()
	<-o.done
	o.lf.Close()
}

// quote returns "; last output: " and the last lines printed, or "" when
// there was none.
func (o *output) quote() string {
	o.mu.Lock()
	s := strings.TrimRight(string(o.tail), "\n")
	full := len(o.tail) == tailBytes
	o.mu.Unlock()
	if strings.TrimSpace(s) == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > lastLines {
		lines = lines[len(lines)-lastLines:]
	}
	if full && len(lines) > 1 && len(lines) < lastLines {
		lines = lines[1:] // the first one was cut by the buffer
	}
	return "; last output: " + strings.Join(lines, "\n")
}
