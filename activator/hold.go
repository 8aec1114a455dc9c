package activator

import "sync/atomic"

// Bounds on what the activator holds for requests, so that a flood is
// refused at once (503, Retry-After) instead of growing wake's memory
// until the kernel kills it. Each revision's queue is bounded by
// Options.QueueDepth; these bound the sum over all revisions, and the
// bytes of request bodies buffered so that a request can be sent again
// (the fast path reads a body of up to 64 KiB whole before forwarding).
//
// The bytes are reserved before the body arrives, and a client has the
// revision's timeout to send it: slow uploads can hold a revision's byte
// budget for that long. Nothing is refused then; later bodies stream and
// lose only the resend on a connection the instance closed.
const (
	// DefaultMaxQueued is how many requests all revisions together may
	// hold waiting for an instance.
	DefaultMaxQueued = 50_000
	// DefaultMaxBufferedBytes bounds the request bodies held in memory, in
	// flight or queued, across all revisions.
	DefaultMaxBufferedBytes = 256 << 20
	// DefaultMaxRevisionBufferedBytes bounds them per revision, so one
	// flooded function cannot take the whole budget.
	DefaultMaxRevisionBufferedBytes = 64 << 20
)

// budget is a bound shared by concurrent users. take never waits: past the
// bound it fails, and the caller refuses or degrades.
type budget struct {
	max  int64
	used atomic.Int64
}

func newBudget(max int64) *budget { return &budget{max: max} }

// take reserves n, or nothing when that would pass the bound.
func (b *budget) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *budget) give(n int64) { b.used.Add(-n) }

// takeBoth reserves n from both budgets, or from neither.
func takeBoth(a, b *budget, n int64) bool {
	if !a.take(n) {
		return false
	}
	if !b.take(n) {
		a.give(n)
		return false
	}
	return true
}
