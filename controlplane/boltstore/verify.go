package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// verifyFile checks the structure of the bbolt file r (size bytes long)
// by reading it, before bbolt is let near it.
//
// bbolt cannot be trusted with a damaged file: it reads pages through
// unsafe pointers into its memory map, so a garbage page id or element
// offset makes it read outside the map. That is a fault, not a panic: it
// kills the process whatever recover() is in place (SetPanicOnFault is per
// goroutine, and tx.Check walks in a goroutine of its own). A page linked
// in a loop sends its recursive walks down until the stack overflows,
// which is fatal too. Measured on a store of 1,200 documents with 48
// random bytes written into one page header, bbolt's Check died of a
// segmentation fault in 5 of 35 cases and was still walking after 20 s in
// 10 more.
//
// So verifyFile walks what bbolt would walk, with bounds checks and
// nothing but the file's bytes: both meta pages (magic, version, checksum,
// as bbolt's Meta.Validate), the size the current one implies, the
// freelist (which must be in the file), and every page of every bucket from the root (ids in range,
// each page's header naming itself, types, element offsets inside their
// page, keys in order, each page used once, none both used and free), and
// finally that every page is either used or free, as bbolt's Check. Once
// it passes, bbolt's own Check and reads stay inside the file.
//
// It reads each page once; memory is two bits a page.
func verifyFile(r io.ReaderAt, size int64) (layout, error) {
	if size == 0 {
		return layout{}, errors.New("the file is empty: 0 bytes")
	}
	l, err := readMetas(r, size)
	if err != nil {
		return l, err
	}
	ps := uint64(l.meta.pageSize)
	if l.meta.hwm > uint64(size)/ps {
		return l, fmt.Errorf("the file is cut short: it is %d bytes, and its last transaction (%d) needs %d (%d pages of %d bytes)",
			size, l.meta.txid, l.meta.hwm*ps, l.meta.hwm, ps)
	}
	if l.meta.freelist == noFreelist {
		// wake never writes such a store, and bbolt would rebuild the
		// freelist with a walk in a goroutine of its own, whose panics
		// nothing can catch.
		return l, errors.New("its meta page says the freelist is not in the file, and wake always writes it")
	}
	w := &walker{r: r, pageSize: ps, hwm: l.meta.hwm, used: make([]bool, l.meta.hwm), free: make([]bool, l.meta.hwm)}
	w.used[0], w.used[1] = true, true // the meta pages
	if err := w.freelist(l.meta.freelist); err != nil {
		return l, err
	}
	if err := w.tree(l.meta.root, 0, "the root bucket"); err != nil {
		return l, err
	}
	for id := uint64(2); id < l.meta.hwm; id++ {
		if !w.used[id] && !w.free[id] {
			return l, fmt.Errorf("page %d is neither in use nor free", id)
		}
	}
	return l, nil
}

// layout is what verifyFile found in a sound file.
type layout struct {
	meta meta // the meta page bbolt reads: the valid one with the higher txid
	// badMeta, when not empty, says that the other meta page is not valid
	// and why. bbolt keeps two so that one can be lost; see Open.
	badMeta string
}

// readMetas reads both meta pages and chooses the one bbolt would. Like
// bbolt, it finds meta page 1 one page size (from page 0, else the OS
// page size) into the file.
func readMetas(r io.ReaderAt, size int64) (layout, error) {
	m0, err0 := readMeta(r, size, 0)
	off1 := int64(os.Getpagesize())
	if err0 == nil {
		off1 = int64(m0.pageSize)
	}
	m1, err1 := readMeta(r, size, off1)
	switch {
	case err0 != nil && err1 != nil:
		if size < 2*int64(os.Getpagesize()) {
			return layout{}, fmt.Errorf("the file is cut short: it is %d bytes, less than the two meta pages a bbolt file starts with (%d bytes)",
				size, 2*os.Getpagesize())
		}
		return layout{}, fmt.Errorf("neither meta page is valid (page 0: %v; page 1: %v)", err0, err1)
	case err0 != nil:
		return layout{meta: m1, badMeta: fmt.Sprintf("meta page 0: %v", err0)}, nil
	case err1 != nil:
		return layout{meta: m0, badMeta: fmt.Sprintf("meta page 1: %v", err1)}, nil
	case m0.pageSize != m1.pageSize:
		return layout{}, fmt.Errorf("the meta pages disagree on the page size (%d and %d bytes)", m0.pageSize, m1.pageSize)
	case m1.txid > m0.txid:
		return layout{meta: m1}, nil
	}
	return layout{meta: m0}, nil
}

