// Package leader owns leader election among the replicas of `wake
// controller`: they campaign for one coordination.k8s.io Lease, and only
// the holder acts (reconciles, scales, runs triggers). It wraps
// client-go's leaderelection with wake's defaults and one rule: the work
// runs in a context that ends as soon as the lease is lost, and Run does
// not return (so the process cannot take the lease again) until that work
// has returned.
package leader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Defaults of the Options durations, Kubernetes' own for its controllers.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Options configure a campaign.
type Options struct {
	// Client reaches the API server. Required.
	Client kubernetes.Interface
	// Namespace and Name name the Lease. Required.
	Namespace, Name string
	// Identity names this candidate in the Lease (the pod's name). Required,
	// and unique among the candidates.
	Identity string
	// LeaseDuration is how long a lease not renewed stays taken: the
	// longest a crashed leader blocks the others. RenewDeadline is how
	// long the leader keeps trying to renew before it gives up leading;
	// RetryPeriod is the pace of both. Zero means the defaults.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// KeepOnStop leaves the lease held when ctx ends, as a crash would; by
	// default a leader that stops releases it, so a successor takes over
	// at once. Tests use it to play a crashed leader.
	KeepOnStop bool
	// OnNewLeader, when set, hears of every change of leader, this
	// candidate included.
	OnNewLeader func(identity string)
	// Logger: nil means no logs.
	Logger *zap.Logger
}

// Run campaigns for the lease until ctx ends. Each time this candidate
// wins, lead runs with a context that is cancelled when the lease is lost
// (or ctx ends); the campaign resumes only after lead has returned, so
// this process never acts twice at once. Run returns nil when ctx ends.
func Run(ctx context.Context, opts Options, lead func(ctx context.Context)) error {
	if opts.Client == nil || opts.Namespace == "" || opts.Name == "" || opts.Identity == "" {
		return errors.New("leader: Client, Namespace, Name and Identity are required")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, opts.Namespace, opts.Name,
		opts.Client.CoreV1(), opts.Client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: opts.Identity})
	if err != nil {
		return fmt.Errorf("leader: lock %s/%s: %w", opts.Namespace, opts.Name, err)
	}
	cfg := leaderelection.LeaderElectionConfig{
		Lock:          lock,
		Name:          opts.Name,
		LeaseDuration: orDefault(opts.LeaseDuration, DefaultLeaseDuration),
		RenewDeadline: orDefault(opts.RenewDeadline, DefaultRenewDeadline),
		RetryPeriod:   orDefault(opts.RetryPeriod, DefaultRetryPeriod),
		// Not client-go's release: it gives the lease up before the work
		// has stopped (its renew loop releases, then its Run cancels the
		// work's context), so a successor could act beside it. The lease
		// is released below, once the work has returned.
		ReleaseOnCancel: false,
	}
	for ctx.Err() == nil {
		// One elector per term: client-go's returns once leadership is
		// lost, after OnStoppedLeading.
		t := &term{}
		t.done = sync.NewCond(&t.mu)
		cfg.Callbacks = leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				// client-go calls this on a goroutine of its own, which may
				// start after the term is over: then nothing runs.
				if !t.begin() {
					return
				}
				defer t.end()
				log.Info("leading", zap.String("lease", opts.Namespace+"/"+opts.Name), zap.String("identity", opts.Identity))
				lead(leadCtx)
			},
			OnStoppedLeading: func() {
				log.Info("not leading", zap.String("lease", opts.Namespace+"/"+opts.Name), zap.String("identity", opts.Identity))
			},
			OnNewLeader: func(id string) {
				if opts.OnNewLeader != nil {
					opts.OnNewLeader(id)
				}
			},
		}
		el, err := leaderelection.NewLeaderElector(cfg)
		if err != nil {
			return fmt.Errorf("leader: %w", err)
		}
		el.Run(ctx)
		t.close()
		if !opts.KeepOnStop {
			release(lock, opts.Identity, log)
		}
	}
	return nil
}

// release gives the lease up if this candidate still holds it, so that a
// successor takes over at once rather than after the lease's duration.
// The update carries the version read, so it cannot undo a successor's
// take-over that came in between.
func release(lock resourcelock.Interface, identity string, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec, _, err := lock.Get(ctx)
	if err != nil || rec.HolderIdentity != identity {
		return
	}
	now := metav1.NewTime(time.Now())
	err = lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions: rec.LeaderTransitions, LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now,
	})
	if err != nil {
		log.Warn("releasing the lease; the next leader waits for it to expire", zap.Error(err))
	}
}

// term is one run of the elector: whether its work may still start, and
// whether it is running.
type term struct {
	mu      sync.Mutex
	done    *sync.Cond
	over    bool
	running bool
}

// begin tells whether the work may start, and marks it running.
func (t *term) begin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.over {
		return false
	}
	t.running = true
	return true
}

func (t *term) end() {
	t.mu.Lock()
	t.running = false
	t.done.Broadcast()
	t.mu.Unlock()
}

// close ends the term: the work can no longer start, and close returns
// once it is not running.
func (t *term) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.over = true
	for t.running {
		t.done.Wait()
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
