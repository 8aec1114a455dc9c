package delivery

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"time"
)

// BackoffPolicy is how the wait between retries grows.
type BackoffPolicy string

const (
	// BackoffExponential waits BackoffDelay * 2^(n-1) before the n-th retry:
	// delay, 2·delay, 4·delay, …
	BackoffExponential BackoffPolicy = "exponential"
	// BackoffLinear waits BackoffDelay * n before the n-th retry:
	// delay, 2·delay, 3·delay, …
	BackoffLinear BackoffPolicy = "linear"
)

const (
	// DefaultBackoffDelay is the delay used when Spec.BackoffDelay is empty.
	// Knative retries at once in that case, which hammers a sink that is
	// restarting; 200ms is long enough for a pod to finish becoming ready
	// and short enough not to be noticed.
	DefaultBackoffDelay = 200 * time.Millisecond

	// DefaultRetryAfterMax is the least cap on a Retry-After header when
	// Spec.RetryAfterMax is empty: a sink may ask for up to
	// max(backoff, 1m) before the next attempt, no more, so that a wrong
	// header ("Retry-After: 86400") cannot park a trigger for a day.
	DefaultRetryAfterMax = time.Minute

	// maxBackoff bounds one wait so that a large Retry with an exponential
	// policy cannot overflow time.Duration.
	maxBackoff = 24 * time.Hour
)

// Spec is a trigger's spec.delivery, with the names and meaning of Knative's
// DeliverySpec. The zero Spec delivers once, without retries or dead letter.
type Spec struct {
	// Retry is how many times to retry after the first attempt fails with a
	// retryable error. 0 means no retries.
	Retry int `json:"retry,omitempty"`
	// BackoffPolicy is "exponential" or "linear"; empty means exponential.
	BackoffPolicy BackoffPolicy `json:"backoffPolicy,omitempty"`
	// BackoffDelay is the ISO-8601 duration before the first retry, like
	// "PT0.2S"; later retries wait longer according to BackoffPolicy.
	// Empty means DefaultBackoffDelay.
	BackoffDelay string `json:"backoffDelay,omitempty"`
	// Timeout is the ISO-8601 limit on one attempt, like "PT10S". Empty
	// means no limit beyond the caller's context.
	Timeout string `json:"timeout,omitempty"`
	// DeadLetterSink is the absolute http(s) URL that gets the event when
	// delivery fails for good. The caller resolves a Knative Destination
	// (ref or uri) to this URL. Empty means failed events are only reported.
	DeadLetterSink string `json:"deadLetterSink,omitempty"`
	// RetryAfterMax is the ISO-8601 cap on a 429 or 503 response's
	// Retry-After header. "PT0S" ignores the header. Empty means the cap is
	// max(backoff, DefaultRetryAfterMax).
	RetryAfterMax string `json:"retryAfterMax,omitempty"`
}

// Policy is a validated Spec with its durations parsed.
type Policy struct {
	Retry          int
	BackoffPolicy  BackoffPolicy
	BackoffDelay   time.Duration
	Timeout        time.Duration // 0: none
	DeadLetterSink string        // "": none
	// RetryAfterMax is the cap on Retry-After; negative means the default
	// max(backoff, DefaultRetryAfterMax), 0 ignores the header.
	RetryAfterMax time.Duration
}

// Compile validates the spec and parses its durations. Every problem is
// reported, each naming its field under "delivery.".
func (s Spec) Compile() (Policy, error) {
	p := Policy{
		Retry:          s.Retry,
		BackoffPolicy:  s.BackoffPolicy,
		BackoffDelay:   DefaultBackoffDelay,
		DeadLetterSink: s.DeadLetterSink,
		RetryAfterMax:  -1,
	}
	var errs []error
	if s.Retry < 0 {
		errs = append(errs, fmt.Errorf("delivery.retry = %d, must be >= 0", s.Retry))
	}
	switch s.BackoffPolicy {
	case "":
		p.BackoffPolicy = BackoffExponential
	case BackoffExponential, BackoffLinear:
	default:
		errs = append(errs, fmt.Errorf("delivery.backoffPolicy = %q, must be %q or %q",
			s.BackoffPolicy, BackoffExponential, BackoffLinear))
	}
	if s.BackoffDelay != "" {
		d, err := ParseDuration(s.BackoffDelay)
		if err != nil {
			errs = append(errs, fmt.Errorf("delivery.backoffDelay: %w", err))
		}
		p.BackoffDelay = d
	}
	if s.Timeout != "" {
		d, err := ParseDuration(s.Timeout)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("delivery.timeout: %w", err))
		case d <= 0:
			errs = append(errs, fmt.Errorf("delivery.timeout = %q, must be more than zero", s.Timeout))
		}
		p.Timeout = d
	}
	if s.RetryAfterMax != "" {
		d, err := ParseDuration(s.RetryAfterMax)
		if err != nil {
			errs = append(errs, fmt.Errorf("delivery.retryAfterMax: %w", err))
		}
		p.RetryAfterMax = d
	}
	if s.DeadLetterSink != "" {
		if err := checkURL(s.DeadLetterSink); err != nil {
			errs = append(errs, fmt.Errorf("delivery.deadLetterSink: %w", err))
		}
	}
	if len(errs) > 0 {
		return Policy{}, errors.Join(errs...)
	}
	return p, nil
}

// checkURL accepts absolute http and https URLs with a host.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q must be an http or https URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}

// Backoff returns the wait before the n-th retry (n ≥ 1). It has no side
// effects.
//
// Knative computes backoffDelay·2^i (exponential) and backoffDelay·i
// (linear) with go-retryablehttp's 0-based i, so its first retry waits
// backoffDelay (exponential) or nothing at all (linear). wake keeps the
// exponential sequence and starts linear at backoffDelay too, so that
// backoffDelay always means "the wait before the first retry".
func (p Policy) Backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := p.BackoffDelay
	if d <= 0 {
		return 0
	}
	var mult float64
	switch p.BackoffPolicy {
	case BackoffLinear:
		mult = float64(n)
	default:
		mult = math.Exp2(float64(n - 1))
	}
	w := float64(d) * mult
	if w >= float64(maxBackoff) {
		return maxBackoff
	}
	return time.Duration(w)
}

// retryAfterCap is the most a Retry-After header may add to the wait
// before the n-th retry.
func (p Policy) retryAfterCap(backoff time.Duration) time.Duration {
	if p.RetryAfterMax >= 0 {
		return p.RetryAfterMax
	}
	return max(backoff, DefaultRetryAfterMax)
}
