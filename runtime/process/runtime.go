package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/cgroup"
	"github.com/wakefn/wake/runtime/container"
	"github.com/wakefn/wake/runtime/image"
)

// Defaults of the Options fields left zero.
const (
	DefaultTerminationGracePeriod = 10 * time.Second
	DefaultProgressDeadline       = 2 * time.Minute
	DefaultLogLimit               = 1 << 20
	DefaultKeepLogs               = 10
)

// Errors callers can test for with errors.Is.
var (
	// ErrUnknownRevision is returned for a revision that was never
	// deployed, or was removed.
	ErrUnknownRevision = errors.New("process runtime: unknown revision")
	// ErrShutdown is returned by every call made after Shutdown began.
	ErrShutdown = errors.New("process runtime: shut down")
)

// Options configure a Runtime.
type Options struct {
	// StateDir holds the instance logs (StateDir/logs/NAMESPACE/REVISION/
	// INSTANCE.log) and the process-group records (StateDir/instances) that
	// let the next New kill what a SIGKILLed wake left behind. Required; one
	// Runtime at a time may use it.
	StateDir string
	// Env is the environment every instance starts from, as "NAME=value";
	// the manifest's env and PORT, K_SERVICE, K_CONFIGURATION, K_REVISION
	// come on top. nil means DefaultEnv: wake's own environment (and its
	// secrets) is not passed on unless the caller chooses to.
	Env []string
	// Observer is told about every change of every revision. Required.
	Observer runtime.Observer
	// Drainer waits for a ready instance's in-flight requests before it is
	// stopped; Drain gets a ctx bounded by the revision's timeoutSeconds
	// (and cut short by Shutdown's deadline) and must return when it ends.
	// nil means instances are stopped without waiting.
	Drainer runtime.Drainer
	// Logger gets one line per instance start, readiness and stop. nil
	// means no logs.
	Logger *zap.Logger
	// Clock times backoff, probe periods, the start timeout and the grace
	// period. nil means the real clock.
	Clock clock.WithTicker
	// TerminationGracePeriod is how long an instance has to exit after
	// SIGTERM before its process group gets SIGKILL. 0 means
	// DefaultTerminationGracePeriod (10s).
	TerminationGracePeriod time.Duration
	// ProgressDeadline is how long an instance may take from its fork to
	// passing its readiness probe, its startup probe included, unless its
	// revision's serving.knative.dev/progress-deadline says otherwise; one
	// that takes longer is stopped and its revision fails with
	// ProgressDeadlineExceeded. The revision's warm-up, which follows, is
	// bounded by its own timeoutSeconds instead, so that a long warm-up
	// asks for no change of wake's settings. 0 means
	// DefaultProgressDeadline (2m): Knative's 600 s covers scheduling a
	// pod and pulling its image, which here happen before (the image is
	// pulled when the revision is created, outside this deadline), so it
	// bounds only a process's own start: a JVM's 50 s, twice over.
	ProgressDeadline time.Duration
	// LogLimit is the size an instance log reaches before it is rotated to
	// INSTANCE.log.1 (one old file is kept, so an instance keeps at most
	// twice this). 0 means DefaultLogLimit (1 MiB).
	LogLimit int64
	// KeepLogs is how many instance logs are kept per revision, the most
	// recent ones; logs of live instances are never deleted. 0 means
	// DefaultKeepLogs (10).
	KeepLogs int
	// Images and Containers run the revisions whose container has an
	// image and no command: the image is resolved, pinned and pulled as
	// the revision is deployed, and each instance is a container (see
	// runtime/container) supervised like a process. When either is nil,
	// such a revision fails with ContainersUnavailable and this error.
	Images                *image.Store
	Containers            *container.Engine
	ContainersUnavailable error
}

// Runtime runs revisions' instances as local child processes. Every method
// is safe for concurrent use. Deploy, Scale and Remove take one mutex and
// never wait on a process; the work happens in one goroutine per revision
// while it has work (reconcile; none for a revision at rest, so a
// thousand retired revisions cost no goroutine) and one per instance
// (start, probe, stop), plus one blocked in wait(2) per live instance.
//
// The Observer may call back into the Runtime from Update. But a ready
// instance is drained only after the Observer has returned from the Update
// that took it out of Ready, so a Remove or Shutdown called from inside
// Update waits, for that instance, until the revision's timeoutSeconds.
// DefaultEnv is the environment of instances when Options.Env is nil: a
// PATH, as a container image would set.
var DefaultEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

