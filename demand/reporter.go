package demand

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
)

// DefaultInterval is how often a gateway reports: twice per autoscaler
// sample (1s), so the leader's view is at most a second old even when one
// report is late.
const DefaultInterval = 500 * time.Millisecond

// Source is what the Reporter reads: the gateway's activator.
type Source interface {
	// Revisions are the registered revisions.
	Revisions() []api.RevisionKey
	// Sample returns a revision's counts since the previous Sample and
	// starts a new period.
	Sample(api.RevisionKey) activator.Stats
	// Busy are the IDs of the revision's instances still in use.
	Busy(api.RevisionKey) []string
	// Outcomes are what became of the revision's requests since it was
	// registered: cumulative counts that never decrease until the
	// revision is registered again, each report carrying them whole
	// (only the latency buckets that counted something, nothing at all
	// for a revision with no request yet).
	Outcomes(api.RevisionKey) activator.Outcomes
}

// Interface guard: the activator is the Source.
var _ Source = (*activator.Activator)(nil)

// ReporterOptions configure a Reporter.
type ReporterOptions struct {
	// Controllers are the collectors' base URLs (for example
	// http://wake-controller.wake-system.svc:8082), tried in order: the
	// first that answers keeps being used until it fails. Required.
	Controllers []string
	// Gateway is this gateway's identity, its pod name. Required.
	Gateway string
	// Token is sent with every report and wake-up as a bearer token: the
	// token the controllers accept (a TokenFile, in a gateway). Required.
	Token TokenSource
	// Source is the activator: its counts since the previous report, the
	// instances it uses and its outcomes since it registered each
	// revision, which the leader sums for the rollouts. Required.
	Source Source
	// Interval between reports. 0 means DefaultInterval.
	Interval time.Duration
	// Client sends reports and wake-ups. nil means a client that gives up
	// on a controller after 1s (500ms to connect), so a dead one costs
	// at most one report.
	Client *http.Client
	// Clock times reports and wake-ups. nil means the real clock.
	Clock clock.WithTicker
	// Logger: nil means no logs.
	Logger *zap.Logger
}

// Reporter pushes a gateway's demand to the controller leader and wakes
// revisions through it. Run sends the reports; Wake is the activator's
// Waker.
type Reporter struct {
	controllers []string
	gateway     string
	token       TokenSource
	source      Source
	interval    time.Duration
	client      *http.Client
	clock       clock.WithTicker
	log         *zap.Logger

	// current is the index of the controller in use, shared by reports and
	// wake-ups: whichever finds it down first moves both to the next.
	current atomic.Int64

	// Run's state, touched by its goroutine only.
	last    time.Time                 // when the source was last sampled
	carried map[api.RevisionKey]int64 // requests of reports not delivered
	failing int                       // reports failed in a row
	trimmed bool                      // the last report left outcomes out to fit

	mu           sync.Mutex
	wakes        map[api.RevisionKey]*wakeState
	wakesFailing bool // the last wake-up attempt failed
}

// NewReporter checks opts and returns a Reporter.
func NewReporter(opts ReporterOptions) (*Reporter, error) {
	if len(opts.Controllers) == 0 {
		return nil, errors.New("demand: ReporterOptions.Controllers: at least one controller URL is required")
	}
	r := &Reporter{
		gateway:  opts.Gateway,
		token:    opts.Token,
		source:   opts.Source,
		interval: opts.Interval,
		client:   opts.Client,
		clock:    opts.Clock,
		log:      opts.Logger,
		carried:  make(map[api.RevisionKey]int64),
		wakes:    make(map[api.RevisionKey]*wakeState),
	}
	for i, c := range opts.Controllers {
		u, err := url.Parse(c)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("demand: ReporterOptions.Controllers[%d]: %q is not an http(s) base URL like http://wake-controller.wake-system.svc:8082", i, c)
		}
		r.controllers = append(r.controllers, strings.TrimRight(c, "/"))
	}
	switch {
	case r.gateway == "":
		return nil, errors.New("demand: ReporterOptions.Gateway: required (the gateway's pod name)")
	case r.token == nil:
		return nil, errors.New("demand: ReporterOptions.Token: required (the token the controllers accept)")
	case r.source == nil:
		return nil, errors.New("demand: ReporterOptions.Source: required (the activator)")
	case r.interval < 0:
		return nil, fmt.Errorf("demand: ReporterOptions.Interval: %v, want > 0 (or 0 for %v)", r.interval, DefaultInterval)
	}
	if r.interval == 0 {
		r.interval = DefaultInterval
	}
	if r.client == nil {
		r.client = newClient()
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	return r, nil
}

