package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/cgroup"
	"github.com/wakefn/wake/runtime/container"
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
	rev       *revision
	seq       int64         // start order
	stopCh    chan struct{} // closed by requestStop
	scheduled time.Time     // when reconcile created it

	// guarded by rev.mu
	id, addr   string
	started    *runtime.StartTimes // set on its first join of Ready, then shared
	phase      phase
	everReady  bool
	readySince time.Time // zero unless ready
	stopReason string
	stopSeq    uint64 // the report that took the instance out of the counts
	progress   string // what it waits for, while starting (State.Progress)
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
	return runtime.Endpoint{ID: in.id, Addr: in.addr, Started: in.started}
}

// proc is a started process group. Its leader is the instance's command,
// and the group's id is the leader's pid.
type proc struct {
	cmd       *exec.Cmd
	pid       int
	startTime uint64 // of the leader, as /proc reports it
	host      string // where the instance listens: 127.0.0.1, or its container's address
	port      int
	loopback  int                 // the loopback port taken for it, 0 for a container
	start     time.Time           // when it was forked, by the runtime's clock
	creating  time.Time           // when its container began to be prepared; zero for a command
	ctr       *container.Instance // nil for a command
	group     *cgroup.Group       // a command's control group; nil without cgroups
	out       *output
	exited    chan struct{} // closed once the leader is reaped

	mu    sync.Mutex
	gone  bool // leader reaped: its pid may name another group now
	state *os.ProcessState
}

