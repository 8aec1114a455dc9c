package pace

import (
	"context"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// sendFor has the pacer observe n 2xx answers of took each, spread over
// d on the clock.
func sendFor(p *Pacer, clk *testingclock.FakeClock, n int, d, took time.Duration) {
	step := d / time.Duration(n)
	for i := 0; i < n; i++ {
		clk.Step(step)
		p.Observe(200, 0, took)
	}
}

func TestThrottlingIs429Or503WithRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		code int
		ra   bool
		want bool
	}{{429, false, true}, {429, true, true}, {503, true, true}, {503, false, false}, {500, true, false}, {200, false, false}} {
		if got := Throttling(tc.code, tc.ra); got != tc.want {
			t.Errorf("Throttling(%d, %v) = %v, want %v", tc.code, tc.ra, got, tc.want)
		}
	}
}

func TestDropsToEightyPercentOfWhatTheSinkTook(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	p := New(0, clk)
	sendFor(p, clk, 600, time.Second, time.Millisecond)
	sendFor(p, clk, 300, 500*time.Millisecond, time.Millisecond) // 600/s still
	p.Observe(429, 0, time.Millisecond)
	s := p.State()
	if !s.Learned || s.InForce < 479 || s.InForce > 482 {
		t.Fatalf("after a 429 at 600/s taken: %+v, want a learned rate of 480/s", s)
	}
	if !strings.Contains(s.Reason, "429") {
		t.Errorf("reason %q does not name the 429", s.Reason)
	}
	// The answers to what was already in flight do not compound the drop.
	clk.Step(100 * time.Millisecond)
	p.Observe(429, 0, time.Millisecond)
	if got := p.State().InForce; got != s.InForce {
		t.Errorf("a second 429 within a second moved the rate to %v", got)
	}
	// A second later, another refusal drops it again.
	clk.Step(time.Second)
	p.Observe(429, 0, time.Millisecond)
	if got := p.State().InForce; got > 0.8*s.InForce+1 {
		t.Errorf("a 429 a second later left the rate at %v, want <= %v", got, 0.8*s.InForce)
	}
}

func TestRisesWhileTheSinkKeepsUpAndNeverPastTheLimit(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	p := New(500, clk)
	sendFor(p, clk, 500, time.Second, time.Millisecond)
	p.Observe(429, 0, time.Millisecond)
	dropped := p.State().InForce
	if dropped != 400 {
		t.Fatalf("dropped to %v, want 400 (80%% of the 500 taken)", dropped)
	}
	// Sending at the learned rate, healthy: +5% a second.
	rate := dropped
	for i := 0; i < 3; i++ {
		sendFor(p, clk, int(rate), time.Second, time.Millisecond)
		rate = p.State().InForce
	}
	if want := dropped * 1.05 * 1.05; rate < want-1 {
		t.Errorf("after 3 healthy seconds the rate is %v, want >= %v", rate, want)
	}
	// Up to the limit, then the limit alone.
	for i := 0; i < 20 && p.State().Learned; i++ {
		sendFor(p, clk, int(p.State().InForce), time.Second, time.Millisecond)
	}
	if s := p.State(); s.Learned || s.InForce != 500 {
		t.Errorf("after climbing: %+v, want the limit of 500/s alone", s)
	}
}

func TestNoRiseWhenTheLearnedRateDoesNotBind(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	p := New(0, clk)
	sendFor(p, clk, 1000, time.Second, time.Millisecond)
	p.Observe(429, 0, time.Millisecond)
	learned := p.State().InForce
	// Traffic falls to 100/s: no evidence the sink takes more.
	for i := 0; i < 5; i++ {
		sendFor(p, clk, 100, time.Second, time.Millisecond)
	}
	if got := p.State().InForce; got != learned {
		t.Errorf("rate rose from %v to %v while only 100/s were sent", learned, got)
	}
}

func TestRetryAfterPausesEveryDelivery(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	p := New(0, clk)
	p.Observe(503, 2*time.Second, time.Millisecond)
	if s := p.State(); !s.PausedUntil.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("PausedUntil = %v, want %v", s.PausedUntil, t0.Add(2*time.Second))
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait(context.Background()) }()
	waitForTimer(t, clk)
	select {
	case <-done:
		t.Fatal("Wait returned during the pause")
	default:
	}
	clk.Step(2 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	p := New(0, clk)
	p.Observe(429, time.Minute, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Wait(ctx) }()
	waitForTimer(t, clk)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}

func TestLatencyRiseDrops(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	p := New(0, clk)
	sendFor(p, clk, 200, time.Second, 10*time.Millisecond)
	if p.State().Learned {
		t.Fatal("steady latency set a rate")
	}
	sendFor(p, clk, 100, 500*time.Millisecond, time.Second)
	s := p.State()
	if !s.Learned || !strings.Contains(s.Reason, "latency") {
		t.Fatalf("latency up from 10ms to 1s: %+v, want a drop for latency", s)
	}
}

func TestLearnedRateIsForgottenAfterQuiet(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	p := New(0, clk)
	sendFor(p, clk, 100, time.Second, time.Millisecond)
	p.Observe(429, 0, time.Millisecond)
	clk.Step(forgetAfter)
	p.Observe(200, 0, time.Millisecond)
	if s := p.State(); s.Learned || s.InForce != 0 {
		t.Errorf("after %v without a refusal: %+v, want no rate in force", forgetAfter, s)
	}
}

func TestSetLimitBelowTheLearnedRate(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	p := New(0, clk)
	sendFor(p, clk, 1000, time.Second, time.Millisecond)
	p.Observe(429, 0, time.Millisecond) // learned 700
	p.SetLimit(100)
	if s := p.State(); s.InForce != 100 || s.Learned {
		t.Errorf("limit 100 under a learned 700: %+v, want 100 from the limit", s)
	}
}

// waitForTimer waits until a goroutine waits on the fake clock.
func waitForTimer(t *testing.T, clk *testingclock.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("nothing waited on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}
