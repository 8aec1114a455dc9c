// Package boltstore is the embedded store of wake serve: functions,
// revisions and triggers as JSON documents in a bbolt file under the state
// directory, and the cron triggers' fire records. bbolt locks its file, so
// one wake serve owns a state directory and the CLI always goes through
// the admin API.
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
	bucketTriggers  = []byte("triggers")
	bucketCron      = []byte("cron")
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
		for _, b := range [][]byte{bucketFunctions, bucketRevisions, bucketTriggers, bucketCron} {
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

// list decodes every document of a bucket; what names the kind in errors.
func list[T any](tx *bolt.Tx, bucket []byte, what string) ([]*T, error) {
	var out []*T
	err := tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		obj := new(T)
		if err := json.Unmarshal(v, obj); err != nil {
			return fmt.Errorf("%s %s: %w", what, k, err)
		}
		out = append(out, obj)
		return nil
	})
	return out, err
}

func put(tx *bolt.Tx, bucket, k []byte, obj any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put(k, b)
}

func (t boltTx) Functions() ([]*api.Function, error) {
	return list[api.Function](t.tx, bucketFunctions, "function")
}

func (t boltTx) PutFunction(fn *api.Function) error {
	return put(t.tx, bucketFunctions, key(fn.Namespace, fn.Name), fn)
}

func (t boltTx) DeleteFunction(k api.FunctionKey) error {
	return t.tx.Bucket(bucketFunctions).Delete(key(k.Namespace, k.Name))
}

func (t boltTx) Revisions() ([]*api.Revision, error) {
	return list[api.Revision](t.tx, bucketRevisions, "revision")
}

func (t boltTx) PutRevision(rev *api.Revision) error {
	return put(t.tx, bucketRevisions, key(rev.Namespace, rev.Name), rev)
}

func (t boltTx) DeleteRevision(k api.RevisionKey) error {
	return t.tx.Bucket(bucketRevisions).Delete(key(k.Namespace, k.Name))
}

func (t boltTx) Triggers() ([]*api.Trigger, error) {
	return list[api.Trigger](t.tx, bucketTriggers, "trigger")
}

func (t boltTx) PutTrigger(tr *api.Trigger) error {
	return put(t.tx, bucketTriggers, key(tr.Namespace, tr.Name), tr)
}

// DeleteTrigger deletes the trigger and its cron record, so a trigger
// applied again later under the same name starts afresh.
func (t boltTx) DeleteTrigger(k api.TriggerKey) error {
	if err := t.tx.Bucket(bucketCron).Delete(key(k.Namespace, k.Name)); err != nil {
		return err
	}
	return t.tx.Bucket(bucketTriggers).Delete(key(k.Namespace, k.Name))
}
