package process

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

func TestStartupProberCountsFailedPeriods(t *testing.T) {
	spec := probeSpec{period: 10 * time.Second, timeout: time.Second, success: 1, failure: 3}
	for _, tc := range []struct {
		name      string
		passAt    int           // the check that passes, 0 for none
		step      time.Duration // how far the clock moves between checks
		wantErr   bool
		wantCheck int
	}{
		// Checks at 0, 4, 8 (no period over), 12 (one), 16, 20 (two), 24,
		// 28, 32 (three): failed.
		{name: "never passes", step: 4 * time.Second, wantErr: true, wantCheck: 9},
		{name: "passes in time", passAt: 7, step: 4 * time.Second, wantCheck: 7},
		// A check every 25s: 25 ends two periods, 50 the third.
		{name: "slow checks count every period they span", step: 25 * time.Second, wantErr: true, wantCheck: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &timerClock{FakeClock: testingclock.NewFakeClock(time.Now()), timers: make(chan time.Duration)}
			checks := 0
			p := newProber(clk, spec, func(context.Context) error {
				checks++
				if checks == tc.passAt {
					return nil
				}
				return errors.New("not yet")
			})
			done := make(chan error, 1)
			go func() { done <- p.startup(context.Background()) }()
			for {
				select {
				case err := <-done:
					if (err != nil) != tc.wantErr || checks != tc.wantCheck {
						t.Errorf("startup = %v after %d checks; want error %v after %d", err, checks, tc.wantErr, tc.wantCheck)
					}
					return
				case d := <-clk.timers:
					if d != startingPeriod {
						t.Fatalf("timer %v, want startingPeriod", d)
					}
					clk.Step(tc.step)
				}
			}
		})
	}
}

func TestRunWarmup(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	var bodies []string
	var inflight, peak atomic.Int64
	failAt := int64(0)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Clone(context.Background()))
		bodies = append(bodies, string(b))
		mu.Unlock()
		time.Sleep(time.Millisecond) // lets requests overlap, to see the concurrency
		if i := n.Add(1); i == failAt {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	clk := testingclock.NewFakeClock(time.Now())
	w := (&api.Revision{Spec: api.RevisionSpec{Warmup: &api.Warmup{
		Path: "/warm?x=1", Method: "POST", Body: "hot", Requests: 100, Concurrency: 4,
		Headers: []api.HTTPHeader{{Name: "X-Mine", Value: "1"}, {Name: "Host", Value: "fn.example"}},
	}}}).Warmup()

	res := runWarmup(context.Background(), clk, w, addr, false)
	if res.err != nil || res.done != 100 {
		t.Fatalf("warm-up = %d done, %v; want 100, nil", res.done, res.err)
	}
	mu.Lock()
	if len(seen) != 100 {
		t.Errorf("server saw %d requests, want 100", len(seen))
	}
	r := seen[0]
	if r.Method != "POST" || r.URL.String() != "/warm?x=1" || bodies[0] != "hot" || r.UserAgent() != "wake-warmup/1" ||
		r.Header.Get("Wake-Warmup") != "1" || r.Header.Get("X-Mine") != "1" || r.Host != "fn.example" {
		t.Errorf("warm-up request %s %s host=%s body=%q headers=%v", r.Method, r.URL, r.Host, bodies[0], r.Header)
	}
	mu.Unlock()
	if p := peak.Load(); p > 4 || p < 2 {
		t.Errorf("peak concurrency %d, want 2..4", p)
	}

	// One at a time, the 37th fails: nothing after it is sent.
	w.Concurrency, failAt = 1, 37
	n.Store(0)
	mu.Lock()
	seen = nil
	mu.Unlock()
	res = runWarmup(context.Background(), clk, w, addr, false)
	if want := "warm-up request 37 of 100: POST /warm?x=1: status 500"; res.err == nil || res.err.Error() != want || res.done != 36 {
		t.Errorf("failing warm-up = %d done, %v; want 36, %q", res.done, res.err, want)
	}
	if got := n.Load(); got != 37 {
		t.Errorf("server saw %d requests after the failure, want it to stop at 37", got)
	}

	srv.Close()
	res = runWarmup(context.Background(), clk, w, addr, false)
	if res.err == nil || !strings.HasPrefix(res.err.Error(), "warm-up request 1 of 100: POST /warm?x=1: dial tcp") {
		t.Errorf("warm-up of a closed port: %v", res.err)
	}
}

