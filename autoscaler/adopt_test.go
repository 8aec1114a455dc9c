package autoscaler

import (
	"testing"
	"time"
)

// A new leader in Kubernetes mode finds revisions running: it must take
// them as they are, not scale them to min-scale, and bring them down only
// when the load it then observes says so.
func TestAdoptedInstancesAreKept(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.act.set(keyA, Sample{Concurrency: 150, InFlight: 150, Ready: 3})
	h.a.Upsert(revA, UpsertOptions{Current: 3})
	h.flush()
	h.advance(10 * time.Second)
	h.wantCalls() // 3 running, 3 wanted: nothing to apply
	if st, _ := h.a.Status(keyA, false); st.Desired != 3 {
		t.Errorf("desired %d after adopting 3 under load, want 3", st.Desired)
	}
	// The load goes: the usual window and grace bring it down.
	h.act.set(keyA, Sample{})
	h.advance(3 * time.Minute)
	if got := h.scaler.last(keyA); got != 0 {
		t.Errorf("count %d minutes after the load ended, want 0; calls %v", got, h.scaler.got())
	}
}

// Without samples (no gateway reports) nothing is decided: zeros would
// read as an idle revision and scale a loaded one down.
func TestNoDataKeepsTheCount(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.act.set(keyA, Sample{NoData: true})
	h.a.Upsert(revA, UpsertOptions{Current: 2})
	h.flush()
	h.advance(5 * time.Minute)
	h.wantCalls()
	if st, _ := h.a.Status(keyA, false); st.Desired != 2 {
		t.Errorf("desired %d after 5 minutes without data, want the 2 adopted", st.Desired)
	}
}
