package delivery

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/wakefn/wake/eventing/pace"
)

// throttling answers 429 to the first n429 requests, then 503 with
// Retry-After: 1 to the next n503, then 200.
func throttling(n429, n503 int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		switch {
		case n <= n429:
			w.WriteHeader(http.StatusTooManyRequests)
		case n <= n429+n503:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}
}

// With a Throttle, a sink refusing for load is waited for, however long it
// refuses, and the event is neither dead-lettered nor failed for it.
func TestThrottledIsNotFailed(t *testing.T) {
	s := newSink(t, throttling(8, 2))
	dls := newSink(t, status())
	clk := newFakeClock()
	p := pace.New(0, clk)
	d, err := New(Spec{Retry: 2, DeadLetterSink: dls.URL}, Options{Clock: clk, Throttle: p})
	if err != nil {
		t.Fatal(err)
	}

	res := d.Deliver(context.Background(), s.URL, testEvent())

	if res.Outcome != Delivered || res.Attempts != 11 || res.Throttled != 10 {
		t.Fatalf("Result = %+v, want delivered on attempt 11, 10 of them throttled", res)
	}
	if n := len(dls.Received()); n != 0 {
		t.Errorf("dead-letter sink got %d events, want none", n)
	}
	if st := p.State(); !st.Learned {
		t.Errorf("the pacer learned nothing from 10 refusals: %+v", st)
	}
	if !slices.Contains(clk.Waits(), time.Second) {
		t.Errorf("waits %v: the Retry-After of 1s was not waited", clk.Waits())
	}
}

// Without one, a refusal for load is an attempt like any other
// (Knative's behaviour), and failures still count with one.
func TestThrottleOnlyExcusesRefusalsForLoad(t *testing.T) {
	t.Run("no throttle", func(t *testing.T) {
		s := newSink(t, throttling(8, 0))
		d := newDeliverer(t, Spec{Retry: 2}, newFakeClock(), Binary)
		res := d.Deliver(context.Background(), s.URL, testEvent())
		if res.Outcome != Failed || res.Attempts != 3 || res.Throttled != 0 {
			t.Errorf("Result = %+v, want failed after 3 attempts", res)
		}
	})
	t.Run("503 without Retry-After", func(t *testing.T) {
		s := newSink(t, status(503, 503, 503))
		clk := newFakeClock()
		d, err := New(Spec{Retry: 1}, Options{Clock: clk, Throttle: pace.New(0, clk)})
		if err != nil {
			t.Fatal(err)
		}
		res := d.Deliver(context.Background(), s.URL, testEvent())
		if res.Outcome != Failed || res.Attempts != 2 || res.Throttled != 0 {
			t.Errorf("Result = %+v, want failed after 2 attempts: a bare 503 is a failure", res)
		}
	})
	t.Run("cancelled while throttled", func(t *testing.T) {
		s := newSink(t, throttling(1000, 0))
		clk := newFakeClock()
		ctx, cancel := context.WithCancel(context.Background())
		d, err := New(Spec{Retry: 1}, Options{Clock: clk, Throttle: cancelAfter{pace.New(0, clk), 5, cancel, new(int)}})
		if err != nil {
			t.Fatal(err)
		}
		res := d.Deliver(ctx, s.URL, testEvent())
		if res.Outcome != Cancelled || res.Throttled < 5 {
			t.Errorf("Result = %+v, want cancelled after 5 throttled attempts", res)
		}
	})
}

// cancelAfter cancels the delivery's context at its n-th Wait.
type cancelAfter struct {
	*pace.Pacer
	n      int
	cancel func()
	waits  *int
}

func (c cancelAfter) Wait(ctx context.Context) error {
	if *c.waits++; *c.waits >= c.n {
		c.cancel()
	}
	return c.Pacer.Wait(ctx)
}