type Runtime struct {
	opts    Options
	log     *zap.Logger
	clock   clock.WithTicker
	spawner *spawner
	ports   *ports
	logs    *logStore
	records records
	lock    *os.File
	// cgroups is the parent of the instances' control groups (wake/ and a
	// hash of StateDir); "" where cgroups cannot be used (not root), and
	// instances then run in wake's own, contained by process group only.
	cgroups string
	probes  *http.Client

	// hard is cancelled when Shutdown's ctx ends: stops in progress skip
	// the rest of their drain and grace period and SIGKILL at once.
	hard       context.Context
	hardCancel context.CancelFunc
	// wg counts revision loops, instance goroutines and log removals;
	// notified counts observer deliveries in flight.
	wg       sync.WaitGroup
	notified sync.WaitGroup
	seq      atomic.Int64 // start order of instances, for logs

	mu       sync.Mutex
	revs     map[api.RevisionKey]*revision
	removing map[api.RevisionKey]chan struct{} // closed when the removal is done
	closed   bool
	allDone  chan struct{} // closed when every goroutine in wg has returned
	finish   sync.Once
}

var (
	_ runtime.Runtime   = (*Runtime)(nil)
	_ runtime.LogReader = (*Runtime)(nil)
)

// New returns a Runtime using opts.StateDir. Before returning it kills the
// process groups a previous wake recorded there and left alive (it was
// SIGKILLed, so its children's children were not stopped), and it fails if
// another Runtime is using the directory.
func New(opts Options) (*Runtime, error) {
	if opts.StateDir == "" {
		return nil, errors.New("process runtime: Options.StateDir is required")
	}
	if opts.Observer == nil {
		return nil, errors.New("process runtime: Options.Observer is required")
	}
	if opts.TerminationGracePeriod <= 0 {
		opts.TerminationGracePeriod = DefaultTerminationGracePeriod
	}
	if opts.ProgressDeadline <= 0 {
		opts.ProgressDeadline = DefaultProgressDeadline
	}
	if opts.LogLimit <= 0 {
		opts.LogLimit = DefaultLogLimit
	}
	if opts.KeepLogs <= 0 {
		opts.KeepLogs = DefaultKeepLogs
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	recs := records{dir: filepath.Join(opts.StateDir, "instances")}
	if err := os.MkdirAll(recs.dir, 0o755); err != nil {
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	lock, err := lockDir(recs.dir)
	if err != nil {
		return nil, err
	}
	recs.killOrphans(log)
	cgroups := ""
	if cgroup.Available() == nil {
		cgroups = "wake/" + cgroup.Scope(filepath.Join(opts.StateDir, "processes"))
		killOrphanGroups(cgroups, log)
	}
	hard, cancel := context.WithCancel(context.Background())
	return &Runtime{
		opts:       opts,
		log:        log,
		clock:      clk,
		spawner:    startSpawner(),
		ports:      &ports{used: map[int]bool{}},
		logs:       newLogStore(filepath.Join(opts.StateDir, "logs"), opts.LogLimit, opts.KeepLogs),
		records:    recs,
		lock:       lock,
		cgroups:    cgroups,
		probes:     newProbeClient(),
		hard:       hard,
		hardCancel: cancel,
		revs:       map[api.RevisionKey]*revision{},
		removing:   map[api.RevisionKey]chan struct{}{},
		allDone:    make(chan struct{}),
	}, nil
}

// Deploy makes rev known, with no instance yet. Deploying a known revision
// again is a no-op. A revision still being removed is waited for first.
func (r *Runtime) Deploy(ctx context.Context, rev *api.Revision) error {
	if rev == nil {
		return errors.New("deploying: nil revision")
	}
	env := r.opts.Env
	if env == nil {
		env = DefaultEnv
	}
	spec, err := newRevSpec(rev, env)
	if err != nil {
		return fmt.Errorf("deploying %s: %w", rev.Key(), err)
	}
	if spec.deadline <= 0 {
		spec.deadline = r.opts.ProgressDeadline
	}
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return fmt.Errorf("deploying %s: %w", spec.key, ErrShutdown)
		}
		if _, ok := r.revs[spec.key]; ok {
			r.mu.Unlock()
			return nil
		}
		removed, busy := r.removing[spec.key]
		if !busy {
			rv := newRevision(r, spec)
			r.revs[spec.key] = rv
			if spec.image != nil {
				r.wg.Add(1)
				go rv.prefetch()
			}
			r.mu.Unlock()
			return nil
		}
		r.mu.Unlock()
		select {
		case <-removed:
		case <-ctx.Done():
			return fmt.Errorf("deploying %s: waiting for its removal: %w", spec.key, ctx.Err())
		}
	}
}

