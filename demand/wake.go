package demand

import (
	"context"
	"encoding/json"
	"time"

	"go.uber.org/zap"

	api "github.com/wakefn/wake/api/v1"
)

// The activator calls Wake for every request that queues, thousands a
// second under a burst at zero, but the leader needs to hear once:
const (
	// wakeCoalesce: after a wake-up is accepted, more for the revision
	// are dropped for this long. The autoscaler acts on the first; one a
	// second after that only repeats what the reports already say.
	wakeCoalesce = time.Second
	// wakeBackoff is the pause before a failed wake-up is tried on the
	// next controller: long enough not to spin on a controller that
	// refuses at once, short against a cold start's seconds.
	wakeBackoff = 200 * time.Millisecond
)

// Interface guard: the Reporter is the gateway activator's Waker.
var _ interface{ Wake(api.RevisionKey) } = (*Reporter)(nil)

// wakeState is one revision's wake-ups, guarded by Reporter.mu.
type wakeState struct {
	sending bool // a sender goroutine owns the revision's wake-up
	called  bool // Wake was called since the sender's last attempt
	// quietUntil: calls before it are dropped. It is wakeCoalesce after an
	// accepted wake-up was sent, wakeBackoff after a sender gave up.
	quietUntil time.Time
}

// Wake asks the leader to wake a revision at zero; it is the activator's
// Waker. It never blocks: the wake-up is sent on its own goroutine, at
// most one per revision at a time, and calls while one is being sent or
// within wakeCoalesce of one accepted are merged into it. A wake-up that
// fails is tried on every controller in turn, wakeBackoff apart, and goes
// on being retried for as long as Wake keeps being called: by the same
// sender while calls come during its attempts, else by the next call
// after wakeBackoff.
func (r *Reporter) Wake(key api.RevisionKey) {
	now := r.clock.Now()
	r.mu.Lock()
	s := r.wakes[key]
	if s == nil {
		s = &wakeState{}
		r.wakes[key] = s
	}
	switch {
	case s.sending:
		s.called = true
	case now.Before(s.quietUntil):
	default:
		s.sending = true
		go r.sendWake(key, s)
	}
	r.mu.Unlock()
}

// sendWake delivers one revision's wake-up, retrying as Wake describes.
func (r *Reporter) sendWake(key api.RevisionKey, s *wakeState) {
	body, _ := json.Marshal(WakeRequest{Namespace: key.Namespace, Name: key.Name})
	for attempt := 1; ; attempt++ {
		start := r.clock.Now()
		// The client's timeout bounds it; no caller waits for it.
		err := r.postOnce(context.Background(), WakePath, body)
		r.mu.Lock()
		recovered, first := r.wakesFailing && err == nil, !r.wakesFailing && err != nil
		r.wakesFailing = err != nil
		if err == nil {
			s.sending, s.called, s.quietUntil = false, false, start.Add(wakeCoalesce)
			r.mu.Unlock()
			if recovered {
				r.log.Info("wake-ups delivered again", zap.String("revision", key.String()))
			}
			return
		}
		// Every controller gets a try; past that, only demand that is
		// still arriving keeps the sender going, so a revision nobody
		// asks for any more does not retry forever.
		giveUp := attempt >= len(r.controllers) && !s.called
		s.called = false
		if giveUp {
			s.sending, s.quietUntil = false, r.clock.Now().Add(wakeBackoff)
		}
		r.mu.Unlock()
		if first {
			r.log.Warn("cannot deliver wake-up; retrying while requests wait",
				zap.String("revision", key.String()), zap.Error(err))
		}
		if giveUp {
			return
		}
		<-r.clock.After(wakeBackoff)
	}
}

// forgetWakes drops the state of revisions with no wake-up in progress
// or coalescing, so the map holds only the revisions waking now.
func (r *Reporter) forgetWakes() {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, s := range r.wakes {
		if !s.sending && !now.Before(s.quietUntil) {
			delete(r.wakes, key)
		}
	}
}
