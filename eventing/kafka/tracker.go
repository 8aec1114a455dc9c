package kafka

import "sort"

// tracker follows the records of one partition from fetch to commit: which
// offsets were handed out (in offset order) and which are done (delivered
// or dead-lettered). next is the committable offset: one past the last
// record of the contiguous done prefix. Marking a record done is O(1) when
// it is the oldest (always, with partition ordering) and O(log n)
// otherwise. Not safe for concurrent use; the partition's mutex guards it.
type tracker struct {
	entries []trackEntry
	head    int   // entries[:head] are done and forgotten
	next    int64 // -1 until a record is done
	epoch   int32 // leader epoch of the record before next
}

type trackEntry struct {
	offset int64
	epoch  int32
	done   bool
}

func newTracker() tracker { return tracker{next: -1, epoch: -1} }

// add records a fetched record; offsets must increase.
func (t *tracker) add(offset int64, epoch int32) {
	t.entries = append(t.entries, trackEntry{offset: offset, epoch: epoch})
}

// done marks offset done and advances next over the done prefix. It
// reports false for an offset it does not hold.
func (t *tracker) done(offset int64) bool {
	pending := t.entries[t.head:]
	i := 0
	if len(pending) == 0 || pending[0].offset != offset {
		i = sort.Search(len(pending), func(i int) bool { return pending[i].offset >= offset })
		if i == len(pending) || pending[i].offset != offset {
			return false
		}
	}
	pending[i].done = true
	for t.head < len(t.entries) && t.entries[t.head].done {
		e := t.entries[t.head]
		t.next, t.epoch = e.offset+1, e.epoch
		t.head++
	}
	switch {
	case t.head == len(t.entries):
		t.entries, t.head = t.entries[:0], 0
	case t.head >= 1024 && t.head > len(t.entries)/2:
		n := copy(t.entries, t.entries[t.head:])
		t.entries, t.head = t.entries[:n], 0
	}
	return true
}

// outstanding is how many records were added and are not yet in the done
// prefix.
func (t *tracker) outstanding() int { return len(t.entries) - t.head }

// position is the oldest offset not yet done, or -1 when unknown (nothing
// fetched, nothing done).
func (t *tracker) position() int64 {
	if t.head < len(t.entries) {
		return t.entries[t.head].offset
	}
	return t.next
}
