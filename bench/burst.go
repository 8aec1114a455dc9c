package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// burstResult is 1,000 concurrent requests to a function at zero.
type burstResult struct {
	Requests      int     `json:"requests"`
	Errors        int     `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	AllAnsweredms float64 `json:"all_answered_ms"`
	P50ms         float64 `json:"p50_ms"`
	P95ms         float64 `json:"p95_ms"`
	PeakInstances int     `json:"peak_instances"` // most ready at once (status.actualReplicas)
	PeakDesired   int     `json:"peak_desired"`   // most the autoscaler asked for (status.desiredReplicas)
}

// burstClient opens a connection per request in flight, as 1,000 clients would.
func burstClient(n int) *http.Client {
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}}
}

// runBurst sends 1,000 requests at once to a function at zero with
// containerConcurrency 1 and a 100 ms handler, and watches the instances.
func runBurst(ctx context.Context, c *config, bins binaries) (*burstResult, error) {
	const n = 1000
	w, err := startWake(ctx, c, bins, "burst")
	if err != nil {
		return nil, err
	}
	defer w.close()
	spec := fnSpec{name: "burst", cc: 1, annotations: map[string]string{"initial-scale": "0"}}
	if err := w.apply(ctx, manifest(bins.testfn, spec)); err != nil {
		return nil, err
	}
	stopWatch := w.watchPeak(ctx, "burst-00001")
	lat, errs, all := fire(ctx, burstClient(n), w.http, n, func(int) (string, string) { return host("burst"), "/sleep?ms=100" })
	// The autoscaler may still be starting instances it asked for.
	time.Sleep(2 * time.Second)
	res := &burstResult{Requests: n, Errors: len(errs), AllAnsweredms: ms(all)}
	res.PeakInstances, res.PeakDesired = stopWatch()
	if len(errs) > 0 {
		res.FirstError = errs[0].Error()
	}
	s := sortedCopy(lat)
	res.P50ms, res.P95ms = ms(percentile(s, 0.5)), ms(percentile(s, 0.95))
	fmt.Println()
	t := newTable("requests", "errors", "all answered ms", "p50 ms", "p95 ms", "peak instances", "peak desired")
	t.add(fmt.Sprint(res.Requests), fmt.Sprint(res.Errors), f1(res.AllAnsweredms), f1(res.P50ms), f1(res.P95ms), fmt.Sprint(res.PeakInstances), fmt.Sprint(res.PeakDesired))
	fmt.Println(t)
	if res.Errors > 0 {
		return res, fmt.Errorf("%d of %d requests failed, first: %s", res.Errors, n, res.FirstError)
	}
	return res, nil
}

// fire sends n GETs at once, target(i) giving each one's host and path, and
// returns each success's time to first byte, the errors, and the time until
// the last was answered.
func fire(ctx context.Context, client *http.Client, addr string, n int, target func(i int) (host, path string)) ([]time.Duration, []error, time.Duration) {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	startGate := make(chan struct{})
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, p := target(i)
			<-startGate
			d, err := firstByte(ctx, client, addr, h, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			lat = append(lat, d)
		}()
	}
	t0 = time.Now()
	close(startGate)
	wg.Wait()
	return lat, errs, time.Since(t0)
}

// watchPeak polls a revision's status every 100 ms until the returned stop
// is called, which returns the most actual and desired replicas it saw.
func (w *wake) watchPeak(ctx context.Context, rev string) func() (actual, desired int) {
	var actual, desired int // written by the poller only, read after it stopped
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			if r, err := w.revision(ctx, rev); err == nil {
				actual = max(actual, r.Status.ActualReplicas)
				desired = max(desired, r.Status.DesiredReplicas)
			}
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() (int, int) { close(done); <-stopped; return actual, desired }
}
