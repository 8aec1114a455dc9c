package process

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// A starting instance that is not ready after progressAfter has its
// progress reported (what its probe waits for, and its last output) in
// State.Progress, checked again every progressEvery and reported when it
// changes. A healthy start takes milliseconds to a few seconds and
// reports nothing; a JVM's 50 s shows the user what it is doing.
const (
	progressAfter = 5 * time.Second
	progressEvery = 5 * time.Second
)

// progressRetry is the least a revision waits, after an instance missed
// its progress deadline, before starting another: a start that took the
// whole deadline and failed is not tried again at once, and requests get
// a 503 naming the failure meanwhile instead of waiting for it.
const progressRetry = 30 * time.Second

// describeProgress says what a starting instance is waiting for, for State.Progress:
// e.g. "instance hello-00001-1 running since 19:20:01, nothing accepting
// connections on PORT=38987 (progress deadline 2m0s); last output: ...".
// It holds no elapsed time, so it changes only when something does.
func (in *instance) describeProgress(p *proc, readiness, startup *prober) string {
	return fmt.Sprintf("instance %s running since %s, %s (progress deadline %v)%s",
		in.endpoint().ID, p.start.Format(time.TimeOnly), waitingProbe(p, readiness, startup), in.rev.spec.deadline, p.out.quote())
}

// waitingProbe says which probe a starting instance waits on, and why it
// has not passed: its startup probe until that passes, then its
// readiness probe.
func waitingProbe(p *proc, readiness, startup *prober) string {
	if startup != nil && startup.firstPass().IsZero() {
		return "startup probe: " + describeWait(startup.lastErr(), p)
	}
	return "readiness probe: " + describeWait(readiness.lastErr(), p)
}

// describeWait says in a user's words why a probe has not passed.
func describeWait(err error, p *proc) string {
	var status *statusError
	switch {
	case err == nil:
		return "no check has completed yet"
	case errors.Is(err, syscall.ECONNREFUSED) && p.ctr != nil:
		return fmt.Sprintf("nothing accepting connections on containerPort %d (%s:%d)", p.port, p.host, p.port)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing accepting connections on PORT=%d", p.port)
	case errors.Is(err, context.DeadlineExceeded):
		return "the instance accepts connections but its probe timed out: " + err.Error()
	case errors.As(err, &status):
		return fmt.Sprintf("GET %s answered %d", status.path, status.status)
	}
	return err.Error()
}

// setProgress records what a starting instance waits for and reports it
// when it changed. An instance that is ready or stopping reports none.
func (r *revision) setProgress(in *instance, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in.phase != phaseStarting || in.progress == msg || r.stopped {
		return
	}
	in.progress = msg
	r.report()
}

// progressLocked is the State.Progress of a report: the oldest starting
// instance's, or "".
func (r *revision) progressLocked() string {
	for _, in := range r.instances {
		if in.phase == phaseStarting && in.progress != "" {
			return in.progress
		}
	}
	return ""
}
