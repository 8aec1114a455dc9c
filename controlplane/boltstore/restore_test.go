package boltstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var restoreTime = time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)

// A damaged store is put right from its latest snapshot: the damaged file
// is kept aside, byte for byte, and the store opens with what the
// snapshot held.
func TestRestoreFromLatestSnapshot(t *testing.T) {
	path := writeStore(t, storeSize)
	os.Truncate(path, 8<<10)
	damaged, _ := os.ReadFile(path)
	if _, err := Open(path, Options{}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of the damaged store: %v, want ErrDamaged", err)
	}
	snap, c, ok := LatestGoodSnapshot(SnapshotDir(path))
	if !ok || c.Functions != storeSize {
		t.Fatalf("latest good snapshot %v holds %d functions, want %d", snap, c.Functions, storeSize)
	}
	r, err := Restore(path, snap.Path, restoreTime)
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ".damaged-20250102T150405Z"; r.Aside != want || r.Contents.Functions != storeSize {
		t.Errorf("Restore = %+v, want the damaged file kept as %s and %d functions", r, want, storeSize)
	}
	if kept, _ := os.ReadFile(r.Aside); !bytes.Equal(kept, damaged) {
		t.Error("the file kept aside is not the damaged file")
	}
	s := mustOpen(t, path, Options{})
	if n := countFunctions(t, s); n != storeSize {
		t.Errorf("restored store has %d functions, want %d", n, storeSize)
	}
	s.Close()

	// Restoring again keeps the first file aside too.
	r2, err := Restore(path, snap.Path, restoreTime)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Aside != r.Aside+"-2" {
		t.Errorf("second restore kept the file as %s, want %s", r2.Aside, r.Aside+"-2")
	}
	if _, err := os.Stat(r.Aside); err != nil {
		t.Errorf("the first file kept aside is gone: %v", err)
	}
	entries, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "wake.db.restoring-*"))
	if len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// A damaged snapshot is refused, and nothing changes.
func TestRestoreRefusesDamagedSnapshot(t *testing.T) {
	path := writeStore(t, storeSize)
	snap, _, _ := LatestGoodSnapshot(SnapshotDir(path))
	bad := filepath.Join(t.TempDir(), "wake-20250102T150405.000Z.db")
	copyFile(t, snap.Path, bad)
	l, _ := walk(t, bad)
	writeAt(t, bad, int64(l.meta.root*uint64(l.meta.pageSize)), make([]byte, pageHeaderSize))
	before, _ := os.ReadFile(path)
	_, err := Restore(path, bad, restoreTime)
	var d *DamagedError
	if !errors.As(err, &d) || d.Path != bad {
		t.Fatalf("Restore from a damaged snapshot: %v, want a DamagedError naming it", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the store changed")
	}
	if aside, _ := filepath.Glob(path + ".*"); len(aside) != 0 {
		t.Errorf("files made beside the store: %v", aside)
	}
}

// Restore waits for no one: a store another process has open is not
// replaced under it; nor is the store restored from itself.
func TestRestoreRefusesOpenStoreAndItself(t *testing.T) {
	path := writeStore(t, 3)
	snap, _, _ := LatestGoodSnapshot(SnapshotDir(path))
	s := mustOpen(t, path, Options{})
	if _, err := Restore(path, snap.Path, restoreTime); !errors.Is(err, ErrLocked) {
		t.Errorf("Restore while the store is open: %v, want ErrLocked", err)
	}
	s.Close()
	if _, err := Restore(path, path, restoreTime); !errors.Is(err, ErrSameFile) {
		t.Errorf("Restore from the store itself: %v, want ErrSameFile", err)
	}
}

// With no store there at all, Restore puts the snapshot in place.
func TestRestoreWhereNoStoreIs(t *testing.T) {
	src := writeStore(t, 3)
	snap, _, _ := LatestGoodSnapshot(SnapshotDir(src))
	path := filepath.Join(t.TempDir(), "wake.db")
	r, err := Restore(path, snap.Path, restoreTime)
	if err != nil || r.Aside != "" {
		t.Fatalf("Restore = %+v, %v; want nothing kept aside", r, err)
	}
	if n := countFunctions(t, mustOpen(t, path, Options{})); n != 3 {
		t.Errorf("%d functions, want 3", n)
	}
}
