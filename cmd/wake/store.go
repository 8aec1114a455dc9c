package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/wakefn/wake/controlplane/boltstore"
)

// storeFlags are wake serve's flags about its store.
type storeFlags struct {
	restoreFrom string
}

func (s *storeFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&s.restoreFrom, "restore-from", "", fmt.Sprintf(
		"start from this snapshot of the store (one of STATE_DIR/snapshots/wake-TIME.db, written after changes, at most every %v, "+
			"and at stop; the newest %d are kept): the snapshot is checked, STATE_DIR/wake.db is kept as wake.db.damaged-TIME, "+
			"never deleted, and a copy of the snapshot takes its place",
		boltstore.DefaultSnapshotInterval, boltstore.DefaultSnapshotsKept))
}

// openStore opens the store of wake serve in stateDir, after restoring
// it from the --restore-from snapshot if one is named. A damaged store is
// refused with one message that names the file, what was found, and how
// to recover.
func openStore(stateDir string, s storeFlags, log *zap.Logger) (*boltstore.Store, error) {
	path := filepath.Join(stateDir, "wake.db")
	if s.restoreFrom != "" {
		r, err := boltstore.Restore(path, s.restoreFrom, time.Now())
		if err != nil {
			return nil, fmt.Errorf("--restore-from: %w", err)
		}
		kept := ""
		if r.Aside != "" {
			kept = "; what was there is kept as " + r.Aside
		}
		fmt.Fprintf(os.Stderr, "wake: restored %s from %s (%s, %s)%s\n",
			path, s.restoreFrom, nounCount(r.Contents.Functions, "function"), nounCount(r.Contents.Triggers, "trigger"), kept)
	}
	store, err := boltstore.Open(path, boltstore.Options{Logger: log.Named("store")})
	var damaged *boltstore.DamagedError
	if errors.As(err, &damaged) {
		return nil, errors.New(damagedAdvice(damaged, stateDir))
	}
	return store, err
}

// damagedAdvice is the message of wake serve refusing a damaged store:
// what is wrong, that it will not start over it, and the two ways on.
func damagedAdvice(d *boltstore.DamagedError, stateDir string) string {
	msg := d.Error() + "; wake serve will not start over it. "
	dirFlag := ""
	if stateDir != envOr("WAKE_STATE_DIR", defaultStateDir()) {
		dirFlag = " --state-dir " + stateDir
	}
	dir := boltstore.SnapshotDir(d.Path)
	if snap, c, ok := boltstore.LatestGoodSnapshot(dir); ok {
		return msg + fmt.Sprintf("Restore the latest snapshot (taken %s, %s) with `wake serve%s --restore-from %s`, "+
			"which keeps the damaged file aside, or move the file away to start empty",
			snap.Time.Local().Format("2006-01-02 15:04:05 MST"), nounCount(c.Functions, "function"), dirFlag, snap.Path)
	}
	return msg + fmt.Sprintf("No good snapshot is in %s to restore: move the file away to start empty, or put back a copy from a backup", dir)
}

// nounCount is "1 function", "2 functions".
func nounCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
