package activator

import (
	"errors"
	"fmt"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// Errors a request can meet in the activator. The HTTP status is chosen
// only where the response is written (respondError).
var (
	// ErrQueueFull: the revision already holds its maximum of queued
	// requests. Answered 503 with Retry-After.
	ErrQueueFull = errors.New("activator: queue full")
	// ErrOverloaded: all revisions together hold the most queued requests
	// the activator takes. Answered 503 with Retry-After.
	ErrOverloaded = errors.New("activator: too many requests queued")
	// ErrRevisionGone: the revision was deleted or is unknown. Answered 503.
	ErrRevisionGone = errors.New("activator: revision not available")
)

// FailedError says a revision cannot start an instance, and why.
type FailedError struct {
	Revision api.RevisionKey
	Failure  runtime.Failure
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("revision %s cannot start an instance: %s: %s", e.Revision.Name, e.Failure.Reason, e.Failure.Message)
}