func newClient() *http.Client {
	return &http.Client{
		Timeout: time.Second,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 500 * time.Millisecond, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4, // a report and a few wake-ups at once
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// Run pushes a Report every Interval until ctx ends. A report that cannot
// be delivered to any controller is dropped, since the next one
// supersedes it, but its requests are carried into the next.
func (r *Reporter) Run(ctx context.Context) {
	r.last = r.clock.Now()
	t := r.clock.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			r.report(ctx)
			r.forgetWakes()
		}
	}
}

// report samples the source and delivers one Report.
func (r *Reporter) report(ctx context.Context) {
	rep := r.collect(r.clock.Now())
	body, err := r.encode(rep)
	if err != nil { // only unencodable floats, which Stats never holds
		r.log.Error("cannot encode demand report", zap.Error(err))
		return
	}
	err = r.deliver(ctx, ReportPath, body)
	if ctx.Err() != nil {
		return // shutting down: nobody is left to read the counts
	}
	if err != nil {
		for _, rr := range rep.Revisions {
			if rr.Requests > 0 {
				r.carried[rr.Key()] = rr.Requests
			}
		}
		if r.failing == 0 {
			r.log.Warn("cannot deliver demand reports; carrying their requests over until one gets through",
				zap.Strings("controllers", r.controllers), zap.Error(err))
		}
		r.failing++
		return
	}
	if r.failing > 0 {
		r.log.Info("demand reports delivered again", zap.Int("failed", r.failing))
		r.failing = 0
	}
}

// collect samples every revision into a Report covering [r.last, now],
// adding the requests of undelivered reports.
func (r *Reporter) collect(now time.Time) *Report {
	keys := r.source.Revisions()
	rep := &Report{Gateway: r.gateway, Since: r.last, Sent: now, Revisions: make([]RevisionReport, 0, len(keys))}
	if !now.After(r.last) { // a clock that did not move still covers a period
		rep.Since = now.Add(-time.Nanosecond)
	}
	r.last = now
	for _, key := range keys {
		st := r.source.Sample(key)
		rep.Revisions = append(rep.Revisions, RevisionReport{
			Namespace: key.Namespace, Name: key.Name,
			Concurrency: st.Concurrency, InFlight: st.InFlight, Queued: st.Queued,
			Requests: st.Requests + r.carried[key],
			Ready:    st.Ready,
			Busy:     r.source.Busy(key),
			Outcomes: outcomeReportOf(r.source.Outcomes(key)),
		})
		delete(r.carried, key)
	}
	// Revisions unregistered since: their requests still happened.
	for key, n := range r.carried {
		rep.Revisions = append(rep.Revisions, RevisionReport{Namespace: key.Namespace, Name: key.Name, Requests: n})
		delete(r.carried, key)
	}
	return rep
}

// encode marshals rep. A report past MaxBodyBytes would be refused
// whole, demand included, so one that is leaves its outcomes out: the
// leader keeps the previous ones, and the rollouts judge on stale counts
// rather than the autoscaler going blind. About 3,000 revisions with
// traffic fit (a revision's latencies span some 100 buckets, 1 KiB).
func (r *Reporter) encode(rep *Report) ([]byte, error) {
	body, err := json.Marshal(rep)
	if err != nil || len(body) <= MaxBodyBytes {
		if err == nil && r.trimmed {
			r.log.Info("demand reports carry outcomes again", zap.Int("bytes", len(body)))
			r.trimmed = false
		}
		return body, err
	}
	if !r.trimmed {
		r.log.Warn("demand report too large with outcomes; sending it without them, rollouts see stale counts",
			zap.Int("bytes", len(body)), zap.Int("max", MaxBodyBytes), zap.Int("revisions", len(rep.Revisions)))
		r.trimmed = true
	}
	for i := range rep.Revisions {
		rep.Revisions[i].Outcomes = nil
	}
	return json.Marshal(rep)
}

// deliver posts body to path on the controller in use, then on each other
// one in turn until one accepts it.
func (r *Reporter) deliver(ctx context.Context, path string, body []byte) error {
	var errs []error
	for range r.controllers {
		err := r.postOnce(ctx, path, body)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// postOnce posts body to path on the controller in use. When that fails
// it moves to the next controller, unless another caller already has.
func (r *Reporter) postOnce(ctx context.Context, path string, body []byte) error {
	i := r.current.Load()
	err := r.post(ctx, r.controllers[i]+path, body)
	if err != nil {
		r.current.CompareAndSwap(i, (i+1)%int64(len(r.controllers)))
	}
	return err
}

func (r *Reporter) post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.token.Token())
	res, err := r.client.Do(req)
	if err != nil {
		return err // names the method and URL already
	}
	defer res.Body.Close()
	if res.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10)) // reuse the connection
		return nil
	}
	// A non-leader answers 503 with a line saying so: keep it for the log.
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 256))
	return fmt.Errorf("POST %s: %s: %s", url, res.Status, strings.TrimSpace(string(msg)))
}
