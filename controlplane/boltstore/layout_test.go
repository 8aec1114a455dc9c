package boltstore

import (
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// What verifyFile reads of the file agrees with what bbolt reports of it:
// the transaction, the page size and the pages' number, and for every
// page whether it is free or in use.
func TestLayoutMatchesBbolt(t *testing.T) {
	path := writeStore(t, storeSize)
	s := mustOpen(t, path, Options{})
	// Write some again, so that the freelist has pages on it.
	fill(t, s, 0, 50)
	s.Close()
	l, w := walk(t, path)

	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if uint64(tx.ID()) != l.meta.txid || db.Info().PageSize != int(l.meta.pageSize) || tx.Size() != int64(l.meta.hwm)*int64(l.meta.pageSize) {
			t.Errorf("verifyFile read txid %d, page size %d, %d pages; bbolt says %d, %d, %d bytes",
				l.meta.txid, l.meta.pageSize, l.meta.hwm, tx.ID(), db.Info().PageSize, tx.Size())
		}
		free := 0
		for id := 2; id < int(l.meta.hwm); {
			p, err := tx.Page(id)
			if err != nil {
				return err
			}
			if p.Type == "free" {
				free++
				if !w.free[id] {
					t.Errorf("page %d: bbolt says free, verifyFile did not find it on the freelist", id)
				}
				id++
				continue
			}
			for i := id; i <= id+p.OverflowCount; i++ {
				if !w.used[i] {
					t.Errorf("page %d: bbolt says %s, verifyFile did not reach it", i, p.Type)
				}
			}
			id += 1 + p.OverflowCount
		}
		if free == 0 {
			t.Error("no free pages to compare")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() < int64(l.meta.hwm)*int64(l.meta.pageSize) {
		t.Errorf("the file is %d bytes, shorter than its pages", st.Size())
	}
}
