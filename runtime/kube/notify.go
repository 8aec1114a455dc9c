package kube

import (
	"context"
	"sync"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// maxPending bounds the States queued for a slow observer. Past it the
// newest replaces the last queued one: each is a full State, so the
// observer still ends on the latest, and memory stays bounded however long
// it blocks.
const maxPending = 64

// notifier delivers one revision's States to the observer, in order, from
// at most one goroutine at a time, holding no runtime lock while calling
// it. push costs one mutex and an append; a goroutine runs only while
// States are queued. wait tells when a State (or a later one) has been
// delivered: an instance is drained only after the observer has seen it
// leave.
type notifier struct {
	key api.RevisionKey
	obs runtime.Observer
	wg  *sync.WaitGroup // counts delivering goroutines

	mu        sync.Mutex
	queue     []pending
	busy      bool
	delivered uint64
	changed   chan struct{} // closed and replaced at every delivery
}

type pending struct {
	seq   uint64
	state runtime.State
}

func newNotifier(key api.RevisionKey, obs runtime.Observer, wg *sync.WaitGroup) *notifier {
	return &notifier{key: key, obs: obs, wg: wg, changed: make(chan struct{})}
}

// push queues State seq; seqs must increase.
func (n *notifier) push(seq uint64, s runtime.State) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) >= maxPending {
		n.queue[len(n.queue)-1] = pending{seq, s}
	} else {
		n.queue = append(n.queue, pending{seq, s})
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
		n.queue[0] = pending{}
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

// wait returns once State seq or a later one was delivered, or ctx's error
// when it ends first.
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