// Scale sets how many instances of the revision should run and returns at
// once; the revision's reconcile goroutine moves toward n.
func (r *Runtime) Scale(_ context.Context, key api.RevisionKey, n int) error {
	if n < 0 {
		return fmt.Errorf("scaling %s: negative count %d", key, n)
	}
	r.mu.Lock()
	rv, closed := r.revs[key], r.closed
	r.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("scaling %s: %w", key, ErrShutdown)
	case rv == nil:
		return fmt.Errorf("scaling %s: %w", key, ErrUnknownRevision)
	}
	rv.setDesired(n)
	return nil
}

// Remove stops every instance of the revision (draining the ready ones),
// forgets it and deletes its logs. It returns when the instances are gone
// or ctx ends; in the latter case the stopping goes on in the background.
// Removing an unknown revision deletes any logs it left and returns nil.
func (r *Runtime) Remove(ctx context.Context, key api.RevisionKey) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("removing %s: %w", key, ErrShutdown)
	}
	rv := r.revs[key]
	done, busy := r.removing[key]
	if rv == nil && !busy {
		r.mu.Unlock()
		if err := r.logs.removeRevision(key); err != nil {
			return fmt.Errorf("removing %s: %w", key, err)
		}
		return nil
	}
	if rv != nil {
		delete(r.revs, key)
		done = make(chan struct{})
		r.removing[key] = done
		idle := rv.stopAll(reasonRemoved)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			<-idle
			if err := r.logs.removeRevision(key); err != nil {
				r.log.Warn("removing logs", zap.String("revision", key.String()), zap.Error(err))
			}
			if rv.spec.image != nil && r.opts.Images != nil {
				r.opts.Images.Unpin(key.Namespace + "/" + key.Name)
				if _, err := r.opts.Images.GC(); err != nil {
					r.log.Warn("collecting images", zap.Error(err))
				}
			}
			r.mu.Lock()
			delete(r.removing, key)
			r.mu.Unlock()
			close(done)
		}()
	}
	r.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("removing %s: %w", key, ctx.Err())
	}
}

// Retire forgets a revision at rest (no instance, none asked for),
// keeping its logs and its image: it then costs nothing here until Deploy
// brings it back. It returns false, changing nothing, while the revision
// has or is asked for instances; an unknown revision is retired already.
func (r *Runtime) Retire(key api.RevisionKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rv := r.revs[key]
	if rv == nil {
		return true
	}
	rv.mu.Lock()
	busy := len(rv.instances) > 0 || rv.running > 0 || rv.target > 0 || rv.pendingExits > 0
	rv.mu.Unlock()
	if busy {
		return false
	}
	delete(r.revs, key)
	rv.stopAll(reasonRemoved) // ends no instance: there is none; ends its loop
	return true
}

// Shutdown stops every instance the way a scale-down does (report, drain,
// SIGTERM, SIGKILL after the grace period) and waits for all of them, and
// for the Observer calls in flight. When ctx ends first, what is left is
// SIGKILLed at once and waited for, and ctx's error returned. Every call
// after the first waits for the same work.
func (r *Runtime) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	first := !r.closed
	r.closed = true
	var revs []*revision
	if first {
		for _, rv := range r.revs {
			revs = append(revs, rv)
		}
	}
	r.mu.Unlock()
	if first {
		for _, rv := range revs {
			rv.stopAll(reasonShutdown)
		}
		go func() {
			r.wg.Wait()
			r.notified.Wait()
			close(r.allDone)
		}()
	}
	var err error
	select {
	case <-r.allDone:
	case <-ctx.Done():
		err = fmt.Errorf("process runtime: shutdown: %w", ctx.Err())
		r.hardCancel()
		r.wg.Wait() // every process was SIGKILLed: this is short
	}
	r.finish.Do(func() {
		r.hardCancel()
		r.spawner.stop()
		r.probes.CloseIdleConnections()
		r.lock.Close() // releases the flock
	})
	return err
}

