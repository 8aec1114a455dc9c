// Package boltstore is the embedded store of wake serve: functions,
// revisions and triggers as JSON documents in a bbolt file under the state
// directory, and the cron triggers' fire records. bbolt locks its file, so
// one wake serve owns a state directory and the CLI always goes through
// the admin API.
//
// The store cannot vanish silently: Open checks the whole file before it
// lets bbolt use it and refuses a damaged one with a *DamagedError,
// rolling snapshots are written in the background after changes, each
// checked before it counts, and Restore puts one back.
package boltstore

import (
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

var (
	bucketFunctions = []byte("functions")
	bucketRevisions = []byte("revisions")
	bucketTriggers  = []byte("triggers")
	bucketCron      = []byte("cron")
)

// Store is a controlplane.Store in a bbolt file, with rolling snapshots
// of it (see Open).
type Store struct {
	db   *bolt.DB
	snap *snapshotter
}

var _ controlplane.Store = (*Store)(nil)

// ErrLocked says another process holds the state file.
var ErrLocked = errors.New("the state directory is in use by another wake serve")

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(controlplane.Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Update runs fn in a read-write transaction.
func (s *Store) Update(fn func(controlplane.Tx) error) error {
	return s.update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// update is the one way in for writes, so that a committed change always
// reaches the snapshotter: one non-blocking channel send on top of the
// commit's fsync.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	err := s.db.Update(fn)
	if err == nil {
		s.snap.changed()
	}
	return err
}

// Close takes a last snapshot if the store changed since the newest one,
// then releases the file. A second Close is harmless.
func (s *Store) Close() error {
	s.snap.close()
	return s.db.Close()
}

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
