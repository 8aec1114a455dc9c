package leader_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wakefn/wake/internal/kubetest"
	"github.com/wakefn/wake/leader"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// candidate is one replica of the controller in the test: it campaigns,
// and while it leads it counts itself among the leaders.
type candidate struct {
	id      string
	cancel  context.CancelFunc
	done    chan struct{}
	leading atomic.Bool
	terms   atomic.Int32
}

// leaders counts the candidates leading at once, and the most ever.
type leaders struct {
	now, most atomic.Int32
}

func (l *leaders) enter() {
	n := l.now.Add(1)
	for {
		m := l.most.Load()
		if n <= m || l.most.CompareAndSwap(m, n) {
			return
		}
	}
}

func campaign(t *testing.T, env *kubetest.Env, ns, id string, keepOnStop bool, ls *leaders) *candidate {
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{id: id, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		err := leader.Run(ctx, leader.Options{
			Client: env.Client, Namespace: ns, Name: "wake-controller", Identity: id, KeepOnStop: keepOnStop,
			LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond,
		}, func(ctx context.Context) {
			ls.enter()
			c.leading.Store(true)
			c.terms.Add(1)
			<-ctx.Done() // act until the lease is lost
			c.leading.Store(false)
			ls.now.Add(-1)
		})
		if err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func waitLeader(t *testing.T, env *kubetest.Env, what string, cs ...*candidate) *candidate {
	t.Helper()
	var got *candidate
	env.Eventually(t, 20*time.Second, what, func() bool {
		for _, c := range cs {
			if c.leading.Load() {
				got = c
				return true
			}
		}
		return false
	})
	return got
}

func TestOneLeaderAndFailover(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	ls := &leaders{}
	a := campaign(t, env, ns, "a", false, ls)
	b := campaign(t, env, ns, "b", false, ls)
	first := waitLeader(t, env, "a leader", a, b)
	other := b
	if first == b {
		other = a
	}
	// The other keeps campaigning but never leads while the first renews.
	time.Sleep(2 * time.Second)
	if other.leading.Load() {
		t.Fatalf("%s leads beside %s", other.id, first.id)
	}

	// A leader that stops releases the lease: the other takes over at once.
	start := time.Now()
	first.cancel()
	<-first.done
	waitLeader(t, env, other.id+" to take over", other)
	t.Logf("failover after a clean stop: %v", time.Since(start))
	if n := ls.most.Load(); n != 1 {
		t.Fatalf("%d candidates led at once, want 1", n)
	}
}

func TestFailoverFromACrashedLeader(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	ls := &leaders{}
	// a leads alone first; it "crashes": stops renewing, releases nothing.
	a := campaign(t, env, ns, "a", true, ls)
	waitLeader(t, env, "a to lead", a)
	b := campaign(t, env, ns, "b", false, ls)
	start := time.Now()
	a.cancel()
	<-a.done
	waitLeader(t, env, "b to take over", b)
	took := time.Since(start)
	t.Logf("failover after a crash: %v (lease duration 3s)", took)
	if took < 2*time.Second {
		t.Errorf("b led %v after a crashed a: before the lease could expire", took)
	}
	if n := ls.most.Load(); n != 1 {
		t.Fatalf("%d candidates led at once, want 1", n)
	}
}

func TestRunNeedsItsOptions(t *testing.T) {
	err := leader.Run(context.Background(), leader.Options{}, func(context.Context) { t.Error("led without a lease") })
	if err == nil {
		t.Fatal("Run without a client or a lease name should fail")
	}
}