// Logs writes the revision's instance logs to w, each line prefixed with
// "[INSTANCE] ", the instances' lines merged by the time each was written.
// opts.Tail keeps the last lines of them all, opts.Since those written
// since, opts.Timestamps shows the times. With opts.Follow it then polls
// every 200 ms for new output and new instances until ctx ends, and
// returns nil. A revision that is not
// deployed but left logs (a previous run of wake) can be read too.
func (r *Runtime) Logs(ctx context.Context, key api.RevisionKey, opts runtime.LogOptions, w io.Writer) error {
	r.mu.Lock()
	_, known := r.revs[key]
	r.mu.Unlock()
	if err := r.logs.read(ctx, r.clock, key, known, opts, w); err != nil {
		return fmt.Errorf("logs of %s: %w", key, err)
	}
	return nil
}

// revSpec is what the runtime keeps of a revision: the fields it runs,
// copied so the caller's object may change.
type revSpec struct {
	key        api.RevisionKey
	function   string
	command    []string
	args       []string
	workingDir string
	env        []api.EnvVar
	baseEnv    []string // the environment instances start from
	probe      probeSpec
	startup    *probeSpec    // the startupProbe; nil when none
	warmup     *api.Warmup   // with its defaults filled; nil when none
	h2c        bool          // instances speak cleartext HTTP/2 (warm-ups too)
	timeout    time.Duration // the revision's timeoutSeconds: bounds a drain
	deadline   time.Duration // its progress deadline: fork to ready
	image      *imageSpec    // nil: the revision runs command as a process
	limits     cgroup.Limits // resources.limits
}

var (
	validName      = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	revisionSuffix = regexp.MustCompile(`-[0-9]{5}$`)
)

func newRevSpec(rev *api.Revision, baseEnv []string) (*revSpec, error) {
	key := rev.Key()
	if !validName.MatchString(key.Name) || strings.Contains(key.Name, "..") {
		return nil, fmt.Errorf("metadata.name %q: must be a lowercase DNS name", key.Name)
	}
	if !validName.MatchString(key.Namespace) || strings.Contains(key.Namespace, "..") {
		return nil, fmt.Errorf("metadata.namespace %q: must be a lowercase DNS name", key.Namespace)
	}
	if len(rev.Spec.Containers) == 0 {
		return nil, errors.New("spec.containers: one container is required")
	}
	c := rev.Spec.Container()
	var img *imageSpec
	switch {
	case len(c.Command) == 0 && c.Image != "":
		img = newImageSpec(c)
	case len(c.Command) == 0 || c.Command[0] == "":
		return nil, errors.New("spec.containers[0]: a command or an image is required")
	}
	fn := rev.FunctionName()
	if fn == "" {
		fn = revisionSuffix.ReplaceAllString(key.Name, "")
	}
	var startup *probeSpec
	if c.StartupProbe != nil {
		sp := newProbeSpec(c.StartupProbe)
		startup = &sp
	}
	return &revSpec{
		key:        key,
		function:   fn,
		command:    append([]string(nil), c.Command...),
		args:       append([]string(nil), c.Args...),
		workingDir: c.WorkingDir,
		env:        append([]api.EnvVar(nil), c.Env...),
		baseEnv:    baseEnv,
		probe:      newProbeSpec(c.ReadinessProbe),
		startup:    startup,
		warmup:     rev.Warmup(),
		h2c:        rev.Spec.H2C(),
		timeout:    time.Duration(rev.Spec.Timeout()) * time.Second,
		deadline:   rev.ProgressDeadline(),
		image:      img,
		limits:     limitsOf(c),
	}, nil
}
