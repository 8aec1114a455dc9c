package boltstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"k8s.io/utils/clock"
)

// Snapshot files are named after the time they were taken, in UTC, so
// that their names sort as their times: wake-20250102T150405.123Z.db.
const (
	snapshotPrefix = "wake-"
	snapshotSuffix = ".db"
	snapshotTime   = "20060102T150405.000Z"
	snapshotTemp   = ".wake-*.db.tmp" // being written; not a snapshot yet
)

// Snapshot is one snapshot file of the store.
type Snapshot struct {
	Path string
	Time time.Time // when it was taken
}

// Snapshots lists the snapshots in dir, newest first. A directory that is
// not there has none.
func Snapshots(dir string) ([]Snapshot, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	for _, e := range entries {
		name := e.Name()
		stamp, ok := strings.CutPrefix(name, snapshotPrefix)
		stamp, ok2 := strings.CutSuffix(stamp, snapshotSuffix)
		if !ok || !ok2 || !e.Type().IsRegular() {
			continue
		}
		t, err := time.Parse(snapshotTime, stamp)
		if err != nil {
			continue
		}
		out = append(out, Snapshot{Path: filepath.Join(dir, name), Time: t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

// LatestGoodSnapshot returns the newest snapshot in dir that passes
// CheckFile, and what it holds; ok is false when there is none.
func LatestGoodSnapshot(dir string) (s Snapshot, c Contents, ok bool) {
	all, _ := Snapshots(dir)
	for _, s := range all {
		if c, err := CheckFile(s.Path); err == nil {
			return s, c, true
		}
	}
	return Snapshot{}, Contents{}, false
}

// snapshotter writes the store's rolling snapshots in a goroutine of its
// own, so that neither the data plane nor an apply waits for one: a
// commit only marks the store changed (a send on a channel of one, which
// also coalesces changes). After a change, the loop waits until
// SnapshotInterval has passed since the last snapshot, then takes one;
// changes during the wait go into it. It takes one at start, and Close
// takes the last.
//
// A snapshot is bbolt's consistent copy (tx.WriteTo) from a read
// transaction, which writers do not wait for (bbolt readers block only a
// commit that must grow the memory map), written to a temporary file,
// fsynced, checked by CheckFile like the store itself, and only then
// renamed into place, so a snapshot that is there is whole and checked.
// Then all but the newest SnapshotsKept are removed. A snapshot of the
// same state as the newest one (same transaction and size; at start, only
// if that one checks) is not taken again, so restarts and a Close after a
// quiet spell do not push older snapshots out with copies.
type snapshotter struct {
	db    *bolt.DB
	dir   string
	every time.Duration
	keep  int
	clock Clock
	log   *zap.Logger
	after func(string, error)

	changes   chan struct{} // a change not in a snapshot yet
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// newest is the state of the newest snapshot; only the loop, then
	// close once the loop has ended, touch it.
	newest snapshotState
}

// snapshotState tells snapshots of different states apart: bbolt numbers
// commits, and a store's size only grows. Two stores (one restored, or
// started empty) with the same number and size would have to coincide
// exactly, and the cost of that is one snapshot skipped until the next
// change.
type snapshotState struct {
	txid uint64
	size int64
}

func newSnapshotter(db *bolt.DB, path string, o Options, log *zap.Logger) *snapshotter {
	s := &snapshotter{
		db: db, dir: o.SnapshotDir, every: o.SnapshotInterval, keep: o.SnapshotsKept, clock: o.Clock,
		log: log.Named("snapshots"), after: o.afterSnapshot,
		changes: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if s.dir == "" {
		s.dir = SnapshotDir(path)
	}
	if s.every <= 0 {
		s.every = DefaultSnapshotInterval
	}
	if s.keep <= 0 {
		s.keep = DefaultSnapshotsKept
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	if s.after == nil {
		s.after = func(string, error) {}
	}
	// Temporary files are left only by a crash while writing one.
	stale, _ := filepath.Glob(filepath.Join(s.dir, snapshotTemp))
	for _, f := range stale {
		os.Remove(f)
	}
	s.changes <- struct{}{} // the snapshot at start
	return s
}

// fileState reads the state of the snapshot at path from its meta pages.
func fileState(path string) snapshotState {
	f, err := os.Open(path)
	if err != nil {
		return snapshotState{}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return snapshotState{}
	}
	l, err := readMetas(f, st.Size())
	if err != nil {
		return snapshotState{}
	}
	return snapshotState{txid: l.meta.txid, size: int64(l.meta.hwm) * int64(l.meta.pageSize)}
}

// changed marks the store changed. It never blocks.
func (s *snapshotter) changed() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

func (s *snapshotter) run() {
	defer close(s.done)
	// The newest snapshot, if it checks, need not be taken again.
	if all, _ := Snapshots(s.dir); len(all) > 0 {
		if _, err := CheckFile(all[0].Path); err == nil {
			s.newest = fileState(all[0].Path)
		}
	}
	var last time.Time
	for {
		select {
		case <-s.changes:
		case <-s.stop:
			return
		}
		if !last.IsZero() {
			if wait := s.every - s.clock.Now().Sub(last); wait > 0 {
				t := s.clock.NewTimer(wait)
				select {
				case <-t.C():
				case <-s.stop:
					t.Stop()
					return
				}
			}
		}
		last = s.clock.Now()
		path, err := s.take()
		if err != nil {
			s.log.Error("snapshot failed; the store keeps working, and the next change tries again",
				zap.String("dir", s.dir), zap.Error(err))
		}
		s.after(path, err)
	}
}

// close stops the loop and takes the last snapshot.
func (s *snapshotter) close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		if _, err := s.take(); err != nil {
			s.log.Error("last snapshot failed", zap.String("dir", s.dir), zap.Error(err))
		}
	})
}

// take writes a snapshot and returns its path, or "" when the store is
// as the newest snapshot has it.
func (s *snapshotter) take() (string, error) {
	select {
	case <-s.changes: // this snapshot has it
	default:
	}
	start := time.Now()
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return "", err
	}
	var (
		tmp   *os.File
		state snapshotState
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		state = snapshotState{txid: uint64(tx.ID()), size: tx.Size()}
		if state == s.newest {
			return nil
		}
		var err error
		if tmp, err = os.CreateTemp(s.dir, snapshotTemp); err != nil {
			return err
		}
		_, err = tx.WriteTo(tmp)
		return err
	})
	if tmp == nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing there
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("writing a snapshot: %w", err)
	}
	c, err := CheckFile(tmp.Name())
	if err != nil {
		return "", fmt.Errorf("the snapshot just written failed its check, so it does not count: %w", err)
	}
	path := filepath.Join(s.dir, snapshotPrefix+s.clock.Now().UTC().Format(snapshotTime)+snapshotSuffix)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	if err := syncDir(s.dir); err != nil {
		return "", err
	}
	s.newest = state
	s.prune()
	s.log.Info("snapshot written", zap.String("file", path), zap.Int("functions", c.Functions),
		zap.Int64("bytes", state.size), zap.Duration("took", time.Since(start)))
	return path, nil
}

// prune removes all but the newest snapshots.
func (s *snapshotter) prune() {
	all, err := Snapshots(s.dir)
	if err != nil {
		return
	}
	for _, old := range all[min(s.keep, len(all)):] {
		if err := os.Remove(old.Path); err != nil {
			s.log.Warn("removing an old snapshot", zap.String("file", old.Path), zap.Error(err))
		}
	}
}