func readMeta(r io.ReaderAt, size, off int64) (meta, error) {
	n := int64(pageHeaderSize + metaSize)
	if off+n > size {
		return meta{}, fmt.Errorf("missing: the file ends at byte %d", size)
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil {
		return meta{}, err
	}
	return parseMeta(b[pageHeaderSize:])
}

// maxDepth bounds how deep buckets and their B+trees may nest. wake's
// store is a root bucket of four buckets, each a tree a few levels deep;
// bbolt's trees of 2^32 pages, fanout at least 2, are at most 32 deep.
const maxDepth = 64

// walker follows a bbolt file's pages.
type walker struct {
	r        io.ReaderAt
	pageSize uint64
	hwm      uint64
	used     []bool // reached from the meta page, by page id
	free     []bool // listed by the freelist
}

// read returns the header of page id and the bytes of the page with its
// overflow pages, after checking it is inside the file and names itself.
// from says what pointed at it.
func (w *walker) read(id uint64, from string) (pageHeader, []byte, error) {
	if id < 2 || id >= w.hwm {
		return pageHeader{}, nil, fmt.Errorf("%s points at page %d, outside the file's pages 2 to %d", from, id, w.hwm-1)
	}
	b := make([]byte, w.pageSize)
	if _, err := w.r.ReadAt(b, int64(id*w.pageSize)); err != nil {
		return pageHeader{}, nil, fmt.Errorf("reading page %d: %w", id, err)
	}
	h := parsePageHeader(b)
	if h.id != id {
		return h, nil, fmt.Errorf("page %d, reached from %s, says it is page %d", id, from, h.id)
	}
	if uint64(h.overflow) >= w.hwm-id {
		return h, nil, fmt.Errorf("page %d says it runs on over %d more pages, past the last page (%d)", id, h.overflow, w.hwm-1)
	}
	for i := uint64(0); i <= uint64(h.overflow); i++ {
		if w.used[id+i] {
			return h, nil, fmt.Errorf("page %d, reached from %s, is already in use elsewhere", id+i, from)
		}
		if w.free[id+i] {
			return h, nil, fmt.Errorf("page %d, reached from %s, is listed as free", id+i, from)
		}
		w.used[id+i] = true
	}
	if h.overflow > 0 {
		b = append(b, make([]byte, uint64(h.overflow)*w.pageSize)...)
		if _, err := w.r.ReadAt(b[w.pageSize:], int64((id+1)*w.pageSize)); err != nil {
			return h, nil, fmt.Errorf("reading page %d: %w", id, err)
		}
	}
	return h, b, nil
}

// freelist marks the pages the freelist page at id lists as free.
func (w *walker) freelist(id uint64) error {
	h, b, err := w.read(id, "the meta page's freelist")
	if err != nil {
		return err
	}
	if h.flags != flagFreelist {
		return fmt.Errorf("the freelist, page %d, is a %s page", id, pageType(h.flags))
	}
	start, count := uint64(pageHeaderSize), uint64(h.count)
	if count == 0xFFFF { // more than fit in the header: the count is the first id
		count = order.Uint64(b[start:])
		start += 8
	}
	if count > (uint64(len(b))-start)/8 {
		return fmt.Errorf("the freelist, page %d, lists %d pages, more than it can hold", id, count)
	}
	for i := range count {
		f := order.Uint64(b[start+8*i:])
		switch {
		case f < 2 || f >= w.hwm:
			return fmt.Errorf("the freelist lists page %d, outside the file's pages 2 to %d", f, w.hwm-1)
		case w.free[f]:
			return fmt.Errorf("the freelist lists page %d twice", f)
		case w.used[f]:
			return fmt.Errorf("the freelist lists page %d, which holds the freelist", f)
		}
		w.free[f] = true
	}
	return nil
}

// tree checks the B+tree whose root is page id, and the buckets in it.
func (w *walker) tree(id uint64, depth int, from string) error {
	if depth > maxDepth {
		return fmt.Errorf("buckets and pages nest over %d deep at page %d", maxDepth, id)
	}
	h, b, err := w.read(id, from)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("%s page %d", pageType(h.flags), id)
	switch h.flags {
	case flagLeaf:
		return w.leaf(b, h.count, where, depth)
	case flagBranch:
		if h.count == 0 {
			return fmt.Errorf("%s has no elements", where)
		}
		var prev []byte
		for i := range int(h.count) {
			at := pageHeaderSize + i*elementSize
			if at+elementSize > len(b) {
				return fmt.Errorf("%s says it has %d elements, more than fit in it", where, h.count)
			}
			pos, ksize, child := order.Uint32(b[at:]), order.Uint32(b[at+4:]), order.Uint64(b[at+8:])
			key, err := span(b, at, pos, uint64(ksize))
			if err != nil {
				return fmt.Errorf("%s, element %d: %w", where, i, err)
			}
			if i > 0 && bytes.Compare(prev, key) >= 0 {
				return fmt.Errorf("%s: keys out of order at element %d", where, i)
			}
			prev = key
			if err := w.tree(child, depth+1, where); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("page %d, reached from %s, is a %s page where a branch or leaf page belongs", id, from, pageType(h.flags))
}

// leaf checks the count elements of the leaf page b, and follows the
// buckets among them: a bucket's value is its header, then either its
// root page's id or, for a small bucket, the page itself, inline.
func (w *walker) leaf(b []byte, count uint16, where string, depth int) error {
	var prev []byte
	for i := range int(count) {
		at := pageHeaderSize + i*elementSize
		if at+elementSize > len(b) {
			return fmt.Errorf("%s says it has %d elements, more than fit in it", where, count)
		}
		flags, pos, ksize, vsize := order.Uint32(b[at:]), order.Uint32(b[at+4:]), order.Uint32(b[at+8:]), order.Uint32(b[at+12:])
		if flags&^leafFlagBucket != 0 {
			return fmt.Errorf("%s, element %d: unknown flags %#x", where, i, flags)
		}
		kv, err := span(b, at, pos, uint64(ksize)+uint64(vsize))
		if err != nil {
			return fmt.Errorf("%s, element %d: %w", where, i, err)
		}
		key, value := kv[:ksize], kv[ksize:]
		if i > 0 && bytes.Compare(prev, key) >= 0 {
			return fmt.Errorf("%s: keys out of order at element %d", where, i)
		}
		prev = key
		if flags&leafFlagBucket == 0 {
			continue
		}
		bucket := fmt.Sprintf("bucket %q (in %s)", key, where)
		if len(value) < bucketHeaderSize {
			return fmt.Errorf("%s: its header is cut short", bucket)
		}
		root := order.Uint64(value)
		if root != 0 {
			if err := w.tree(root, depth+1, bucket); err != nil {
				return err
			}
			continue
		}
		inline := value[bucketHeaderSize:]
		if len(inline) < pageHeaderSize {
			return fmt.Errorf("%s: its inline page is cut short", bucket)
		}
		ih := parsePageHeader(inline)
		if ih.flags != flagLeaf {
			return fmt.Errorf("%s: its inline page is a %s page, not a leaf", bucket, pageType(ih.flags))
		}
		if depth+1 > maxDepth {
			return fmt.Errorf("buckets nest over %d deep in %s", maxDepth, where)
		}
		if err := w.leaf(inline, ih.count, bucket+"'s inline page", depth+1); err != nil {
			return err
		}
	}
	return nil
}

// span returns the n bytes that start pos bytes after the element at
// offset at of page b, as bbolt finds an element's key and value.
func span(b []byte, at int, pos uint32, n uint64) ([]byte, error) {
	start := uint64(at) + uint64(pos)
	end := start + n
	if end > uint64(len(b)) {
		return nil, fmt.Errorf("it runs past its page (bytes %d to %d of %d)", start, end, len(b))
	}
	return b[start:end], nil
}
