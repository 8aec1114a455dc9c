package boltstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wakefn/wake/eventing/cron"
)

const testInterval = 10 * time.Second

// Snapshots come after a batch of changes, one for the batch, once the
// interval since the last one has passed; at most SnapshotsKept stay, the
// newest, each one checked whole and holding what the store held.
func TestSnapshotsAfterChangeBatches(t *testing.T) {
	dir := t.TempDir()
	clk := newTimerClock()
	o, snaps := recordSnapshots(Options{Clock: clk, SnapshotInterval: testInterval, SnapshotsKept: 3})
	s := mustOpen(t, filepath.Join(dir, "wake.db"), o)
	if r := next(t, snaps); r.err != nil || r.path == "" {
		t.Fatalf("snapshot at start: %+v", r)
	}
	var taken []string
	for batch := 1; batch <= 5; batch++ {
		fill(t, s, (batch-1)*20, batch*20) // 20 functions, in one transaction
		fill(t, s, 1000+batch, 1000+batch+1)
		if err := s.CronRecords().Save("default/tick", cron.Record{}); err != nil {
			t.Fatal(err)
		}
		if wait := <-clk.timers; wait != testInterval {
			t.Fatalf("batch %d: the snapshotter waits %v, want %v since the last snapshot", batch, wait, testInterval)
		}
		select {
		case r := <-snaps:
			t.Fatalf("batch %d: a snapshot before the interval passed: %+v", batch, r)
		default:
		}
		clk.Step(testInterval)
		r := next(t, snaps)
		if r.err != nil || r.path == "" {
			t.Fatalf("batch %d: %+v, want a snapshot", batch, r)
		}
		c, err := CheckFile(r.path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Functions != batch*21 || c.CronRecords != 1 {
			t.Errorf("batch %d: the snapshot holds %d functions, %d cron records, want %d and 1", batch, c.Functions, c.CronRecords, batch*21)
		}
		taken = append(taken, r.path)
	}
	select {
	case r := <-snaps:
		t.Fatalf("a snapshot with no change since the last: %+v", r)
	default:
	}
	kept, err := Snapshots(filepath.Join(dir, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 3 {
		t.Fatalf("%d snapshots kept, want 3: %v", len(kept), kept)
	}
	for i, k := range kept {
		if want := taken[len(taken)-1-i]; k.Path != want {
			t.Errorf("snapshot %d is %s, want %s (newest first)", i, k.Path, want)
		}
		if _, err := CheckFile(k.Path); err != nil {
			t.Error(err)
		}
	}
	if want := time.Date(2025, 1, 2, 15, 4, 55, 0, time.UTC); !kept[0].Time.Equal(want) {
		t.Errorf("the newest snapshot was taken at %v, want %v", kept[0].Time, want)
	}
}

// Close takes a last snapshot of changes the interval has not let through
// yet; the next Open does not take the same again.
func TestSnapshotAtCloseAndNotTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wake.db")
	clk := newTimerClock()
	o, snaps := recordSnapshots(Options{Clock: clk, SnapshotInterval: testInterval})
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	next(t, snaps)
	fill(t, s, 0, 7)
	<-clk.timers // waiting for the interval
	clk.Step(time.Second)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	latest, c, ok := LatestGoodSnapshot(SnapshotDir(path))
	if !ok || c.Functions != 7 {
		t.Fatalf("after Close, the latest snapshot %v holds %d functions, want 7", latest, c.Functions)
	}

	s = mustOpen(t, path, o)
	if r := next(t, snaps); r.path != "" || r.err != nil {
		t.Errorf("at start, with the store as the newest snapshot has it: %+v, want none taken", r)
	}
	s.Close()
	if all, _ := Snapshots(SnapshotDir(path)); len(all) != 2 {
		t.Errorf("%d snapshots, want 2 (the empty store's at start, and Close's)", len(all))
	}
}

// A snapshot is checked before it counts: damage in the live file (here
// written under bbolt's feet) is not copied into a snapshot that a
// restore would trust, and the snapshots before it stay.
func TestSnapshotOfDamagedStoreDoesNotCount(t *testing.T) {
	path := writeStore(t, storeSize)
	before, _ := Snapshots(SnapshotDir(path))
	clk := newTimerClock()
	o, snaps := recordSnapshots(Options{Clock: clk, SnapshotInterval: testInterval})
	s := mustOpen(t, path, o)
	if r := next(t, snaps); r.path != "" {
		t.Fatalf("a snapshot at start of the store as Close's snapshot has it: %+v", r)
	}
	fill(t, s, storeSize, storeSize+1)
	<-clk.timers
	l, _ := walk(t, path)
	writeAt(t, path, int64(l.meta.root*uint64(l.meta.pageSize)), make([]byte, pageHeaderSize))
	clk.Step(testInterval)
	r := next(t, snaps)
	if !errors.Is(r.err, ErrDamaged) || r.path != "" {
		t.Fatalf("snapshot of a damaged store: %+v, want it refused as damaged", r)
	}
	after, _ := Snapshots(SnapshotDir(path))
	if len(after) != len(before) || after[0] != before[0] {
		t.Errorf("snapshots %v, want them as they were: %v", after, before)
	}
	temps, _ := filepath.Glob(filepath.Join(SnapshotDir(path), snapshotTemp))
	if len(temps) != 0 {
		t.Errorf("the refused snapshot was left behind: %v", temps)
	}
}

// Snapshots lists only snapshot files, newest first.
func TestSnapshotsListing(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"wake-20250102T150405.000Z.db", "wake-20250102T150406.500Z.db", "wake-notatime.db",
		".wake-123.db.tmp", "other.db", "wake-20250101T000000.000Z.db"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Snapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"wake-20250102T150406.500Z.db", "wake-20250102T150405.000Z.db", "wake-20250101T000000.000Z.db"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if filepath.Base(got[i].Path) != want[i] {
			t.Errorf("snapshot %d: %s, want %s", i, got[i].Path, want[i])
		}
	}
	if none, err := Snapshots(filepath.Join(dir, "missing")); none != nil || err != nil {
		t.Errorf("a directory not there: %v, %v; want none", none, err)
	}
}

// A newest snapshot that no longer checks does not stand in for the
// store: the snapshot at start is taken.
func TestSnapshotAtStartWhenNewestIsDamaged(t *testing.T) {
	path := writeStore(t, 3)
	all, _ := Snapshots(SnapshotDir(path))
	os.Truncate(all[0].Path, 4096)
	clk := newTimerClock()
	clk.Step(time.Hour) // a name of its own
	o, snaps := recordSnapshots(Options{Clock: clk})
	mustOpen(t, path, o)
	r := next(t, snaps)
	if r.err != nil || r.path == "" {
		t.Fatalf("at start: %+v, want a snapshot", r)
	}
	if c, err := CheckFile(r.path); err != nil || c.Functions != 3 {
		t.Errorf("the snapshot at start: %+v, %v; want 3 functions", c, err)
	}
}
