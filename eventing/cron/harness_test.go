package cron

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"
)

// guard bounds every wait on another goroutine; it is a failure deadline,
// never a pause: tests move time with the fake clock.
const guard = 10 * time.Second

var t0 = time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)

type fired struct {
	Name string
	At   time.Time
}

// harness runs a Scheduler on a fake clock. Its default callback reports the
// fire and returns; block makes callbacks wait for release.
type harness struct {
	t     *testing.T
	clk   *testingclock.FakeClock
	store *MemoryStore
	s     *Scheduler

	ctx    context.Context
	cancel context.CancelFunc
	runErr chan error

	fires chan fired
	dones chan fired

	mu      sync.Mutex
	block   bool
	release chan struct{} // closed by releaseAll
}

func newHarness(t *testing.T, now time.Time, store *MemoryStore) *harness {
	t.Helper()
	if store == nil {
		store = &MemoryStore{}
	}
	h := &harness{
		t: t, clk: testingclock.NewFakeClock(now), store: store,
		fires: make(chan fired, 1000), dones: make(chan fired, 1000),
		release: make(chan struct{}),
	}
	s, err := New(Options{Fire: h.fire, Clock: h.clk, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	s.onDone = func(name string, at time.Time) { h.dones <- fired{name, at} }
	h.s = s
	return h
}

func (h *harness) fire(ctx context.Context, name string, at time.Time) {
	h.fires <- fired{name, at}
	h.mu.Lock()
	block, release := h.block, h.release
	h.mu.Unlock()
	if block {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
}

func (h *harness) setBlock(b bool) {
	h.mu.Lock()
	h.block = b
	h.mu.Unlock()
}

func (h *harness) releaseAll() {
	h.mu.Lock()
	close(h.release)
	h.release = make(chan struct{})
	h.mu.Unlock()
}

func (h *harness) set(name, expr, tz string, m MisfirePolicy, c ConcurrencyPolicy) {
	h.t.Helper()
	if err := h.s.Set(Trigger{Name: name, Schedule: mustParse(h.t, expr, tz), Misfire: m, Concurrency: c}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) run() {
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.runErr = make(chan error, 1)
	go func() { h.runErr <- h.s.Run(h.ctx) }()
	h.sync()
	h.t.Cleanup(func() { h.stop() })
}

// stop cancels Run and waits for it to return.
func (h *harness) stop() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.runErr:
		if err != nil {
			h.t.Errorf("Run = %v", err)
		}
	case <-time.After(guard):
		h.t.Fatal("Run did not return")
	}
}

func (h *harness) sync() {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	h.s.sync(ctx)
	if ctx.Err() != nil {
		h.t.Fatal("scheduler loop did not answer")
	}
}

func (h *harness) totalFired() uint64 {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	var n uint64
	for _, e := range h.s.entries {
		n += e.stats.Fired
	}
	return n
}

// advance moves the clock to at, lets the loop fire what is due, and
// returns the fires started since the last call, by time then name.
func (h *harness) advance(to time.Time) []fired {
	h.t.Helper()
	before := h.totalFired()
	h.clk.SetTime(to)
	h.sync()
	return h.collect(int(h.totalFired() - before))
}

func (h *harness) collect(n int) []fired {
	h.t.Helper()
	var got []fired
	for range n {
		select {
		case f := <-h.fires:
			got = append(got, f)
		case <-time.After(guard):
			h.t.Fatalf("got %d of %d fires: %v", len(got), n, got)
		}
	}
	select {
	case f := <-h.fires:
		h.t.Fatalf("unexpected fire %v", f)
	default:
	}
	slices.SortFunc(got, func(a, b fired) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return got
}

func (h *harness) waitDone(n int) {
	h.t.Helper()
	for i := range n {
		select {
		case <-h.dones:
		case <-time.After(guard):
			h.t.Fatalf("%d of %d callbacks accounted", i, n)
		}
	}
}

func (h *harness) expect(to time.Time, want ...fired) {
	h.t.Helper()
	got := h.advance(to)
	if diff := cmp.Diff(want, got, cmp.Comparer(time.Time.Equal)); diff != "" {
		h.t.Fatalf("at %v fires (-want +got):\n%s", to, diff)
	}
}

func (h *harness) stats(name string) Stats {
	st, ok := h.s.Stats(name)
	if !ok {
		h.t.Fatalf("no trigger %s", name)
	}
	return st
}