func TestRunWarmupTimesOutByTheClock(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	clk := &timerClock{FakeClock: testingclock.NewFakeClock(time.Now()), timers: make(chan time.Duration, 1)}
	w := (&api.Revision{Spec: api.RevisionSpec{Warmup: &api.Warmup{Requests: 5, TimeoutSeconds: 30}}}).Warmup()
	done := make(chan warmupResult)
	go func() { done <- runWarmup(context.Background(), clk, w, strings.TrimPrefix(srv.URL, "http://"), false) }()
	if d := <-clk.timers; d != 30*time.Second {
		t.Fatalf("timer %v, want the warm-up's timeout", d)
	}
	clk.Step(30 * time.Second)
	res := <-done
	if want := "warm-up timed out after 30s: 0 of 5 requests succeeded"; res.err == nil || res.err.Error() != want {
		t.Errorf("warm-up = %v, want %q", res.err, want)
	}
}

// The warm-up's outcome lands in State.Warmup as instances join Ready, and
// an instance's start times are set once and shared.
func TestWarmupOutcomeInState(t *testing.T) {
	e := newEnv(t, Options{})
	rv := newRevision(e.rt, &revSpec{key: api.RevisionKey{Namespace: "default", Name: "w-00001"}})
	a := &instance{rev: rv, id: "a", addr: "127.0.0.1:1"}
	b := &instance{rev: rv, id: "b", addr: "127.0.0.1:2"}
	rv.instances = []*instance{a, b}
	t0 := time.Now()
	times := runtime.StartTimes{Scheduled: t0, Forked: t0, Up: t0, Ready: t0, WarmedUp: t0.Add(time.Second)}
	fail := &runtime.Failure{Reason: runtime.ReasonWarmupFailed, Message: "warm-up request 1 of 1: GET /: status 500"}

	rv.becameReady(a, times, warmupOutcome{ran: true, failure: fail})
	s := e.rec.waitFor(t, "a ready", func(s runtime.State) bool { return len(s.Ready) == 1 })
	if s.Warmup == nil || s.Warmup.Message != fail.Message || s.Failure != nil || len(s.Ready) != 1 {
		t.Fatalf("served despite a failed warm-up: %s warmup=%v", describe(s), s.Warmup)
	}
	started := s.Ready[0].Started
	if started == nil || *started != times {
		t.Fatalf("Started = %v, want %v", started, times)
	}
	// Unready and back: no new warm-up, the failure stays, the times too.
	rv.becameUnready(a, "probe failed")
	e.rec.waitFor(t, "a unready", func(s runtime.State) bool { return len(s.Ready) == 0 })
	rv.becameReady(a, runtime.StartTimes{}, warmupOutcome{})
	s = e.rec.waitFor(t, "a ready again", func(s runtime.State) bool { return len(s.Ready) == 1 })
	if s.Warmup == nil || s.Ready[0].Started != started {
		t.Errorf("after unready and back: warmup=%v started=%v (want the first %p)", s.Warmup, s.Ready[0].Started, started)
	}
	// Another instance warms up fine: the failure clears.
	rv.becameReady(b, times, warmupOutcome{ran: true})
	if s = e.rec.waitFor(t, "b ready", func(s runtime.State) bool { return len(s.Ready) == 2 }); s.Warmup != nil {
		t.Errorf("after a good warm-up: %s warmup=%v", describe(s), s.Warmup)
	}
}
