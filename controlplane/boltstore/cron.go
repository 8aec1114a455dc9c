package boltstore

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/wakefn/wake/eventing/cron"
)

// CronRecords returns the store of cron fire records, kept in the same
// file as the triggers; names are the triggers' "namespace/name".
func (s *Store) CronRecords() cron.Store { return cronStore{s} }

type cronStore struct{ s *Store }

func (c cronStore) Load(name string) (cron.Record, bool, error) {
	var r cron.Record
	var ok bool
	err := c.s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCron).Get([]byte(name))
		if v == nil {
			return nil
		}
		ok = true
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("cron record of %s: %w", name, err)
		}
		return nil
	})
	return r, ok, err
}

// Save writes the record with bbolt's fsync: a fire marked started must
// survive a crash, or a restart would not repeat it. It is a change like
// any other: the next snapshot has it.
func (c cronStore) Save(name string, r cron.Record) error {
	return c.s.update(func(tx *bolt.Tx) error { return put(tx, bucketCron, []byte(name), r) })
}
