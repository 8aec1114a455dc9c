package boltstore

import (
	"bytes"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// storeSize is the functions in the stores these tests damage: enough
// for branch pages, overflow pages and a freelist with pages on it.
const storeSize = 300

// A store that was never damaged opens with all it held.
func TestOpenGoodStore(t *testing.T) {
	path := writeStore(t, storeSize)
	s := mustOpen(t, path, Options{})
	if n := countFunctions(t, s); n != storeSize {
		t.Errorf("opened with %d functions, want %d", n, storeSize)
	}
}

// A new store is created whole under another name and linked into place:
// nothing else is left in its directory.
func TestOpenCreatesStore(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, filepath.Join(dir, "wake.db"), Options{})
	if n := countFunctions(t, s); n != 0 {
		t.Errorf("a new store has %d functions", n)
	}
	s.Close()
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "snapshots wake.db" {
		t.Errorf("the directory holds %v, want the store and its snapshots", names)
	}
}

// goodStore writes a store of storeSize functions to damage, and returns
// its path, its bytes and its layout.
func goodStore(t *testing.T) (path string, b []byte, l layout, w *walker) {
	t.Helper()
	path = writeStore(t, storeSize)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, w = walk(t, path)
	return path, b, l, w
}

// A damaged store is refused with a DamagedError that names the file and
// says what was found, and the file is left as it was: never opened
// empty, never a panic.
func TestOpenRefusesDamagedStore(t *testing.T) {
	good, goodBytes, l, _ := goodStore(t)
	ps := int64(l.meta.pageSize)
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"truncated to 0", func(t *testing.T, p string) { os.Truncate(p, 0) }, "the file is empty"},
		{"truncated to 100 bytes", func(t *testing.T, p string) { os.Truncate(p, 100) }, "cut short"},
		{"truncated to 8 KiB", func(t *testing.T, p string) { os.Truncate(p, 8<<10) }, "cut short"},
		{"truncated to half", func(t *testing.T, p string) { os.Truncate(p, int64(len(goodBytes)/2)) }, "cut short"},
		{"random bytes in both meta pages", func(t *testing.T, p string) {
			r := rand.New(rand.NewPCG(1, 2))
			writeRandom(t, p, pageHeaderSize, metaSize, r)
			writeRandom(t, p, ps+pageHeaderSize, metaSize, r)
		}, "neither meta page is valid"},
		{"zeroes over both meta pages", func(t *testing.T, p string) { writeAt(t, p, 0, make([]byte, 2*ps)) }, "neither meta page is valid"},
		{"meta pages, checksums and all, saying the freelist is not in the file", func(t *testing.T, p string) {
			for page := range int64(2) {
				b := make([]byte, metaSize)
				f, _ := os.Open(p)
				f.ReadAt(b, page*ps+pageHeaderSize)
				f.Close()
				order.PutUint64(b[32:], noFreelist)
				h := fnv.New64a()
				h.Write(b[:metaChecksumAt])
				order.PutUint64(b[metaChecksumAt:], h.Sum64())
				writeAt(t, p, page*ps+pageHeaderSize, b)
			}
		}, "the freelist is not in the file"},
		{"the root page's header overwritten", func(t *testing.T, p string) {
			writeRandom(t, p, int64(l.meta.root)*ps, pageHeaderSize, rand.New(rand.NewPCG(3, 4)))
		}, "page"},
		{"the freelist page's type changed", func(t *testing.T, p string) {
			writeAt(t, p, int64(l.meta.freelist)*ps+8, []byte{flagLeaf, 0})
		}, "the freelist"},
		{"a branch page's child pointing past the end", func(t *testing.T, p string) {
			at := firstBranch(t, p)
			writeAt(t, p, at+pageHeaderSize+8, order.AppendUint64(nil, l.meta.hwm+1000))
		}, "outside the file's pages"},
		{"a branch page's child pointing at itself", func(t *testing.T, p string) {
			at := firstBranch(t, p)
			writeAt(t, p, at+pageHeaderSize+8, order.AppendUint64(nil, uint64(at/ps)))
		}, "already in use"},
		{"a leaf's key offset pointing far past its page", func(t *testing.T, p string) {
			at := firstPage(t, p, flagLeaf)
			writeAt(t, p, at+pageHeaderSize+4, order.AppendUint32(nil, 0x7fff0000))
		}, "runs past its page"},
		{"a document's JSON damaged", func(t *testing.T, p string) {
			writeAt(t, p, inUse(t, p, []byte(`"name":"fn-0042"`)), []byte(`"name":{fn-0042"`))
		}, "does not decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wake.db")
			copyFile(t, good, path)
			tc.damage(t, path)
			before, _ := os.ReadFile(path)
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("a damaged store opened")
			}
			var d *DamagedError
			if !errors.As(err, &d) || !errors.Is(err, ErrDamaged) || d.Path != path {
				t.Fatalf("got %v (%T), want a DamagedError for %s", err, err, path)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), path+" is damaged (") {
				t.Errorf("got %q, want it to name the file and say %q", err, tc.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("the refused file was changed")
			}
			if _, err := CheckFile(path); !errors.Is(err, ErrDamaged) {
				t.Errorf("CheckFile: %v, want ErrDamaged", err)
			}
		})
	}
}

// firstBranch returns the offset of a branch page of the store at path.
func firstBranch(t *testing.T, path string) int64 { return firstPage(t, path, flagBranch) }

// firstPage returns the offset of the first page in use of type flags.
func firstPage(t *testing.T, path string, flags uint16) int64 {
	t.Helper()
	l, w := walk(t, path)
	b, _ := os.ReadFile(path)
	ps := uint64(l.meta.pageSize)
	for id := uint64(2); id < l.meta.hwm; id++ {
		if w.used[id] && parsePageHeader(b[id*ps:]).id == id && parsePageHeader(b[id*ps:]).flags == flags {
			return int64(id * ps)
		}
	}
	t.Fatalf("no %s page in %s", pageType(flags), path)
	return 0
}

