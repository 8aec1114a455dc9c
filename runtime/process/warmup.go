package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	api "github.com/wakefn/wake/api/v1"
)

// Warm-up requests carry these, so a function can tell them from users'
// (and leave them out of its own metrics).
const (
	warmupUserAgent = "wake-warmup/1"
	warmupHeader    = "Wake-Warmup"
)

// warmupBodyLimit is how much of each warm-up answer is read before the
// connection is reused: enough for any warm-up page, and a function that
// streams without end cannot hold the warm-up forever.
const warmupBodyLimit = 1 << 20

// errWarmupTimeout ends a warm-up that overran its timeoutSeconds.
var errWarmupTimeout = errors.New("warm-up timed out")

// warmupResult is how one instance's warm-up went.
type warmupResult struct {
	done int           // requests that succeeded
	took time.Duration // by the runtime's clock
	err  error         // nil when every request succeeded
}

// runWarmup sends w's requests to the instance at addr, w.Concurrency at a
// time, until w.Requests have succeeded, one fails, the whole takes longer
// than w.TimeoutSeconds (by clk), or ctx ends. The first failure stops the
// rest, and the error names it: "warm-up request 37 of 100: GET /warm:
// status 500". h2c sends the requests over cleartext HTTP/2, as users'
// requests reach such a revision.
func runWarmup(ctx context.Context, clk clock.Clock, w *api.Warmup, addr string, h2c bool) warmupResult {
	start := clk.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := clk.NewTimer(w.Timeout())
	defer timer.Stop()
	go func() {
		select {
		case <-timer.C():
			cancel(errWarmupTimeout)
		case <-ctx.Done():
		}
	}()

	requests, conc := int(w.Requests), min(int(w.Concurrency), int(w.Requests))
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: conc,
		DisableCompression:  true,
	}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	url := "http://" + addr + w.Path

	var next, done atomic.Int64
	var once sync.Once
	var first error
	fail := func(err error) {
		once.Do(func() { first = err })
		cancel(err)
	}
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := int(next.Add(1))
				if n > requests {
					return
				}
				if err := warmupRequest(ctx, client, w, url); err != nil {
					if ctx.Err() != nil && errors.Is(context.Cause(ctx), errWarmupTimeout) {
						return // reported below, as a timeout
					}
					fail(fmt.Errorf("warm-up request %d of %d: %s %s: %w", n, requests, w.Method, w.Path, err))
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	res := warmupResult{done: int(done.Load()), took: clk.Since(start)}
	switch {
	case first != nil:
		res.err = first
	case res.done < requests && errors.Is(context.Cause(ctx), errWarmupTimeout):
		res.err = fmt.Errorf("warm-up timed out after %v: %d of %d requests succeeded", w.Timeout(), res.done, requests)
	case res.done < requests:
		res.err = fmt.Errorf("warm-up stopped: %d of %d requests succeeded: %w", res.done, requests, context.Cause(ctx))
	}
	return res
}

// warmupRequest sends one warm-up request and checks its status.
func warmupRequest(ctx context.Context, client *http.Client, w *api.Warmup, url string) error {
	var body io.Reader
	if w.Body != "" {
		body = strings.NewReader(w.Body)
	}
	req, err := http.NewRequestWithContext(ctx, w.Method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", warmupUserAgent)
	req.Header.Set(warmupHeader, "1")
	setHeaders(req, w.Headers)
	resp, err := client.Do(req)
	if err != nil {
		if ue := (*neturl.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // "dial tcp ...: connection refused", without the URL again
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, warmupBodyLimit))
	resp.Body.Close()
	if !w.Succeeded(resp.StatusCode) {
		return errors.New("status " + strconv.Itoa(resp.StatusCode))
	}
	return nil
}
