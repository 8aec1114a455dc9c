package delivery

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/wakefn/wake/eventing/pace"
)

// Knative's extension attributes on an event sent to a dead-letter sink.
const (
	// ExtErrorDest is the sink URL that refused the event.
	ExtErrorDest = "knativeerrordest"
	// ExtErrorCode is the sink's last HTTP status; absent when it never
	// answered (connection refused, timeout).
	ExtErrorCode = "knativeerrorcode"
	// ExtErrorData is the base64 of the first maxErrorDataBytes of the
	// sink's last response body, or of the transport error's text when it
	// never answered; absent when both are empty.
	ExtErrorData = "knativeerrordata"
)

// maxErrorDataBytes bounds what of a refusing sink's body is kept: enough
// for an error message, small enough for a header once base64'd (1 KiB →
// 1.4 KB).
const maxErrorDataBytes = 1024

// Encoding is how an event is put on the wire.
type Encoding int

const (
	// Binary puts attributes in ce-* headers and the data in the body.
	Binary Encoding = iota
	// Structured sends the whole event as application/cloudevents+json.
	Structured
)

// Clock is the time the Deliverer needs: k8s.io/utils/clock.RealClock and
// its testing.FakeClock satisfy it.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) clock.Timer
}

// Options customise a Deliverer. The zero value is usable.
type Options struct {
	// Client sends the requests. It must not follow its own retry policy.
	// nil means a client with a dedicated transport and no overall timeout
	// (Spec.Timeout bounds each attempt).
	Client *http.Client
	// Encoding is Binary (the default) or Structured.
	Encoding Encoding
	// Clock times backoff waits and Result.Duration. nil means the real
	// clock. The per-attempt Timeout always uses real time (it is the
	// net/http context deadline).
	Clock Clock
	// Logger gets one debug line per failed attempt. nil means no logs.
	Logger *zap.Logger
	// Throttle, when set, hears every attempt's answer and paces the
	// attempts after a sink refused one for load (429, or 503 with a
	// Retry-After: pace.Throttling). Such a refusal is not a failure: the
	// attempt is made again once Throttle lets it, without counting
	// against Policy.Retry, until the sink takes the event or ctx ends.
	// The first attempt is paced by the caller. nil: a refusal for load
	// is retried like any other (Knative's behaviour).
	Throttle Throttle
}

// Throttle is what a Deliverer needs of a pacer (pace.Pacer).
type Throttle interface {
	// Wait blocks until an attempt may go; an error ends the delivery
	// as Cancelled.
	Wait(ctx context.Context) error
	// Observe is told each attempt's status (0: no answer), the
	// Retry-After it carried (0: none) and how long it took.
	Observe(code int, retryAfter, took time.Duration)
}

// Deliverer sends events to sinks under one Policy. It is safe for
// concurrent use; each Deliver call is independent.
type Deliverer struct {
	policy   Policy
	client   *http.Client
	encoding Encoding
	clock    Clock
	log      *zap.Logger
	throttle Throttle
}

// New returns a Deliverer for the spec, or the spec's validation errors.
func New(spec Spec, opts Options) (*Deliverer, error) {
	p, err := spec.Compile()
	if err != nil {
		return nil, err
	}
	return NewFromPolicy(p, opts), nil
}

