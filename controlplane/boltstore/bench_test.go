package boltstore

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wakefn/wake/controlplane"
)

// benchSize is the functions in the stores the benchmarks use, each with
// a revision.
const benchSize = 1000

// BenchmarkSnapshot: one snapshot of a store of 1,000 functions: the copy
// in a read transaction, fsync, the check, the rename.
func BenchmarkSnapshot(b *testing.B) {
	path := writeStore(b, benchSize)
	o, snaps := recordSnapshots(Options{SnapshotDir: b.TempDir(), SnapshotsKept: 2})
	s := mustOpen(b, path, o)
	next(b, snaps) // the loop's snapshot at start; it then waits for changes
	for b.Loop() {
		s.snap.newest = snapshotState{} // take it again
		if _, err := s.snap.take(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck: the check Open makes of a store of 1,000 functions
// (and each snapshot gets).
func BenchmarkCheck(b *testing.B) {
	path := writeStore(b, benchSize)
	for b.Loop() {
		if _, err := CheckFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate: an apply's write to a store of 1,000 functions:
// through bbolt alone; through Store.Update, snapshots at the default
// interval; and through Store.Update while snapshots are taken without
// pause (an interval of a nanosecond), the worst case, where each write
// competes with a snapshot's copy, fsync and check.
func BenchmarkUpdate(b *testing.B) {
	fn := testFunction(1)
	b.Run("bbolt", func(b *testing.B) {
		path := writeStore(b, benchSize)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		for b.Loop() {
			if err := db.Update(func(tx *bolt.Tx) error { return boltTx{tx}.PutFunction(fn) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{{"store", 0}, {"store-snapshotting-nonstop", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			path := writeStore(b, benchSize)
			s := mustOpen(b, path, Options{SnapshotDir: b.TempDir(), SnapshotInterval: tc.interval, SnapshotsKept: 2})
			for b.Loop() {
				if err := s.Update(func(tx controlplane.Tx) error { return tx.PutFunction(fn) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
