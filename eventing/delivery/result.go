package delivery

import (
	"errors"
	"fmt"
	"time"
)

// Outcome is how a delivery ended.
type Outcome int

const (
	// Delivered: the sink answered 2xx.
	Delivered Outcome = iota + 1
	// DeadLettered: the sink refused the event for good and the
	// dead-letter sink answered 2xx.
	DeadLettered
	// Failed: the sink refused the event for good and there is no
	// dead-letter sink, or it refused the event too, or the event was
	// invalid. The caller decides whether to keep it.
	Failed
	// Cancelled: the caller's context ended before the delivery did. The
	// event may or may not have reached the sink.
	Cancelled
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case DeadLettered:
		return "dead-lettered"
	case Failed:
		return "failed"
	case Cancelled:
		return "cancelled"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Result says what Deliver did.
type Result struct {
	Outcome Outcome
	// Attempts is how many requests went to the sink (1 + retries made).
	Attempts int
	// Throttled is how many of them the sink refused for load, with a
	// Throttle set: they did not count against the retry policy.
	Throttled int
	// StatusCode is the sink's last HTTP status, 0 when it never answered.
	StatusCode int
	// Err is why the last attempt at the sink failed (a *StatusError or a
	// transport error), joined with the dead-letter sink's error when that
	// failed too; nil when Delivered.
	Err error
	// DeadLetterAttempts and DeadLetterStatusCode describe the requests to
	// the dead-letter sink, 0 when none was made.
	DeadLetterAttempts   int
	DeadLetterStatusCode int
	// Duration is the wall time of the whole delivery, waits included, as
	// measured by the injected clock.
	Duration time.Duration
}

// StatusError is a sink's non-2xx answer.
type StatusError struct {
	Code int
	// Body is the first bytes of the response body (at most
	// maxErrorDataBytes), as sent to the dead-letter sink in
	// knativeerrordata.
	Body []byte
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("sink answered %d", e.Code)
}

var (
	// ErrInvalidEvent wraps the SDK's validation error for an event that
	// cannot be sent; nothing is sent.
	ErrInvalidEvent = errors.New("delivery: invalid event")
	// ErrInvalidSink is returned for a sink URL that is not absolute http(s).
	ErrInvalidSink = errors.New("delivery: invalid sink URL")
)