// NewFromPolicy returns a Deliverer for an already compiled policy.
func NewFromPolicy(p Policy, opts Options) *Deliverer {
	d := &Deliverer{policy: p, client: opts.Client, encoding: opts.Encoding, clock: opts.Clock, log: opts.Logger, throttle: opts.Throttle}
	if d.client == nil {
		d.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if d.clock == nil {
		d.clock = clock.RealClock{}
	}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	return d
}

// Policy returns the compiled delivery policy.
func (d *Deliverer) Policy() Policy { return d.policy }

// Deliver POSTs the event to sinkURL until it is accepted, refused for
// good, or ctx ends. Connection errors, timeouts, 5xx, 404, 408, 409 and 429
// are retried up to Policy.Retry times (Knative's set); other statuses
// (3xx, other 4xx) are final at once. A final refusal goes to the
// dead-letter sink, with the same retry policy, carrying the knativeerror*
// extensions. The event's id is sent unchanged on every attempt so the
// sink can deduplicate.
func (d *Deliverer) Deliver(ctx context.Context, sinkURL string, e event.Event) Result {
	start := d.clock.Now()
	res := d.deliver(ctx, sinkURL, e)
	res.Duration = d.clock.Now().Sub(start)
	return res
}

func (d *Deliverer) deliver(ctx context.Context, sinkURL string, e event.Event) Result {
	if err := e.Validate(); err != nil {
		return Result{Outcome: Failed, Err: fmt.Errorf("%w: %w", ErrInvalidEvent, err)}
	}
	if err := checkURL(sinkURL); err != nil {
		return Result{Outcome: Failed, Err: fmt.Errorf("%w: %w", ErrInvalidSink, err)}
	}
	msg, err := d.encode(ctx, &e)
	if err != nil {
		return Result{Outcome: Failed, Err: err}
	}
	sink := d.send(ctx, sinkURL, e.ID(), msg, d.throttle)
	res := Result{Attempts: sink.attempts, Throttled: sink.throttled, StatusCode: sink.code, Err: sink.err}
	switch {
	case sink.err == nil:
		res.Outcome = Delivered
		return res
	case sink.cancelled:
		res.Outcome = Cancelled
		return res
	case d.policy.DeadLetterSink == "":
		res.Outcome = Failed
		return res
	}

	dl := e.Clone()
	dl.SetExtension(ExtErrorDest, sinkURL)
	var data []byte
	if sink.code != 0 {
		dl.SetExtension(ExtErrorCode, strconv.Itoa(sink.code))
		var se *StatusError
		if errors.As(sink.err, &se) {
			data = se.Body
		}
	} else {
		data = []byte(sink.err.Error())
	}
	if len(data) > maxErrorDataBytes {
		data = data[:maxErrorDataBytes]
	}
	if len(data) > 0 {
		dl.SetExtension(ExtErrorData, base64.StdEncoding.EncodeToString(data))
	}
	dlMsg, err := d.encode(ctx, &dl)
	if err != nil {
		res.Outcome = Failed
		res.Err = errors.Join(sink.err, fmt.Errorf("dead-letter sink: %w", err))
		return res
	}
	dls := d.send(ctx, d.policy.DeadLetterSink, e.ID(), dlMsg, nil)
	res.DeadLetterAttempts, res.DeadLetterStatusCode = dls.attempts, dls.code
	switch {
	case dls.err == nil:
		res.Outcome = DeadLettered
	case dls.cancelled:
		res.Outcome = Cancelled
		res.Err = errors.Join(sink.err, fmt.Errorf("dead-letter sink: %w", dls.err))
	default:
		res.Outcome = Failed
		res.Err = errors.Join(sink.err, fmt.Errorf("dead-letter sink: %w", dls.err))
	}
	return res
}

// sendResult is the outcome of the retry loop against one URL.
type sendResult struct {
	attempts  int
	throttled int   // of the attempts, refused for load (see Options.Throttle)
	code      int   // last status, 0 if none
	err       error // nil: accepted
	cancelled bool  // ctx ended
}

// send runs the retry loop against one URL; th, when set, paces it
// (see Options.Throttle): the sink's, not the dead-letter sink's.
func (d *Deliverer) send(ctx context.Context, url, id string, msg encoded, th Throttle) sendResult {
	var r sendResult
	for {
		r.attempts++
		start := d.clock.Now()
		resp, err := d.attempt(ctx, url, msg)
		r.code, r.err = 0, err
		if resp != nil {
			r.code = resp.code
		}
		var retryAfter time.Duration
		hasRetryAfter := resp != nil && resp.retryAfter != ""
		if hasRetryAfter {
			retryAfter, _ = parseRetryAfter(resp.retryAfter, d.clock.Now())
		}
		if th != nil {
			th.Observe(r.code, retryAfter, d.clock.Now().Sub(start))
		}
		if err == nil {
			return r
		}
		if ctx.Err() != nil {
			r.cancelled = true
			r.err = fmt.Errorf("%w (last attempt: %w)", context.Cause(ctx), err)
			return r
		}
		if th != nil && pace.Throttling(r.code, hasRetryAfter) {
			// Refused for load: not a failure. Go again when the pacer
			// (which heard the refusal, and any Retry-After) lets us.
			r.throttled++
			if werr := th.Wait(ctx); werr != nil {
				r.cancelled = true
				r.err = fmt.Errorf("%w (last attempt: %w)", context.Cause(ctx), err)
				return r
			}
			continue
		}
		if !retryable(r.code) || r.attempts-r.throttled > d.policy.Retry {
			d.log.Debug("delivery attempt failed", zap.String("url", url), zap.String("id", id),
				zap.Int("attempt", r.attempts), zap.Int("status", r.code), zap.Error(err), zap.Bool("final", true))
			return r
		}
		wait := d.wait(r.attempts-r.throttled, resp)
		d.log.Debug("delivery attempt failed", zap.String("url", url), zap.String("id", id),
			zap.Int("attempt", r.attempts), zap.Int("status", r.code), zap.Error(err), zap.Duration("retryIn", wait))
		if !d.sleep(ctx, wait) {
			r.cancelled = true
			r.err = fmt.Errorf("%w (last attempt: %w)", context.Cause(ctx), err)
			return r
		}
	}
}

// retryable is Knative's SelectiveRetry: no answer (code 0), 5xx, 404,
// 408, 409 and 429.
func retryable(code int) bool {
	switch {
	case code == 0, code >= 500:
		return true
	case code == http.StatusNotFound, code == http.StatusRequestTimeout,
		code == http.StatusConflict, code == http.StatusTooManyRequests:
		return true
	}
	return false
}

// wait is the time before retry n: the policy's backoff, or longer when a
// 429 or 503 carries a Retry-After (capped, see Spec.RetryAfterMax).
func (d *Deliverer) wait(n int, resp *attemptResponse) time.Duration {
	backoff := d.policy.Backoff(n)
	if resp == nil || resp.code != http.StatusTooManyRequests && resp.code != http.StatusServiceUnavailable {
		return backoff
	}
	ra, ok := parseRetryAfter(resp.retryAfter, d.clock.Now())
	if !ok {
		return backoff
	}
	return max(backoff, min(ra, d.policy.retryAfterCap(backoff)))
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		if s > int64(maxBackoff/time.Second) {
			return maxBackoff, true
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// sleep waits d on the injected clock; false if ctx ended first.
func (d *Deliverer) sleep(ctx context.Context, dur time.Duration) bool {
	if dur <= 0 {
		return ctx.Err() == nil
	}
	t := d.clock.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

type attemptResponse struct {
	code       int
	retryAfter string
}

// encoded is an event as HTTP headers and body, made once per URL and
// replayed on every attempt.
type encoded struct {
	header http.Header
	body   []byte
}

// encode writes the event with the SDK's HTTP binding.
//
// Binary mode writes attribute values as the SDK does, without the
// percent-encoding of CloudEvents HTTP binding §3.1.3.2
// (cloudevents/sdk-go#1331): Knative's dispatchers use the same SDK, and so
// do most receivers, which do not percent-decode, so encoding here would
// turn a subject "a b" into "a%20b" for them. A value that HTTP cannot carry
// in a header (a control character) is refused here, as ErrInvalidEvent,
// rather than retried; Structured mode carries any value.
func (d *Deliverer) encode(ctx context.Context, e *event.Event) (encoded, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://encode.invalid/", nil)
	if err != nil {
		return encoded{}, err
	}
	encCtx := binding.WithForceBinary(ctx)
	if d.encoding == Structured {
		encCtx = binding.WithForceStructured(ctx)
	}
	if err := cehttp.WriteRequest(encCtx, binding.ToMessage(e), req); err != nil {
		return encoded{}, fmt.Errorf("%w: encoding: %w", ErrInvalidEvent, err)
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			if i := strings.IndexFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }); i >= 0 {
				return encoded{}, fmt.Errorf("%w: header %s has a control character at byte %d; use structured mode for such values", ErrInvalidEvent, k, i)
			}
		}
	}
	var body []byte
	if req.Body != nil {
		body, err = io.ReadAll(req.Body)
		if err != nil {
			return encoded{}, fmt.Errorf("%w: encoding body: %w", ErrInvalidEvent, err)
		}
	}
	return encoded{header: req.Header, body: body}, nil
}

// attempt makes one request. A nil error means a 2xx.
func (d *Deliverer) attempt(ctx context.Context, url string, msg encoded) (*attemptResponse, error) {
	if d.policy.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.policy.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(msg.body))
	if err != nil {
		return nil, err
	}
	req.Header = msg.header.Clone()
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	ar := &attemptResponse{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Drain a little so the connection can be reused; a sink that
		// streams a large body back is not waited for.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return ar, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorDataBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return ar, &StatusError{Code: resp.StatusCode, Body: body}
}
