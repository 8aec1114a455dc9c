package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
)

// bbolt v1.5's file format, as its internal/common package lays it out.
// bbolt writes its structs to disk as they are in memory, so the integers
// are in the machine's byte order. TestLayoutMatchesBbolt reads a store
// with these and compares what it found with what bbolt reports.
const (
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	metaSize         = 64 // magic, version, page size, flags u32; root bucket (root page, sequence) u64; freelist, high water mark, txid, checksum u64
	metaChecksumAt   = 56 // the checksum is FNV-64a over the meta's bytes before it
	elementSize      = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeaderSize = 16 // a bucket's value: root page u64 (0: inline), sequence u64

	boltMagic   = 0xED0CDAED
	boltVersion = 2

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10

	leafFlagBucket = 0x01

	noFreelist = ^uint64(0) // bbolt's PgidNoFreelist: the freelist is not on disk

	// A page size outside these bounds is not one bbolt would have
	// written (it uses the OS page size), so a meta page claiming one is
	// damaged even with a good checksum.
	minPageSize = 512
	maxPageSize = 1 << 20
)

var order = binary.NativeEndian

// meta is what a bbolt meta page says about the file.
type meta struct {
	pageSize uint32
	root     uint64 // the root bucket's page
	freelist uint64
	hwm      uint64 // high water mark: pages [0, hwm) are in use or free
	txid     uint64
}

// Why a meta page is not valid, in bbolt's order of checks.
var (
	errBadMagic    = errors.New("not a bbolt meta page (wrong magic number)")
	errBadVersion  = errors.New("unknown bbolt format version")
	errBadChecksum = errors.New("checksum mismatch")
)

// parseMeta decodes the meta at b, which starts after the page header, and
// validates it as bbolt's Meta.Validate does (magic, version, checksum),
// plus a page size bbolt could have chosen.
func parseMeta(b []byte) (meta, error) {
	if len(b) < metaSize {
		return meta{}, fmt.Errorf("cut short: %d of its %d bytes are in the file", len(b), metaSize)
	}
	if order.Uint32(b[0:]) != boltMagic {
		return meta{}, errBadMagic
	}
	if v := order.Uint32(b[4:]); v != boltVersion {
		return meta{}, fmt.Errorf("%w %d, want %d", errBadVersion, v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:metaChecksumAt])
	if order.Uint64(b[metaChecksumAt:]) != h.Sum64() {
		return meta{}, errBadChecksum
	}
	m := meta{
		pageSize: order.Uint32(b[8:]),
		root:     order.Uint64(b[16:]),
		freelist: order.Uint64(b[32:]),
		hwm:      order.Uint64(b[40:]),
		txid:     order.Uint64(b[48:]),
	}
	if m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0 {
		return meta{}, fmt.Errorf("page size %d is not a power of two in [%d, %d]", m.pageSize, minPageSize, maxPageSize)
	}
	return m, nil
}

// pageHeader is the start of every page but an overflow page's
// continuation.
type pageHeader struct {
	id       uint64
	flags    uint16
	count    uint16
	overflow uint32
}

func parsePageHeader(b []byte) pageHeader {
	return pageHeader{
		id:       order.Uint64(b[0:]),
		flags:    order.Uint16(b[8:]),
		count:    order.Uint16(b[10:]),
		overflow: order.Uint32(b[12:]),
	}
}

func pageType(flags uint16) string {
	switch flags {
	case flagBranch:
		return "branch"
	case flagLeaf:
		return "leaf"
	case flagMeta:
		return "meta"
	case flagFreelist:
		return "freelist"
	}
	return fmt.Sprintf("unknown (flags %#x)", flags)
}
