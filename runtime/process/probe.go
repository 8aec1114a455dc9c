package process

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	api "github.com/wakefn/wake/api/v1"
)

// startingPeriod is the probe period of an instance that has not been
// ready yet: short, so a new instance takes requests within ~10 ms of
// listening (a scale from zero has a request waiting on it). A loopback
// connect costs tens of microseconds, so this is cheap for the few
// seconds an instance starts.
const startingPeriod = 5 * time.Millisecond

// probeSpec is a readiness probe with Kubernetes' defaults filled in.
// Ports and hosts in the manifest are ignored: the local runtime always
// probes 127.0.0.1:PORT.
type probeSpec struct {
	http         *httpProbe // nil means a TCP connect
	initialDelay time.Duration
	period       time.Duration // once ready
	timeout      time.Duration
	success      int // consecutive passes to become ready
	failure      int // consecutive failures to leave Ready
}

type httpProbe struct {
	scheme  string // http or https (certificates are not verified, as in Kubernetes)
	path    string
	headers []api.HTTPHeader
}

func newProbeSpec(p *api.Probe) probeSpec {
	if p == nil {
		p = &api.Probe{}
	}
	s := probeSpec{
		initialDelay: time.Duration(p.InitialDelaySeconds) * time.Second,
		period:       time.Duration(p.PeriodSeconds) * time.Second,
		timeout:      time.Duration(p.TimeoutSeconds) * time.Second,
		success:      int(p.SuccessThreshold),
		failure:      int(p.FailureThreshold),
	}
	if s.period <= 0 {
		s.period = api.DefaultProbePeriodSeconds * time.Second
	}
	if s.timeout <= 0 {
		s.timeout = api.DefaultProbeTimeoutSeconds * time.Second
	}
	if s.success <= 0 {
		s.success = api.DefaultProbeSuccessThreshold
	}
	if s.failure <= 0 {
		s.failure = api.DefaultProbeFailureThreshold
	}
	if g := p.HTTPGet; g != nil {
		h := &httpProbe{scheme: "http", path: g.Path, headers: append([]api.HTTPHeader(nil), g.HTTPHeaders...)}
		if strings.EqualFold(g.Scheme, "https") {
			h.scheme = "https"
		}
		if !strings.HasPrefix(h.path, "/") {
			h.path = "/" + h.path
		}
		s.http = h
	}
	return s
}

// prober runs one instance's readiness probe and reports the transitions:
// true once success consecutive checks passed, false once a ready instance
// failed failure consecutive checks. It probes every startingPeriod until
// the instance is first ready, then every period. One check runs at a
// time, each bounded by the probe's timeout.
type prober struct {
	clock clock.Clock
	spec  probeSpec
	check func(context.Context) error

	mu    sync.Mutex
	last  error
	ran   bool
	first time.Time // of the first passing check; zero before
	// answered is when a check first got an answer: it passed, or the
	// instance answered its HTTP probe with a failing status (it is up,
	// not ready yet); zero before.
	answered time.Time
}

func newProber(clk clock.Clock, spec probeSpec, check func(context.Context) error) *prober {
	return &prober{clock: clk, spec: spec, check: check}
}

// run probes until ctx ends, sending each transition on out.
func (p *prober) run(ctx context.Context, out chan<- bool) {
	var ready, everReady bool
	var passes, fails int
	delay := p.spec.initialDelay
	for {
		if delay > 0 {
			t := p.clock.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
		cctx, cancel := context.WithTimeout(ctx, p.spec.timeout)
		err := p.check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		p.last, p.ran = err, true
		if err == nil && p.first.IsZero() {
			p.first = p.clock.Now()
		}
		var status *statusError
		if (err == nil || errors.As(err, &status)) && p.answered.IsZero() {
			p.answered = p.clock.Now()
		}
		p.mu.Unlock()
		if err == nil {
			passes, fails = passes+1, 0
		} else {
			passes, fails = 0, fails+1
		}
		changed := false
		switch {
		case !ready && passes >= p.spec.success:
			ready, everReady, changed = true, true, true
		case ready && fails >= p.spec.failure:
			ready, changed = false, true
		}
		if changed {
			select {
			case out <- ready:
			case <-ctx.Done():
				return
			}
		}
		delay = p.spec.period
		if !everReady {
			delay = startingPeriod
		}
	}
}

// firstPass returns when a check first passed; zero before.
func (p *prober) firstPass() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first
}

// firstAnswer returns when the instance first answered a check, passing
// or not; zero before.
func (p *prober) firstAnswer() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answered
}

// statusError is an HTTP probe answered with a failing status.
type statusError struct {
	path   string
	status int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP probe GET %s: status %d", e.path, e.status)
}

// lastErr returns the last check's error; nil before one completed or
// when it passed.
func (p *prober) lastErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// lastError describes the last check's outcome, for failure messages.
func (p *prober) lastError() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.ran:
		return "no check has completed"
	case p.last == nil:
		return "passing"
	}
	return p.last.Error()
}

// newProbeClient returns the client of HTTP probes: no proxy, no
// keep-alive (each probe is a fresh connection, as the kubelet's, so a
// probe never rides a connection to a process that is gone), no redirects
// followed (a 3xx passes), certificates not verified.
func newProbeClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes, as Kubernetes does
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// newCheck returns the check of spec against the instance on host:port.
func newCheck(client *http.Client, spec probeSpec, host string, port int) func(context.Context) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if spec.http == nil {
		return func(ctx context.Context) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return fmt.Errorf("TCP probe: %w", err)
			}
			return c.Close()
		}
	}
	h := spec.http
	url := h.scheme + "://" + addr + h.path
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("HTTP probe: %w", err)
		}
		req.Header.Set("User-Agent", "wake-probe/1")
		setHeaders(req, h.headers)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("HTTP probe: %w", err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return &statusError{path: h.path, status: resp.StatusCode}
		}
		return nil
	}
}

// startup runs a startup probe (Kubernetes' semantics, wake's pace): it
// returns nil at the first passing check, or the last check's error once
// failure periods in a row had no passing check. Kubernetes checks once
// per period; wake checks every startingPeriod, so that an instance is
// seen up within milliseconds (a request may be waiting on it), and
// counts a failure for each period that ends with no pass. The time an
// instance is given is the same: initialDelay + failure × period.
func (p *prober) startup(ctx context.Context) error {
	if d := p.spec.initialDelay; d > 0 {
		t := p.clock.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
	}
	periodEnd := p.clock.Now().Add(p.spec.period)
	fails := 0
	for {
		cctx, cancel := context.WithTimeout(ctx, p.spec.timeout)
		err := p.check(cctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.mu.Lock()
		p.last, p.ran = err, true
		if err == nil {
			p.first = p.clock.Now()
		}
		p.mu.Unlock()
		if err == nil {
			return nil
		}
		for now := p.clock.Now(); !now.Before(periodEnd); periodEnd = periodEnd.Add(p.spec.period) {
			if fails++; fails >= p.spec.failure {
				return err
			}
		}
		t := p.clock.NewTimer(startingPeriod)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
	}
}

// setHeaders puts the manifest's headers on req, as the kubelet does for
// probes: each replaces a default of the same name, a name given twice
// keeps both values, and Host sets the request's host.
func setHeaders(req *http.Request, headers []api.HTTPHeader) {
	set := map[string]bool{}
	for _, hd := range headers {
		name := http.CanonicalHeaderKey(hd.Name)
		switch {
		case name == "Host":
			req.Host = hd.Value
		case set[name]:
			req.Header.Add(name, hd.Value)
		default:
			req.Header.Set(name, hd.Value)
			set[name] = true
		}
	}
}
