// Package boltstore is the embedded store of wake serve: functions and
// revisions as JSON documents in a bbolt file under the state directory.
// bbolt locks its file, so one wake serve owns a state directory and the
// CLI always goes through the admin API.
package boltstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

var (
	bucketFunctions = []byte("functions")
	bucketRevisions = []byte("revisions")
)

// Store is a controlplane.Store in a bbolt file.
type Store struct {
	db *bolt.DB
}

var _ controlplane.Store = (*Store)(nil)

// ErrLocked says another process holds the state file.
var ErrLocked = errors.New("the state directory is in use by another wake serve")

// Open opens (or creates) the store at path. It fails with ErrLocked
// within a second when another process has it open.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("opening %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketFunctions, bucketRevisions} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initializing %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(controlplane.Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Update runs fn in a read-write transaction.
func (s *Store) Update(fn func(controlplane.Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Close releases the file.
func (s *Store) Close() error { return s.db.Close() }

type boltTx struct{ tx *bolt.Tx }

func key(namespace, name string) []byte { return []byte(namespace + "/" + name) }

func (t boltTx) Functions() ([]*api.Function, error) {
	var out []*api.Function
	err := t.tx.Bucket(bucketFunctions).ForEach(func(k, v []byte) error {
		fn := &api.Function{}
		if err := json.Unmarshal(v, fn); err != nil {
			return fmt.Errorf("function %s: %w", k, err)
		}
		out = append(out, fn)
		return nil
	})
	return out, err
}

func (t boltTx) PutFunction(fn *api.Function) error {
	b, err := json.Marshal(fn)
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucketFunctions).Put(key(fn.Namespace, fn.Name), b)
}

func (t boltTx) DeleteFunction(k api.FunctionKey) error {
	return t.tx.Bucket(bucketFunctions).Delete(key(k.Namespace, k.Name))
}

func (t boltTx) Revisions() ([]*api.Revision, error) {
	var out []*api.Revision
	err := t.tx.Bucket(bucketRevisions).ForEach(func(k, v []byte) error {
		rev := &api.Revision{}
		if err := json.Unmarshal(v, rev); err != nil {
			return fmt.Errorf("revision %s: %w", k, err)
		}
		out = append(out, rev)
		return nil
	})
	return out, err
}

func (t boltTx) PutRevision(rev *api.Revision) error {
	b, err := json.Marshal(rev)
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucketRevisions).Put(key(rev.Namespace, rev.Name), b)
}

func (t boltTx) DeleteRevision(k api.RevisionKey) error {
	return t.tx.Bucket(bucketRevisions).Delete(key(k.Namespace, k.Name))
}
