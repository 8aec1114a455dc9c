package boltstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"
	"k8s.io/utils/clock"
)

// Defaults of Options.
const (
	// DefaultSnapshotInterval bounds what damage to the store can lose:
	// the changes since the newest snapshot, at most 10 s of them. A
	// snapshot of 1,000 functions is 30 to 50 ms of background work on
	// two cores, most of it decoding every document to check it
	// (BenchmarkSnapshot), so under changes that never stop, snapshots
	// cost under 0.5% of a core.
	DefaultSnapshotInterval = 10 * time.Second
	// DefaultSnapshotsKept is how many snapshots stay: the newest is what
	// a restore wants; the four before it are there for damage that the
	// checks cannot see (a document changed, but still valid JSON) and
	// that later snapshots copied. Five copies of the store is the disk
	// it costs.
	DefaultSnapshotsKept = 5
)

// Options configure Open. The zero value is usable.
type Options struct {
	// SnapshotDir is where rolling snapshots go. "" means SnapshotDir(path).
	SnapshotDir string
	// SnapshotInterval is the least time between two snapshots: changes
	// within it go into the next one. 0 means DefaultSnapshotInterval.
	SnapshotInterval time.Duration
	// SnapshotsKept is how many snapshots stay, the newest; older ones are
	// removed. 0 means DefaultSnapshotsKept.
	SnapshotsKept int
	// Clock times snapshots. nil means the real clock.
	Clock Clock
	// Logger hears of the check at start, of snapshots, and of a meta page
	// lost (see Open). nil means no logs.
	Logger *zap.Logger

	// afterSnapshot, for tests, hears of each snapshot the background
	// loop tried: its path ("" when the store had not changed), or why
	// it failed.
	afterSnapshot func(path string, err error)
}

// Clock is the time the snapshots need: k8s.io/utils/clock.RealClock and
// its testing.FakeClock satisfy it.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) clock.Timer
}

// SnapshotDir is where the snapshots of the store at path go by default:
// "snapshots" beside it.
func SnapshotDir(path string) string { return filepath.Join(filepath.Dir(path), "snapshots") }

// Open opens the store at path, or creates it there if no file is there.
// It fails with ErrLocked within a second when another process has it
// open.
//
// An existing file is checked whole before the store opens (25 to 45 ms
// for 1,000 functions, BenchmarkCheck): its structure, read with bounds
// checks before bbolt maps it (verifyFile), then bbolt's own consistency
// check and the decoding of every document (checkDB), with bbolt's panics
// turned into errors. A file that fails gives a *DamagedError and is left
// as it was: wake does not start over damaged data, and never from an
// empty store over a file that held some.
//
// bbolt keeps two meta pages so that one can be lost, and reads the valid
// one with the higher transaction id. When only one is valid and the
// check of the rest passes, the store opens, with a warning: refusing
// would trade a store that checked whole for a snapshot that is older.
// The next commit rewrites the bad page.
//
// Once open, the store writes a snapshot in the background (see
// snapshotter): at once, then after changes, at most every
// SnapshotInterval, and when it closes.
func Open(path string, o Options) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if err := createIfMissing(path); err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	start := time.Now()
	f, err := lockFile(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	l, err := verifyFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, &DamagedError{Path: path, Err: err}
	}
	if l.badMeta != "" {
		log.Warn("one of the store's two meta pages is damaged; bbolt reads the other, and the rest of the file checked whole",
			zap.String("file", path), zap.String("found", l.badMeta), zap.Uint64("txid", l.meta.txid))
	}
	db, err := openBolt(path, f, &bolt.Options{})
	if err != nil {
		return nil, boltOpenError(path, err)
	}
	c, err := checkDB(db)
	if err != nil {
		db.Close()
		return nil, &DamagedError{Path: path, Err: err}
	}
	if err := createBuckets(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("initializing %s: %w", path, err)
	}
	log.Info("store checked", zap.String("file", path), zap.Int("functions", c.Functions), zap.Int("revisions", c.Revisions),
		zap.Int("triggers", c.Triggers), zap.Int64("bytes", st.Size()), zap.Duration("took", time.Since(start)))
	s := &Store{db: db, snap: newSnapshotter(db, path, o, log)}
	go s.snap.run()
	return s, nil
}

// boltOpenError says what bbolt's Open failing over a file that verifyFile
// passed means: another process's lock is ErrLocked; a panic, or bbolt finding the format wrong, is damage that
// verifyFile does not look for; anything else (memory, I/O) is not.
func boltOpenError(path string, err error) error {
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("opening %s: %w", path, ErrLocked)
	}
	var p *bboltPanic
	if errors.As(err, &p) || errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrVersionMismatch) || errors.Is(err, bolterrors.ErrChecksum) {
		return &DamagedError{Path: path, Err: err}
	}
	return fmt.Errorf("opening %s: %w", path, err)
}

// createIfMissing creates a new, empty store at path if no file is there.
// It is built under a temporary name and linked into place whole, so a
// file at path was always a complete store: one found empty, or shorter
// than its pages, is damage and never a store that was being created.
// (bbolt alone creates the file, then writes its first pages: a crash
// between the two would leave an empty file that looks like damage.)
func createIfMissing(path string) error {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return err // there (nil), or not knowable
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	db, err := bolt.Open(tmp.Name(), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	err = createBuckets(db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// A link, not a rename, fails if another wake serve created the store
	// in the meantime, rather than replace the one it has open. On a file
	// system without hard links, a rename is the best there is.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		if err := os.Rename(tmp.Name(), path); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// createBuckets creates the buckets a store has that are not there (a
// store of an older wake may lack one). It commits only if one is
// missing: every commit is a new state to snapshot.
func createBuckets(db *bolt.DB) error {
	all := [][]byte{bucketFunctions, bucketRevisions, bucketTriggers, bucketCron}
	missing := false
	db.View(func(tx *bolt.Tx) error {
		for _, b := range all {
			missing = missing || tx.Bucket(b) == nil
		}
		return nil
	})
	if !missing {
		return nil
	}
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range all {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// lockFile opens the store's file for bbolt and takes bbolt's lock on it
// (flock, exclusive) first, so that what is checked is what bbolt then
// opens, with no other wake serve writing in between. It waits up to a
// second for another process to let go, then fails with ErrLocked.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Second)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				err = ErrLocked
			}
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
