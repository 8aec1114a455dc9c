// Package runtime owns the contract between wake and the place instances
// run: the Runtime interface that starts, scales and stops a revision's
// instances, the events it reports back (ready endpoints, failures), and
// their ordered delivery to the observer (Notifier), which every runtime
// shares. runtime/process implements it with local processes and
// containers (runtime/container, runtime/image, runtime/cgroup),
// runtime/kube with Deployments.
package runtime

import (
	"context"
	"io"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// Runtime runs the instances of revisions.
type Runtime interface {
	// Deploy makes a revision known to the runtime, with no instance yet.
	// Deploying a known revision again is a no-op (revisions are immutable).
	Deploy(ctx context.Context, rev *api.Revision) error
	// Scale sets how many instances of a deployed revision should run. It
	// returns at once; instances start and stop in the background, and
	// every change is reported to the Observer.
	Scale(ctx context.Context, rev api.RevisionKey, n int) error
	// Remove stops every instance of the revision, draining each first, and
	// forgets it. It returns when the instances are gone or ctx ends.
	Remove(ctx context.Context, rev api.RevisionKey) error
}

// LogReader reads the output of a revision's instances.
type LogReader interface {
	// Logs writes the revision's recent instance output to w, oldest
	// first, each line prefixed with its instance: "[INSTANCE] line". With
	// opts.Follow it goes on writing new output until ctx ends.
	Logs(ctx context.Context, rev api.RevisionKey, opts LogOptions, w io.Writer) error
}

// LogOptions select what Logs writes.
type LogOptions struct {
	Follow bool
	// Tail limits the output to the last Tail lines of the revision, its
	// instances' lines merged by the time each was written; 0 means all
	// that is kept. A runtime that cannot order lines across instances
	// keeps the last Tail of each instance, which holds those.
	Tail int
	// Since leaves out the lines written before it; zero leaves none out.
	Since time.Time
	// Timestamps puts the time each line was written after its instance,
	// RFC 3339 in UTC with up to nanoseconds, as kubectl logs --prefix
	// --timestamps does: "[INSTANCE] 2006-01-02T15:04:05.123456Z line".
	// The admin API reads them to merge revisions by time.
	Timestamps bool
}

// Endpoint is one ready instance.
type Endpoint struct {
	// ID is unique among all instances the runtime ever started.
	ID string
	// Addr is the instance's host:port.
	Addr string
	// Started is when the instance went through each phase of its start;
	// nil when the runtime does not time starts. Shared, never modified
	// after the instance is first reported ready.
	Started *StartTimes
}

// StartTimes are the moments of one instance's start, by the runtime's
// clock. Each phase ends where the next begins:
//
//	queue  : (the request's arrival) .. Creating (or Forked)
//	create : Creating .. Forked a container's namespace, network and root are made
//	start  : Forked .. Up      the process starts and first answers a check
//	ready  : Up .. Ready       its readiness probe reaches successThreshold
//	warmup : Ready .. WarmedUp the revision's warm-up requests
//
// Scheduled is when the runtime decided to start it (a Scale asked for
// one more); Forked - Scheduled is the runtime's own delay. With no
// warm-up, WarmedUp equals Ready.
type StartTimes struct {
	Scheduled time.Time
	// Creating is when a container began to be prepared (its image
	// already pulled); zero for a command, which has no create phase.
	Creating time.Time
	Forked   time.Time
	Up       time.Time
	Ready    time.Time
	WarmedUp time.Time
}

// State is a snapshot of a revision's instances, reported after every change.
type State struct {
	// Desired is the last count asked through Scale.
	Desired int
	// Ready lists the instances that passed their readiness probe and may
	// take requests, in start order.
	Ready []Endpoint
	// Starting counts instances started but not ready yet.
	Starting int
	// Failure is the latest reason an instance failed to start or died;
	// nil once an instance has become ready since.
	Failure *Failure
	// LastExit is the latest instance that ended on its own (crashed,
	// killed at its memory limit, failed its start): unlike Failure it is
	// kept once another instance is ready, as Kubernetes keeps a
	// container's last state. nil until one did.
	LastExit *Failure
	// Image is the revision's image, from the moment it is resolved; nil
	// for a revision that runs a command.
	Image *ImageState
	// Progress says, once an instance has been starting for a few seconds
	// without becoming ready, what it waits for ("nothing accepting
	// connections on PORT=38987") with its last output; "" otherwise.
	Progress string
	// Warmup is the latest failed warm-up (ReasonWarmupFailed), whichever
	// the revision's policy: the instance was replaced, or serves anyway.
	// nil once a later warm-up succeeded, and for revisions without one.
	Warmup *Failure
}

// Failure reasons a runtime reports. Terminal says which leave a revision
// unable to serve for now.
const (
	ReasonExecFailed        = "ExecFailed"               // the command could not be run
	ReasonStartFailed       = "StartFailed"              // wake could not prepare the instance (port, log file)
	ReasonExitedBeforeReady = "ExitedBeforeReady"        // exited before its probe passed
	ReasonCrashed           = "Crashed"                  // exited after being ready
	ReasonProgressDeadline  = "ProgressDeadlineExceeded" // not ready within its progress deadline
	ReasonProbeFailed       = "ProbeFailed"              // a ready instance failed its probe
	ReasonCrashLoopBackOff  = "CrashLoopBackOff"         // backing off after 2 or more failures
	ReasonStartupProbe      = "StartupProbeFailed"       // its startupProbe failed failureThreshold times
	ReasonWarmupFailed      = "WarmupFailed"             // its warm-up requests failed or timed out
	ReasonOOMKilled         = "OOMKilled"                // killed by the kernel at its memory limit

	// An image revision's own: its image could not be had (the image
	// store's reason, e.g. ImageNotFound, for the first failure), or no
	// container can run here, or its config cannot run (a root user with
	// runAsNonRoot).
	ReasonImagePullFailed       = "ImagePullFailed"
	ReasonImagePullBackOff      = "ImagePullBackOff"
	ReasonContainersUnavailable = "ContainersUnavailable"
	ReasonCreateContainerConfig = "CreateContainerConfigError"
)

// ImageState is what a runtime knows of a revision's image.
type ImageState struct {
	// Ref is the image as the manifest wrote it, Digest what it resolved
	// to and the revision is pinned to ("" until resolved).
	Ref    string
	Digest string
	// Pulled says the image is unpacked here and ready to run; Size is its
	// compressed size in bytes.
	Pulled bool
	Size   int64
	// Reason and Message say why the latest pull failed; empty once one
	// succeeded.
	Reason  string
	Message string
}

// Failure says why an instance failed.
type Failure struct {
	// Reason is one of the Reason constants.
	Reason string
	// Message is for people: what failed, with the exit status and the
	// last lines the instance printed.
	Message string
	// At is when it happened; Restarts counts consecutive failures.
	At       time.Time
	Restarts int
	// RetryAt is when the runtime will try again (the backoff).
	RetryAt time.Time
}

// Observer is told about every change to a revision's instances. Calls for
// one revision are serialized; the runtime does not hold its own locks while
// calling, so an Observer may call back into the runtime.
type Observer interface {
	Update(rev api.RevisionKey, s State)
}

// Drainer waits for an endpoint that has left the ready set to finish the
// requests in flight on it. The runtime calls Drain after reporting a State
// without the endpoint and before stopping the instance.
type Drainer interface {
	Drain(ctx context.Context, rev api.RevisionKey, ep Endpoint) error
}

// Backoff tells whether the runtime has stopped trying for now: the
// command or image cannot be run, or it keeps crashing and the runtime waits until
// RetryAt before the next attempt. A request for the revision would only
// wait, so the activator answers it at once instead.
func (f *Failure) Backoff(now time.Time) bool {
	switch f.Reason {
	case ReasonExecFailed, ReasonCrashLoopBackOff, ReasonProgressDeadline, ReasonImagePullBackOff, ReasonContainersUnavailable, ReasonCreateContainerConfig:
		return now.Before(f.RetryAt)
	}
	return false
}
