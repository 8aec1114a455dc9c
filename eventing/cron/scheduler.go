package cron

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"
)

// MisfirePolicy decides what happens to scheduled times that passed while
// the scheduler could not fire them: wake was down, or the loop woke late
// (a suspended process, a clock step).
type MisfirePolicy string

const (
	// MisfireSkip fires none of the missed times and continues from now.
	MisfireSkip MisfirePolicy = "skip"
	// MisfireFireOnce fires the latest missed time once, then continues.
	MisfireFireOnce MisfirePolicy = "fireOnce"
)

// ConcurrencyPolicy decides whether a fire may start while the trigger's
// previous callback is still running (a delivery still retrying, say).
type ConcurrencyPolicy string

const (
	// ConcurrencyAllow starts every fire, running or not.
	ConcurrencyAllow ConcurrencyPolicy = "allow"
	// ConcurrencyForbid skips a fire while a previous callback runs; skips
	// are counted in Stats.Skipped and logged.
	ConcurrencyForbid ConcurrencyPolicy = "forbid"
)

// Trigger is one schedule the Scheduler fires.
type Trigger struct {
	Name        string            // required, unique; the key for Set, Remove and the Store
	Schedule    Schedule          // required, from ParseSchedule
	Misfire     MisfirePolicy     // "" means MisfireSkip
	Concurrency ConcurrencyPolicy // "" means ConcurrencyAllow
}

// FireFunc is called once per fire, on its own goroutine, with the
// scheduled time (exact, in the schedule's zone). ctx is Run's context: when
// it is cancelled the callback should return; a callback that returns after
// that is not recorded as done, so the fire repeats after a restart.
type FireFunc func(ctx context.Context, name string, scheduled time.Time)

// Options configure a Scheduler.
type Options struct {
	Fire   FireFunc    // required
	Clock  clock.Clock // nil means the real clock
	Store  Store       // nil means a new MemoryStore: nothing survives a restart
	Logger *zap.Logger // nil means no logs
}

// Stats counts what happened to a trigger's scheduled times since it was
// added to this Scheduler.
type Stats struct {
	Fired   uint64 // callbacks started, refires after a restart included
	Skipped uint64 // fires skipped by ConcurrencyForbid
	Missed  uint64 // times passed while down or late and not fired (may be a lower bound)
	Running int    // callbacks running now
}

// Errors returned by the Scheduler.
var (
	ErrRunning        = errors.New("cron: scheduler is already running")
	ErrInvalidTrigger = errors.New("cron: invalid trigger")
)

// maxRefire bounds the fires repeated after a crash under ConcurrencyAllow.
const maxRefire = 1000

// Scheduler fires triggers at their scheduled times on a clock. One
// goroutine (Run) waits on a single timer for the earliest next time; each
// wake costs one pass over the triggers under one lock, so it suits
// hundreds of triggers, not millions.
type Scheduler struct {
	fire  FireFunc
	clock clock.Clock
	store Store
	log   *zap.Logger

	mu      sync.Mutex
	entries map[string]*entry
	ctx     context.Context // non-nil while Run runs
	running sync.WaitGroup  // callbacks

	wake  chan struct{}      // Set and Remove poke the loop; capacity 1
	syncc chan chan struct{} // tests: reply after a pass over due fires

	onDone func(name string, scheduled time.Time) // tests: after a callback is accounted
}

// entry is a trigger's state; fields are guarded by Scheduler.mu.
type entry struct {
	trig  Trigger
	next  time.Time // zero: never again
	last  time.Time // latest scheduled time handled (fired, skipped or missed)
	rec   Record
	queue []slot // fires from the first unsettled one on, in scheduled order
	stats Stats
}

// slot is a scheduled time that started (done=false until it returns) or
// was settled without firing (done=true).
type slot struct {
	t    time.Time
	done bool
}

