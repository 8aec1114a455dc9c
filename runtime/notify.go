package runtime

import (
	"context"
	"sync"

	api "github.com/wakefn/wake/api/v1"
)

// MaxPending bounds the States queued for a slow observer. Past it the
// newest replaces the last queued one: each is a full State, so the
// observer still ends on the latest, and memory stays bounded however long
// it blocks.
const MaxPending = 64

// Notifier delivers one revision's States to its Observer for a runtime,
// in order, from at most one goroutine at a time, holding no lock of the
// runtime's while calling it. Push costs one mutex and an append; a
// goroutine runs only while States are queued. Wait tells when a State
// (or a later one) has been delivered: a runtime drains an instance only
// after the observer has seen it leave. Both runtimes use it.
type Notifier struct {
	key api.RevisionKey
	obs Observer
	wg  *sync.WaitGroup // counts delivering goroutines

	mu        sync.Mutex
	queue     []pendingState
	busy      bool
	delivered uint64
	changed   chan struct{} // closed and replaced at every delivery
}

// NewNotifier returns the Notifier of revision key; wg counts its
// delivering goroutine while one runs, so a runtime can wait for the last
// delivery when it shuts down.
func NewNotifier(key api.RevisionKey, obs Observer, wg *sync.WaitGroup) *Notifier {
	return &Notifier{key: key, obs: obs, wg: wg, changed: make(chan struct{})}
}

type pendingState struct {
	seq   uint64
	state State
}

// Push queues State seq; seqs must increase.
func (n *Notifier) Push(seq uint64, s State) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) >= MaxPending {
		n.queue[len(n.queue)-1] = pendingState{seq, s}
	} else {
		n.queue = append(n.queue, pendingState{seq, s})
	}
	if !n.busy {
		n.busy = true
		n.wg.Add(1)
		go n.deliver()
	}
}

func (n *Notifier) deliver() {
	defer n.wg.Done()
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.busy = false
			n.queue = nil
			n.mu.Unlock()
			return
		}
		p := n.queue[0]
		n.queue[0] = pendingState{}
		n.queue = n.queue[1:]
		n.mu.Unlock()

		n.obs.Update(n.key, p.state)

		n.mu.Lock()
		n.delivered = p.seq
		close(n.changed)
		n.changed = make(chan struct{})
		n.mu.Unlock()
	}
}

// Wait returns once State seq or a later one was delivered, or ctx's
// error when it ends first.
func (n *Notifier) Wait(ctx context.Context, seq uint64) error {
	for {
		n.mu.Lock()
		done, ch := n.delivered >= seq, n.changed
		n.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
