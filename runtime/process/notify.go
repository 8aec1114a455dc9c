package process

import (
	"context"
	"sync"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// maxPending bounds the snapshots queued for a slow observer. Past it the
// newest replaces the last queued one: each is a full State, so the
// observer still ends on the latest, and memory stays bounded however long
// it blocks.
const maxPending = 64

// notifier delivers one revision's snapshots to the observer, in order,
// from at most one goroutine at a time, holding no runtime lock while
// calling it. push costs one mutex and an append; a goroutine runs only
// while snapshots are queued. Waiters can learn when a snapshot (or a later
// one) has been delivered: a ready instance is drained only after the
// observer has seen it leave.
type notifier struct {
	key api.RevisionKey
	obs runtime.Observer
	wg  *sync.WaitGroup // counts delivering goroutines

	mu        sync.Mutex
	queue     []pendingState
	busy      bool
	delivered uint64
	changed   chan struct{} // closed and replaced at every delivery
}

type pendingState struct {
	seq   uint64
	state runtime.State
}

// push queues snapshot seq; seqs must increase.
func (n *notifier) push(seq uint64, s runtime.State) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) >= maxPending {
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

func (n *notifier) deliver() {
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

// wait returns once snapshot seq or a later one was delivered, or ctx's
// error when it ends first.
func (n *notifier) wait(ctx context.Context, seq uint64) error {
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
