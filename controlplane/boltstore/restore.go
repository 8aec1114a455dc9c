package boltstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ErrSameFile says a restore was asked to copy the store onto itself.
var ErrSameFile = errors.New("that is the store itself, not a snapshot of it")

// Restored says what Restore did.
type Restored struct {
	Contents Contents // what the snapshot holds
	// Aside is where the file that was at the store's path is kept,
	// "" when there was none.
	Aside string
}

// Restore puts a copy of the snapshot at path, the store's file, for Open
// to open next. The snapshot is checked first (CheckFile: a damaged one
// gives a *DamagedError and nothing changes). What was at path is kept,
// never deleted, as path.damaged-TIME (now, in UTC): linked there before
// the copy is renamed over path, so that at every moment path holds one
// whole file, the old or the new, and a crash in between leaves no empty
// store to start over. It fails with ErrLocked while a wake serve has the
// store open.
func Restore(path, snapshot string, now time.Time) (Restored, error) {
	var r Restored
	if a, err := os.Stat(snapshot); err != nil {
		return r, err
	} else if b, err := os.Stat(path); err == nil && os.SameFile(a, b) {
		return r, fmt.Errorf("%s: %w", snapshot, ErrSameFile)
	}
	c, err := CheckFile(snapshot)
	if err != nil {
		return r, err
	}
	r.Contents = c
	dir := filepath.Dir(path)
	tmp, err := copyToTemp(snapshot, dir, filepath.Base(path)+".restoring-*")
	if err != nil {
		return r, fmt.Errorf("copying %s: %w", snapshot, err)
	}
	defer os.Remove(tmp) // after the rename, there is nothing there

	old, err := lockFile(path) // no wake serve may have it open meanwhile
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return r, fmt.Errorf("%s: %w", path, err)
	default:
		defer old.Close()
		r.Aside = asideName(path, now)
		if err := keepAside(path, r.Aside); err != nil {
			return r, fmt.Errorf("keeping %s aside: %w", path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return r, err
	}
	return r, syncDir(dir)
}

// asideName is where Restore keeps the file that was at path: a name not
// taken yet, so that restoring twice keeps both.
func asideName(path string, now time.Time) string {
	base := path + ".damaged-" + now.UTC().Format("20060102T150405Z")
	name := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
}

// keepAside makes the file at path also reachable as aside: a hard link,
// or a copy where the file system has none.
func keepAside(path, aside string) error {
	if err := os.Link(path, aside); err == nil {
		return nil
	}
	tmp, err := copyToTemp(path, filepath.Dir(path), filepath.Base(aside)+".tmp-*")
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, aside); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// copyToTemp copies src to a new file in dir, fsynced, and returns its
// name.
func copyToTemp(src, dir, pattern string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}
