package boltstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/cron"
)

// ErrDamaged says a store file is damaged: Open will not start over it,
// and a snapshot that is damaged is not restored. Errors that match it
// are *DamagedError, which says what was found.
var ErrDamaged = errors.New("damaged")

// DamagedError says what is wrong with a store file.
type DamagedError struct {
	Path string // the file
	Err  error  // what was found, e.g. "the file is empty: 0 bytes"
}

func (e *DamagedError) Error() string        { return fmt.Sprintf("%s is damaged (%v)", e.Path, e.Err) }
func (e *DamagedError) Unwrap() error        { return e.Err }
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// Contents counts what a store file holds; the checks return it.
type Contents struct {
	Functions, Revisions, Triggers, CronRecords int
	// TxID is the last transaction committed to the file.
	TxID uint64
}

// CheckFile checks the store file at path without changing it, as Open
// checks the store (see verifyFile and checkDB), and says what it holds. A
// damaged file gives a *DamagedError; so does one of whose two meta pages
// one is not valid, which Open tolerates in a live store but which a copy
// written at once has no excuse for. It is how snapshots are checked
// before they count, and before --restore-from copies one into place.
func CheckFile(path string) (Contents, error) {
	f, err := os.Open(path)
	if err != nil {
		return Contents{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return Contents{}, err
	}
	l, err := verifyFile(f, st.Size())
	if err == nil && l.badMeta != "" {
		err = errors.New(l.badMeta)
	}
	if err != nil {
		f.Close()
		return Contents{}, &DamagedError{Path: path, Err: err}
	}
	db, err := openBolt(path, f, &bolt.Options{ReadOnly: true})
	if err != nil {
		return Contents{}, boltOpenError(path, err)
	}
	defer db.Close()
	c, err := checkDB(db)
	if err != nil {
		return c, &DamagedError{Path: path, Err: err}
	}
	return c, nil
}

// openBolt opens the bbolt file at path through f, which the caller has
// open (and, to write, locked) and which bbolt owns from here on: the
// verified file is the one bbolt maps, and bbolt's own lock on the same
// descriptor is granted at once.
func openBolt(path string, f *os.File, o *bolt.Options) (*bolt.DB, error) {
	opts := *o
	opts.Timeout = time.Second
	opts.OpenFile = func(string, int, os.FileMode) (*os.File, error) { return f, nil }
	var db *bolt.DB
	err := protect(func() (err error) {
		db, err = bolt.Open(path, 0o600, &opts)
		return err
	})
	if err != nil {
		f.Close() // bbolt closed it on its own errors (a second Close is harmless), not after a panic
	}
	return db, err
}

// checkDB runs bbolt's consistency check over the whole file and decodes
// every document, in one read transaction.
func checkDB(db *bolt.DB) (Contents, error) {
	var c Contents
	err := protect(func() error {
		return db.View(func(tx *bolt.Tx) error {
			if err := boltCheck(tx); err != nil {
				return err
			}
			var err error
			c, err = decodeAll(tx)
			return err
		})
	})
	return c, err
}

// boltCheck runs tx.Check and returns its first complaint, counting the
// rest. Check walks in a goroutine of its own, recovering its panics as
// complaints; verifyFile has made sure its reads stay in the file.
func boltCheck(tx *bolt.Tx) error {
	var first error
	more := 0
	for err := range tx.Check() { // drained to the end: Check's goroutine blocks on each send
		if first == nil {
			first = err
		} else {
			more++
		}
	}
	if first != nil && more > 0 {
		return fmt.Errorf("bbolt's check: %w (and %d more)", first, more)
	}
	if first != nil {
		return fmt.Errorf("bbolt's check: %w", first)
	}
	return nil
}

// decodeAll decodes every document of wake's buckets into its type. A
// bucket not there yet is empty: Open creates the missing ones.
func decodeAll(tx *bolt.Tx) (Contents, error) {
	c := Contents{TxID: uint64(tx.ID())}
	kinds := []struct {
		bucket []byte
		what   string
		count  *int
		fresh  func() any
	}{
		{bucketFunctions, "function", &c.Functions, func() any { return new(api.Function) }},
		{bucketRevisions, "revision", &c.Revisions, func() any { return new(api.Revision) }},
		{bucketTriggers, "trigger", &c.Triggers, func() any { return new(api.Trigger) }},
		{bucketCron, "cron record", &c.CronRecords, func() any { return new(cron.Record) }},
	}
	for _, k := range kinds {
		b := tx.Bucket(k.bucket)
		if b == nil {
			continue
		}
		err := b.ForEach(func(key, v []byte) error {
			if v == nil {
				return fmt.Errorf("%s %s is a bucket, not a document", k.what, key)
			}
			if err := json.Unmarshal(v, k.fresh()); err != nil {
				return fmt.Errorf("%s %q does not decode: %w", k.what, key, err)
			}
			*k.count++
			return nil
		})
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// protect runs fn, which calls into bbolt, and turns a panic, or a fault
// reading bbolt's memory map, into an error. verifyFile leaves bbolt
// little to panic on; this catches what it does not look at (and bbolt's
// own assertions), so that whatever is in the file, the caller gets an
// error and not a stack trace.
func protect(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &bboltPanic{r}
		}
	}()
	return fn()
}

// bboltPanic is a panic of bbolt's, or a fault in its memory map, caught
// by protect.
type bboltPanic struct{ v any }

func (p *bboltPanic) Error() string { return fmt.Sprintf("bbolt failed reading it: %v", p.v) }
