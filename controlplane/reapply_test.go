package controlplane_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wakefn/wake/controlplane"
)

// countingStore counts the read-write transactions it runs.
type countingStore struct {
	controlplane.Store
	updates atomic.Int64
}

func (s *countingStore) Update(fn func(controlplane.Tx) error) error {
	s.updates.Add(1)
	return s.Store.Update(fn)
}

func TestReapplyingUnchangedFunctionsWritesNothing(t *testing.T) {
	store := &countingStore{Store: openStore(t, t.TempDir())}
	cp, _, _ := newPlaneOn(t, store)
	batch := strings.Join([]string{functionManifest("default", "a", "hi"), functionManifest("default", "b", "hi")}, "---\n")
	if n := applyManifests(t, cp, []string{batch}); n != 0 {
		t.Fatalf("first apply: %d unchanged", n)
	}
	before := cp.Functions("default")
	writes := store.updates.Load()

	if n := applyManifests(t, cp, []string{batch}); n != 2 {
		t.Errorf("again: %d unchanged, want 2", n)
	}
	if got := store.updates.Load() - writes; got != 0 {
		t.Errorf("an unchanged apply ran %d write transactions, want none", got)
	}
	if diff := cmp.Diff(before, cp.Functions("default")); diff != "" {
		t.Errorf("functions changed (-before +after):\n%s", diff)
	}

	// One changed among unchanged ones: one transaction, and the
	// unchanged function keeps its generation.
	changed := strings.Join([]string{functionManifest("default", "a", "hi"), functionManifest("default", "b", "hola")}, "---\n")
	if n := applyManifests(t, cp, []string{changed}); n != 1 {
		t.Errorf("one changed: %d unchanged, want 1", n)
	}
	if got := store.updates.Load() - writes; got != 1 {
		t.Errorf("%d write transactions, want 1", got)
	}
	after := cp.Functions("default")
	if after[0].Generation != 1 || after[1].Generation != 2 {
		t.Errorf("generations a=%d b=%d, want 1 and 2", after[0].Generation, after[1].Generation)
	}
}