// inUse returns the offset of text in a page of the store that is in use
// (copies of old versions linger in free pages).
func inUse(t *testing.T, path string, text []byte) int64 {
	t.Helper()
	l, w := walk(t, path)
	b, _ := os.ReadFile(path)
	for at := 0; ; {
		i := bytes.Index(b[at:], text)
		if i < 0 {
			t.Fatalf("%q is in no page in use", text)
		}
		if w.used[uint64(at+i)/uint64(l.meta.pageSize)] {
			return int64(at + i)
		}
		at += i + 1
	}
}

// Random bytes over the header of any page in use are caught.
func TestOpenRefusesEveryDamagedPageHeader(t *testing.T) {
	good, _, l, w := goodStore(t)
	ps := int64(l.meta.pageSize)
	r := rand.New(rand.NewPCG(5, 6))
	path := filepath.Join(t.TempDir(), "wake.db")
	checked := 0
	for id := int64(2); id < int64(l.meta.hwm); id++ {
		b, _ := os.ReadFile(good)
		if !w.used[id] || parsePageHeader(b[id*ps:]).id != uint64(id) {
			continue // free, or an overflow page's continuation
		}
		copyFile(t, good, path)
		writeRandom(t, path, id*ps, pageHeaderSize, r)
		if s, err := Open(path, Options{}); !errors.Is(err, ErrDamaged) {
			if s != nil {
				s.Close()
			}
			t.Errorf("random bytes over page %d's header: Open = %v, want ErrDamaged", id, err)
		}
		checked++
	}
	t.Logf("%d page headers damaged one at a time, each refused", checked)
}

// Random bytes anywhere in the data pages: the store is refused, or (the
// bytes fell in unused space, or made a document's text still valid
// JSON) it opens whole; never a panic, a fault or a hang. Before
// verifyFile, bbolt died of a segmentation fault on some of these.
func TestOpenSurvivesRandomDataPageDamage(t *testing.T) {
	good, goodBytes, l, _ := goodStore(t)
	ps := int64(l.meta.pageSize)
	hwm := int64(l.meta.hwm)
	r := rand.New(rand.NewPCG(7, 8))
	path := filepath.Join(t.TempDir(), "wake.db")
	o := Options{SnapshotDir: t.TempDir()}
	refused, opened := 0, 0
	for i := 0; i < 150; i++ {
		copyFile(t, good, path)
		// Half the time at the start of a page, where headers and element
		// tables are; else anywhere in it.
		page := 2 + r.Int64N(hwm-2)
		off := page * ps
		if i%2 == 1 {
			off += r.Int64N(ps - 64)
		} else {
			off += r.Int64N(64)
		}
		writeRandom(t, path, off, 1+r.IntN(64), r)
		s, err := Open(path, o)
		switch {
		case errors.Is(err, ErrDamaged):
			refused++
		case err != nil:
			t.Fatalf("damage at byte %d: %v, want ErrDamaged or a store", off, err)
		default:
			opened++
			if n := countFunctions(t, s); n != storeSize {
				t.Errorf("damage at byte %d: opened with %d functions, want %d", off, n, storeSize)
			}
			s.Close()
		}
	}
	t.Logf("150 random damages to %d bytes of data pages: %d refused, %d opened whole (the bytes fell where nothing reads, or left a document valid JSON)", len(goodBytes)-int(2*ps), refused, opened)
	if refused == 0 {
		t.Error("no damage was refused")
	}
}

// bbolt keeps two meta pages so that one can be lost: with the current
// one damaged, the store opens at the transaction before, with a warning
// that says so; with the other one damaged, nothing is lost.
func TestOpenWithOneMetaPageDamaged(t *testing.T) {
	good := writeStore(t, storeSize)
	// One more transaction, so that the one before holds every function.
	s := mustOpen(t, good, Options{})
	fill(t, s, storeSize, storeSize+1)
	s.Close()
	l, _ := walk(t, good)
	current := int64(l.meta.txid % 2) // bbolt writes transaction n's meta to page n%2
	ps := int64(l.meta.pageSize)
	for _, tc := range []struct {
		name string
		page int64
		want int
	}{
		{"the current one", current, storeSize},
		{"the previous one", 1 - current, storeSize + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wake.db")
			copyFile(t, good, path)
			// Past the magic number and version, as a bit flipped there would.
			writeRandom(t, path, tc.page*ps+pageHeaderSize+16, 32, rand.New(rand.NewPCG(9, 10)))
			if _, err := CheckFile(path); !errors.Is(err, ErrDamaged) {
				t.Errorf("CheckFile of a copy with a bad meta page: %v, want ErrDamaged", err)
			}
			core, logs := observer.New(zapcore.WarnLevel)
			s := mustOpen(t, path, Options{Logger: zap.New(core)})
			if n := countFunctions(t, s); n != tc.want {
				t.Errorf("opened with %d functions, want %d", n, tc.want)
			}
			warned := logs.FilterMessageSnippet("meta pages is damaged").All()
			if len(warned) != 1 || !strings.Contains(warned[0].ContextMap()["found"].(string), "checksum mismatch") {
				t.Errorf("warnings %v, want one that a meta page is damaged", logs.All())
			}
			// The next commit rewrites the bad page.
			fill(t, s, storeSize+1, storeSize+2)
			s.Close()
			if _, err := CheckFile(path); err != nil {
				t.Errorf("after a commit: %v", err)
			}
		})
	}
}