// New returns a Scheduler; add triggers with Set and start it with Run.
func New(o Options) (*Scheduler, error) {
	if o.Fire == nil {
		return nil, errors.New("cron: Options.Fire is required")
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Store == nil {
		o.Store = &MemoryStore{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Scheduler{
		fire: o.Fire, clock: o.Clock, store: o.Store, log: o.Logger,
		entries: make(map[string]*entry),
		wake:    make(chan struct{}, 1),
		syncc:   make(chan chan struct{}),
	}, nil
}

// Set adds a trigger or updates the one with the same name. A trigger added
// while running starts like one at startup: from its stored record,
// applying its misfire policy. An update with a new schedule continues from
// now, never repeating a time already handled; callbacks already running
// are kept.
func (s *Scheduler) Set(t Trigger) error {
	if err := validate(&t); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[t.Name]; ok {
		changed := !e.trig.Schedule.Equal(t.Schedule)
		e.trig = t
		if changed && s.ctx != nil {
			from := s.clock.Now()
			if e.last.After(from) {
				from = e.last
			}
			e.next = t.Schedule.Next(from)
		}
	} else {
		e := &entry{trig: t}
		s.entries[t.Name] = e
		if s.ctx != nil {
			s.startLocked(e, s.clock.Now())
		}
	}
	s.poke()
	return nil
}

// Remove stops firing the named trigger. Its running callbacks go on (Run
// still waits for them) but are no longer recorded; its stored record is
// kept, so adding it again resumes from there.
func (s *Scheduler) Remove(name string) {
	s.mu.Lock()
	delete(s.entries, name)
	s.mu.Unlock()
	s.poke()
}

// Stats returns the named trigger's counters.
func (s *Scheduler) Stats(name string) (Stats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok {
		return Stats{}, false
	}
	return e.stats, true
}

func validate(t *Trigger) error {
	if t.Name == "" {
		return fmt.Errorf("%w: name is empty", ErrInvalidTrigger)
	}
	if t.Schedule.IsZero() {
		return fmt.Errorf("%w %s: schedule is not set (use ParseSchedule)", ErrInvalidTrigger, t.Name)
	}
	switch t.Misfire {
	case "":
		t.Misfire = MisfireSkip
	case MisfireSkip, MisfireFireOnce:
	default:
		return fmt.Errorf("%w %s: misfire policy %q, want %q or %q", ErrInvalidTrigger, t.Name, t.Misfire, MisfireSkip, MisfireFireOnce)
	}
	switch t.Concurrency {
	case "":
		t.Concurrency = ConcurrencyAllow
	case ConcurrencyAllow, ConcurrencyForbid:
	default:
		return fmt.Errorf("%w %s: concurrency policy %q, want %q or %q", ErrInvalidTrigger, t.Name, t.Concurrency, ConcurrencyAllow, ConcurrencyForbid)
	}
	return nil
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fires the triggers until ctx is cancelled, then waits for running
// callbacks to return and returns nil. Shutdown order: stop starting fires,
// then wait for callbacks (they see ctx cancelled).
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ctx != nil {
		s.mu.Unlock()
		return ErrRunning
	}
	s.ctx = ctx
	now := s.clock.Now()
	for _, e := range s.entries {
		s.startLocked(e, now)
	}
	s.mu.Unlock()

	var reply chan struct{}
	for {
		s.mu.Lock()
		now := s.clock.Now()
		next := s.fireDueLocked(now)
		s.mu.Unlock()
		var timer clock.Timer
		var timerC <-chan time.Time
		if !next.IsZero() {
			timer = s.clock.NewTimer(next.Sub(now))
			timerC = timer.C()
		}
		if reply != nil { // after the timer, so a test sees the loop waiting
			close(reply)
			reply = nil
		}
		select {
		case <-ctx.Done():
		case <-timerC:
		case <-s.wake:
		case reply = <-s.syncc:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}
	s.mu.Lock()
	s.ctx = nil
	s.mu.Unlock()
	if reply != nil {
		close(reply)
	}
	s.running.Wait()
	return nil
}

// sync returns after the loop made a pass over due fires (tests).
func (s *Scheduler) sync(ctx context.Context) {
	reply := make(chan struct{})
	select {
	case s.syncc <- reply:
		<-reply
	case <-ctx.Done():
	}
}

// startLocked sets a trigger's first next time from its stored record: it
// repeats fires cut off by a crash, then applies the misfire policy to the
// scheduled times that passed while down.
func (s *Scheduler) startLocked(e *entry, now time.Time) {
	name, sched := e.trig.Name, e.trig.Schedule
	log := s.log.With(zap.String("trigger", name))
	rec, ok, err := s.store.Load(name)
	if err != nil {
		// Without a record we cannot tell what was missed: fire nothing
		// late rather than risk repeating, and say so.
		log.Error("loading the last fire failed; continuing from now", zap.Error(err))
	}
	if err != nil || !ok {
		e.next = sched.Next(now)
		return
	}
	e.rec = rec
	e.last = rec.Done
	e.queue = nil // a Run after a Run: callbacks cut off by its cancel repeat below
	if rec.Started.After(rec.Done) {
		// Callbacks were running when wake stopped: fire them again, with
		// their scheduled times. Under forbid only the latest can have been
		// running; under allow every time in (Done, Started] may have been.
		refire := []time.Time{rec.Started}
		if e.trig.Concurrency == ConcurrencyAllow && !rec.Done.IsZero() {
			refire = refire[:0]
			for t := sched.Next(rec.Done); !t.IsZero() && !t.After(rec.Started) && len(refire) < maxRefire; t = sched.Next(t) {
				refire = append(refire, t)
			}
			if len(refire) == 0 || !refire[len(refire)-1].Equal(rec.Started) {
				refire = append(refire, rec.Started) // schedule changed since
			}
		}
		log.Info("repeating fires cut off by a restart", zap.Int("count", len(refire)),
			zap.Time("from", refire[0]), zap.Time("to", rec.Started))
		for _, t := range refire {
			s.startFireLocked(e, t)
		}
		e.last = rec.Started
	}
	e.next = sched.Next(e.last)
	if !e.next.IsZero() && !e.next.After(now) {
		e.next = s.misfireLocked(e, e.last, now, "while down")
	}
}

// misfireLocked handles the scheduled times in (after, now], which were not
// fired in time, by the trigger's misfire policy, and returns the next time.
func (s *Scheduler) misfireLocked(e *entry, after, now time.Time, why string) time.Time {
	latest, n, capped, ok := e.trig.Schedule.lastIn(after, now)
	if !ok {
		return e.trig.Schedule.Next(after)
	}
	fireOnce := e.trig.Misfire == MisfireFireOnce
	missed := n
	if fireOnce {
		missed--
	}
	e.stats.Missed += uint64(missed)
	if missed > 0 {
		s.log.Warn("scheduled times missed", zap.String("trigger", e.trig.Name), zap.String("why", why),
			zap.Int("missed", missed), zap.Bool("atLeast", capped), zap.String("policy", string(e.trig.Misfire)),
			zap.Time("latest", latest))
	}
	if fireOnce {
		s.fireOrSkipLocked(e, latest)
	} else {
		s.settleLocked(e, latest)
	}
	e.last = latest
	return e.trig.Schedule.Next(latest)
}

// fireDueLocked fires every trigger whose next time is at or before now and
// returns the earliest next time over all triggers.
func (s *Scheduler) fireDueLocked(now time.Time) time.Time {
	var earliest time.Time
	for _, e := range s.entries {
		if !e.next.IsZero() && !e.next.After(now) {
			due := e.next
			if latest, n, capped, _ := e.trig.Schedule.lastIn(due.Add(-time.Nanosecond), now); n > 1 {
				// The loop woke after more than one scheduled time (a
				// suspended process, a clock step): the latest fires, as
				// on time, under either misfire policy; the earlier ones
				// are missed, and settled when the latest is.
				e.stats.Missed += uint64(n - 1)
				s.log.Warn("scheduled times missed", zap.String("trigger", e.trig.Name), zap.String("why", "loop woke late"),
					zap.Int("missed", n-1), zap.Bool("atLeast", capped), zap.Time("latest", latest))
				due = latest
			}
			s.fireOrSkipLocked(e, due)
			e.last = due
			e.next = e.trig.Schedule.Next(due)
		}
		if !e.next.IsZero() && (earliest.IsZero() || e.next.Before(earliest)) {
			earliest = e.next
		}
	}
	return earliest
}

// fireOrSkipLocked starts a fire at t unless the concurrency policy forbids it.
func (s *Scheduler) fireOrSkipLocked(e *entry, t time.Time) {
	if e.trig.Concurrency == ConcurrencyForbid && e.stats.Running > 0 {
		e.stats.Skipped++
		s.log.Info("fire skipped: previous still running", zap.String("trigger", e.trig.Name),
			zap.Time("scheduled", t), zap.Uint64("skipped", e.stats.Skipped))
		s.settleLocked(e, t)
		return
	}
	s.startFireLocked(e, t)
}

// startFireLocked saves t as started, then runs the callback.
func (s *Scheduler) startFireLocked(e *entry, t time.Time) {
	t = t.In(e.trig.Schedule.Location())
	e.queue = append(e.queue, slot{t: t})
	if t.After(e.rec.Started) {
		e.rec.Started = t
	}
	s.saveLocked(e)
	e.stats.Fired++
	e.stats.Running++
	ctx, name := s.ctx, e.trig.Name
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		s.fire(ctx, name, t)
		s.mu.Lock()
		e.stats.Running--
		if ctx.Err() == nil && s.entries[name] == e {
			s.doneLocked(e, t)
		}
		hook := s.onDone
		s.mu.Unlock()
		if hook != nil {
			hook(name, t)
		}
	}()
}

// settleLocked records t as handled without a fire.
func (s *Scheduler) settleLocked(e *entry, t time.Time) {
	e.queue = append(e.queue, slot{t: t, done: true})
	s.advanceLocked(e)
}

// doneLocked marks the fire at t returned.
func (s *Scheduler) doneLocked(e *entry, t time.Time) {
	for i := range e.queue {
		if !e.queue[i].done && e.queue[i].t.Equal(t) {
			e.queue[i].done = true
			break
		}
	}
	s.advanceLocked(e)
}

// advanceLocked moves Done over the settled prefix of the queue: Done never
// passes a fire that is still running, so a crash repeats it.
func (s *Scheduler) advanceLocked(e *entry) {
	i := 0
	for i < len(e.queue) && e.queue[i].done {
		i++
	}
	if i == 0 {
		return
	}
	if t := e.queue[i-1].t; t.After(e.rec.Done) {
		e.rec.Done = t
		if e.rec.Started.Before(t) {
			// Started only names callbacks; a skip can pass it.
			e.rec.Started = t
		}
		s.saveLocked(e)
	}
	e.queue = append(e.queue[:0], e.queue[i:]...)
}

func (s *Scheduler) saveLocked(e *entry) {
	if err := s.store.Save(e.trig.Name, e.rec); err != nil {
		s.log.Error("saving the fire record failed", zap.String("trigger", e.trig.Name),
			zap.Time("done", e.rec.Done), zap.Time("started", e.rec.Started), zap.Error(err))
	}
}
