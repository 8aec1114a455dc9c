package controlplane

import (
	"bytes"
	"testing"

	api "github.com/wakefn/wake/api/v1"
)

func TestCheckedManifestsAreTakenOnceAndBounded(t *testing.T) {
	var m checkedManifests
	docs := []*api.Document{{Source: "a.yaml"}}
	m.put("a.yaml", []byte("x"), docs)
	if _, ok := m.take("b.yaml", []byte("x")); ok {
		t.Error("another source took a.yaml's documents")
	}
	if _, ok := m.take("a.yaml", []byte("y")); ok {
		t.Error("other bytes took a.yaml's documents")
	}
	if got, ok := m.take("a.yaml", []byte("x")); !ok || got[0] != docs[0] {
		t.Error("the same manifest did not get its documents")
	}
	if _, ok := m.take("a.yaml", []byte("x")); ok {
		t.Error("taken twice")
	}

	big := bytes.Repeat([]byte("a"), checkedBytes/2)
	m.put("1", big, docs)
	m.put("2", big, docs)
	m.put("3", big, docs) // forgets 1
	if _, ok := m.take("1", big); ok {
		t.Error("the oldest was kept past the bound")
	}
	if _, ok := m.take("3", big); !ok {
		t.Error("the newest was forgotten")
	}
	if m.bytes != len(big) {
		t.Errorf("%d bytes remembered, want %d", m.bytes, len(big))
	}
}

// TestCheckedManifestsOrderStaysBounded: a dry run never followed by its
// apply (a directory with a bad file) stays remembered, and the applies
// after it do not grow what is kept.
func TestCheckedManifestsOrderStaysBounded(t *testing.T) {
	var m checkedManifests
	docs := []*api.Document{{Source: "bad.yaml"}}
	m.put("bad.yaml", []byte("never applied"), docs)
	for i := range 10000 {
		body := []byte{byte(i), byte(i >> 8)}
		m.put("good.yaml", body, docs)
		if _, ok := m.take("good.yaml", body); !ok {
			t.Fatalf("apply %d did not get its documents", i)
		}
	}
	if len(m.order) > 20 || len(m.docs) != 1 {
		t.Errorf("after 10,000 applies: %d keys in order, %d entries; want the one left and few keys", len(m.order), len(m.docs))
	}
}
