package controlplane

import (
	"errors"

	api "github.com/wakefn/wake/api/v1"
)

// ErrNotFound is returned by a Store for a function or revision it does
// not hold.
var ErrNotFound = errors.New("not found")

// Store keeps functions, revisions and triggers. Embedded mode keeps them in bbolt
// (controlplane/boltstore). Every change the control plane makes to
// several objects (a function and the revision its apply creates) goes
// through one Update, so a crash never leaves one without the other.
type Store interface {
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction, committed when fn
	// returns nil and rolled back otherwise.
	Update(fn func(Tx) error) error
	Close() error
}

// Tx reads and writes inside one transaction. Objects returned are
// copies the caller owns.
type Tx interface {
	Functions() ([]*api.Function, error)
	PutFunction(fn *api.Function) error
	DeleteFunction(key api.FunctionKey) error
	Revisions() ([]*api.Revision, error)
	PutRevision(rev *api.Revision) error
	DeleteRevision(key api.RevisionKey) error
	Triggers() ([]*api.Trigger, error)
	PutTrigger(t *api.Trigger) error
	DeleteTrigger(key api.TriggerKey) error
}
