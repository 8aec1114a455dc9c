package cron

import (
	"sync"
	"time"
)

// Record is what a Store keeps for one trigger.
type Record struct {
	// Done: every scheduled time at or before Done is settled: its callback
	// returned, or a policy skipped it.
	Done time.Time
	// Started is the latest scheduled time whose callback was started. If it
	// is after Done, callbacks may have been cut off by a crash, and a
	// restart fires them again.
	Started time.Time
}

// Store persists a Record per trigger name. The Scheduler calls it with its
// lock held, twice per fire (before the callback and after it), so it
// should be quick; errors are logged and the fire goes on.
type Store interface {
	// Load returns the trigger's record; ok is false if none was saved.
	Load(name string) (r Record, ok bool, err error)
	// Save replaces the trigger's record.
	Save(name string, r Record) error
}

// MemoryStore is a Store in memory, for tests and single-process setups
// where a restart may forget. Its zero value is ready to use.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]Record
}

var _ Store = (*MemoryStore)(nil)

// Load implements Store.
func (m *MemoryStore) Load(name string) (Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.m[name]
	return r, ok, nil
}

// Save implements Store.
func (m *MemoryStore) Save(name string, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[string]Record)
	}
	m.m[name] = r
	return nil
}
