package controlplane

import (
	"crypto/sha256"
	"sync"

	api "github.com/wakefn/wake/api/v1"
)

// checkedManifests remembers the documents of manifests that a dry run
// found sound, by the hash of their source and bytes, for the apply that
// follows. wake apply checks every file (dryRun) before it applies any,
// so each file was decoded twice; decoding 500 functions takes ~30 ms,
// a third of a no-op re-apply of 10,000. Decoding depends on the source
// name and bytes alone, and the documents are only read afterwards (a
// check copies what it defaults), so the apply may use the dry run's.
//
// At most checkedBytes of manifests are remembered (their documents take
// some times that), the oldest forgotten first; an apply takes its entry
// out.
type checkedManifests struct {
	mu    sync.Mutex
	docs  map[[32]byte]checkedEntry
	order [][32]byte // oldest first; may name entries taken since
	bytes int
}

type checkedEntry struct {
	docs []*api.Document
	size int
}

// checkedBytes bounds the manifest bytes remembered: a re-apply of 10,000
// functions in 20 files is 2.4 MB.
const checkedBytes = 8 << 20

func checkedKey(source string, body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write(body)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (m *checkedManifests) put(source string, body []byte, docs []*api.Document) {
	if len(body) > checkedBytes {
		return
	}
	k := checkedKey(source, body)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.docs == nil {
		m.docs = map[[32]byte]checkedEntry{}
	}
	if _, ok := m.docs[k]; ok {
		return
	}
	for m.bytes+len(body) > checkedBytes && len(m.order) > 0 {
		old := m.order[0]
		m.order = m.order[1:]
		if e, ok := m.docs[old]; ok {
			m.bytes -= e.size
			delete(m.docs, old)
		}
	}
	m.docs[k] = checkedEntry{docs: docs, size: len(body)}
	m.order = append(m.order, k)
	m.bytes += len(body)
}

// take returns, and forgets, the documents a dry run decoded from source
// and body.
func (m *checkedManifests) take(source string, body []byte) ([]*api.Document, bool) {
	k := checkedKey(source, body)
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.docs[k]
	if !ok {
		return nil, false
	}
	delete(m.docs, k)
	m.bytes -= e.size
	if len(m.order) > 2*len(m.docs)+16 {
		// Forget the keys of entries taken, so that a dry run never
		// followed by its apply does not let order grow with every apply
		// after it.
		live := m.order[:0]
		for _, o := range m.order {
			if _, ok := m.docs[o]; ok {
				live = append(live, o)
			}
		}
		m.order = live
	}
	return e.docs, true
}