// signal sends sig to the whole group, unless the leader was reaped (the
// pid could then be another process's).
//
// A container's processes are not in runc's group: SIGTERM reaches them
// through runc, which forwards it, and SIGKILL, which runc cannot
// forward, is sent to the container's control group.
func (p *proc) signal(sig syscall.Signal) {
	if p.ctr != nil && sig == syscall.SIGKILL {
		p.ctr.Kill()
	}
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
	if p.group != nil {
		// And those that left the process group (setsid, a daemon's
		// double fork) but never the control group.
		_ = p.group.Kill(groupWait)
	}
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

// start forks the instance: its command, or for an image revision runc
// running its container. On failure it records it and returns nil.
func (in *instance) start() *proc {
	r := in.rev
	rt, spec := r.rt, r.spec
	loopback := 0 // the port taken from rt.ports: a command's, released with it
	if spec.image == nil {
		var err error
		if loopback, err = rt.ports.take(); err != nil {
			r.failed(in, true, runtime.ReasonStartFailed, "no free loopback port: "+err.Error(), time.Time{})
			return nil
		}
	}
	port := loopback // a container's is its containerPort, on its own address
	id, lf, err := rt.logs.create(spec.key, in.seq)
	if err != nil {
		rt.ports.release(loopback)
		r.failed(in, true, runtime.ReasonStartFailed, "creating the instance log: "+err.Error(), time.Time{})
		return nil
	}
	host := "127.0.0.1"
	var ctr *container.Instance
	fail := func(reason, msg string) *proc {
		fmt.Fprintf(lf, "wake: %s\n", msg)
		lf.Close()
		rt.logs.done(spec.key, id)
		rt.ports.release(loopback)
		if ctr != nil {
			if err := ctr.Cleanup(); err != nil {
				r.log.Warn("removing the container", zap.String("instance", id), zap.Error(err))
			}
		}
		if r.failed(in, true, reason, msg, time.Time{}) {
			r.log.Warn("instance failed to start", zap.String("instance", id), zap.String("reason", reason), zap.String("message", msg))
		}
		return nil
	}
	var cmd *exec.Cmd
	creating := rt.clock.Now()
	if spec.image != nil {
		if ctr, port, err = in.prepareContainer(id); err != nil {
			var fe *startError
			if errors.As(err, &fe) {
				return fail(fe.reason, fe.msg)
			}
			return fail(runtime.ReasonStartFailed, err.Error())
		}
		host, cmd = ctr.IP.String(), ctr.Cmd
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	} else {
		cmd = spec.cmd(port)
		creating = time.Time{}
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	r.mu.Lock()
	in.id, in.addr = id, addr
	r.mu.Unlock()
	pr, pw, err := os.Pipe()
	if err != nil {
		return fail(runtime.ReasonStartFailed, "creating the output pipe: "+err.Error())
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	var group *cgroup.Group
	if ctr == nil && rt.cgroups != "" {
		if group, err = cgroup.New(rt.cgroups, id, spec.limits); err != nil {
			pr.Close()
			pw.Close()
			return fail(runtime.ReasonStartFailed, "creating the instance's cgroup: "+err.Error())
		}
	}
	startedAt := rt.clock.Now()
	startTime, err := rt.spawner.start(cmd, group)
	pw.Close()
	if err != nil {
		if group != nil {
			_ = group.Remove()
		}
		pr.Close()
		if errors.Is(err, ErrShutdown) {
			return fail(runtime.ReasonStartFailed, err.Error())
		}
		return fail(runtime.ReasonExecFailed, fmt.Sprintf("cannot run %q: %v", cmd.Path, err))
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, startTime: startTime, port: port, host: host, start: startedAt,
		creating: creating, ctr: ctr, group: group, exited: make(chan struct{})}
	p.loopback = loopback
	// The record is written before wait can reap the leader, so its pid
	// and start time still name this process.
	if err := rt.records.write(record{PID: p.pid, StartTime: startTime, Namespace: spec.key.Namespace, Revision: spec.key.Name, Instance: id}); err != nil {
		r.log.Warn("recording the instance's process group", zap.String("instance", id), zap.Error(err))
	}
	p.out = newOutput(pr, lf)
	go p.wait()
	r.log.Info("instance started", zap.String("instance", id), zap.Int("pid", p.pid), zap.String("addr", addr))
	return p
}

// supervise probes the instance until it exits, is asked to stop, or
// fails its start: its startup probe first, if any, then its readiness
// probe and, once that first passes, its warm-up. The warm-up runs in a
// goroutine of its own, so an exit or a stop is handled at once while it
// runs; the instance joins Ready only after it.
func (in *instance) supervise(p *proc) {
	r := in.rev
	rt, spec := r.rt, r.spec
	ctx, cancel := context.WithCancel(context.Background())
	pr := newProber(rt.clock, spec.probe, newCheck(rt.probes, spec.probe, p.host, p.port))
	var sp *prober
	if spec.startup != nil {
		sp = newProber(rt.clock, *spec.startup, newCheck(rt.probes, *spec.startup, p.host, p.port))
	}
	results := make(chan bool)
	startupDone := make(chan error, 1)
	probing := make(chan struct{})
	go func() {
		defer close(probing)
		if sp != nil {
			// Readiness is not probed until the startup probe passes, as
			// in Kubernetes.
			err := sp.startup(ctx)
			startupDone <- err
			if err != nil {
				return
			}
		}
		pr.run(ctx, results)
	}()
	warmups := make(chan warmupResult, 1)
	warming := false
	defer func() {
		cancel()
		<-probing
		if warming {
			<-warmups // cancelled: returns within a request's unwinding
		}
	}()
	startTimer := rt.clock.NewTimer(spec.deadline)
	defer startTimer.Stop()
	startC := startTimer.C()
	progressTimer := rt.clock.NewTimer(progressAfter)
	defer progressTimer.Stop()
	progressC := progressTimer.C()
	times := runtime.StartTimes{Scheduled: in.scheduled, Creating: p.creating, Forked: p.start}
	probeReady := false
	warmed := spec.warmup == nil
	var outcome warmupOutcome // applied at the join after the warm-up
	join := func() {
		if r.becameReady(in, times, outcome) {
			outcome = warmupOutcome{}
		}
	}
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
		case err := <-startupDone:
			if err == nil {
				continue // times.Up is set with Ready: the readiness result may come first
			}
			msg := fmt.Sprintf("startup probe failed %d times in a row: %v%s", spec.startup.failure, err, p.out.quote())
			if in.failStart(p, cancel, runtime.ReasonStartupProbe, msg, reasonStartupProbe) {
				return
			}
		case ready := <-results:
			probeReady = ready
			if !ready {
				r.becameUnready(in, fmt.Sprintf("readiness probe failed %d times in a row: %v", spec.probe.failure, pr.lastError()))
				continue
			}
			if times.Ready.IsZero() {
				times.Ready = rt.clock.Now()
				// Up is the startup probe's pass, or the first readiness
				// check the instance answered (a 503 from a readiness path
				// says it is up, not yet ready).
				if times.Up = pr.firstAnswer(); sp != nil {
					times.Up = sp.firstPass()
				}
				startTimer.Stop()
				progressTimer.Stop()
				startC, progressC = nil, nil
				r.log.Info("instance ready", zap.String("instance", in.endpoint().ID), zap.Duration("startup", times.Ready.Sub(p.start)))
			}
			switch {
			case warmed:
				if times.WarmedUp.IsZero() {
					times.WarmedUp = times.Ready
				}
				join()
			case !warming:
				warming = true
				addr := in.endpoint().Addr
				go func() { warmups <- runWarmup(ctx, rt.clock, spec.warmup, addr, spec.h2c) }()
			}
		case res := <-warmups:
			warming, warmed = false, true
			times.WarmedUp = rt.clock.Now()
			if in.warmedUp(p, res, cancel, &outcome) {
				return
			}
			if probeReady {
				join()
			}
		case <-progressC:
			r.setProgress(in, in.describeProgress(p, pr, sp))
			progressTimer.Reset(progressEvery)
		case <-startC:
			startC, progressC = nil, nil
			msg := fmt.Sprintf("not ready within its progress deadline of %v (%s); %s%s",
				spec.deadline, api.AnnotationProgressDeadline, waitingProbe(p, pr, sp), p.out.quote())
			if in.failStart(p, cancel, runtime.ReasonProgressDeadline, msg, reasonDeadline) {
				return
			}
		}
	}
}

// warmedUp handles the end of the instance's warm-up: it logs it and sets
// the outcome to apply when the instance joins Ready. A failure under the
// block policy stops the instance instead, and warmedUp returns true.
func (in *instance) warmedUp(p *proc, res warmupResult, cancel func(), outcome *warmupOutcome) (stopped bool) {
	r := in.rev
	w := r.spec.warmup
	id := in.endpoint().ID
	if res.err == nil {
		r.log.Info("instance warmed up", zap.String("instance", id), zap.Duration("duration", res.took), zap.Int("requests", res.done))
		*outcome = warmupOutcome{ran: true}
		return false
	}
	r.log.Warn("instance warm-up failed", zap.String("instance", id), zap.String("onFailure", w.OnFailure),
		zap.Duration("duration", res.took), zap.Int("requests", res.done), zap.Error(res.err))
	f := &runtime.Failure{Reason: runtime.ReasonWarmupFailed, Message: res.err.Error(), At: r.rt.clock.Now()}
	if w.OnFailure == api.WarmupServe {
		*outcome = warmupOutcome{ran: true, failure: f}
		return false
	}
	r.warmupFailed(f)
	return in.failStart(p, cancel, runtime.ReasonWarmupFailed, res.err.Error()+p.out.quote(), reasonWarmupFailed)
}

// failStart stops an instance that failed to start and never took
// traffic, recording reason and msg as the revision's failure (with
// backoff before the replacement). It returns false, doing nothing, when
// the instance is being stopped anyway: stopCh is closed, and the caller
// goes on to see it.
func (in *instance) failStart(p *proc, cancel func(), reason, msg, logReason string) bool {
	r := in.rev
	if !r.failed(in, true, reason, msg, time.Time{}) {
		return false
	}
	cancel()
	in.terminate(p, false, 0)
	r.log.Info("instance stopped", zap.String("instance", in.endpoint().ID), zap.Int("pid", p.pid), zap.String("reason", logReason))
	return true
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
	if p.ctr != nil && p.ctr.OOMKilled() || p.group != nil && r.spec.limits.MemoryBytes > 0 && p.group.OOMKilled() {
		reason = runtime.ReasonOOMKilled
		msg = fmt.Sprintf("killed by the kernel at its memory limit (resources.limits.memory %s)%s",
			describeMemory(r.spec.limits.MemoryBytes), p.out.quote())
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
		err := r.notify.Wait(ctx, seq)
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
	rt.ports.release(p.loopback)
	if p.group != nil {
		if err := p.group.Remove(); err != nil {
			in.rev.log.Warn("removing the instance's cgroup", zap.String("instance", in.endpoint().ID), zap.Error(err))
		}
	}
	if p.ctr != nil {
		if err := p.ctr.Cleanup(); err != nil {
			in.rev.log.Warn("removing the container", zap.String("instance", in.endpoint().ID), zap.Error(err))
		}
	}
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
