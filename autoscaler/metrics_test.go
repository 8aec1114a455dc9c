package autoscaler

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	api "github.com/wakefn/wake/api/v1"
)

// gaugesOf counts the registry's series for revision name.
func (h *harness) gaugesOf(name string) int {
	h.t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "revision" && l.GetValue() == name {
					n++
				}
			}
		}
	}
	return n
}

// TestGaugesOnlyWhileActive: a revision that never wants an instance has
// no gauges; one that does has them until SeriesIdle after its last
// decision that wanted one.
func TestGaugesOnlyWhileActive(t *testing.T) {
	h := newHarness(t)
	h.run()
	idle := newRevision("idle-00001", map[string]string{api.AnnotationInitialScale: "0"})
	h.a.Upsert(idle, UpsertOptions{Initial: true})
	h.a.Upsert(revA, UpsertOptions{Initial: true}) // starts at 1
	h.flush()
	h.advance(10 * time.Second)
	if n := h.gaugesOf(idle.Name); n != 0 {
		t.Errorf("revision never wanting an instance: %d series, want none", n)
	}
	if got := testutil.ToFloat64(h.a.metrics.desired.WithLabelValues("default", "hello", revA.Name)); got != 1 {
		t.Errorf("wake_desired_instances of %s = %v, want 1", revA.Name, got)
	}

	// No load: revA goes to zero after its windows and grace.
	for deadline := h.clock.Now().Add(10 * time.Minute); ; h.advance(DefaultDecisionInterval) {
		if d, _ := h.a.Desired(keyA); d == 0 {
			break
		}
		if h.clock.Now().After(deadline) {
			t.Fatal("revA did not scale to zero")
		}
	}
	if n := h.gaugesOf(revA.Name); n == 0 {
		t.Fatal("gauges gone as the revision reached zero, want them kept (at 0) for SeriesIdle")
	}
	h.advance(SeriesIdle - 2*DefaultDecisionInterval)
	if n := h.gaugesOf(revA.Name); n == 0 {
		t.Fatalf("gauges gone %s after the revision reached zero, want them for %s", SeriesIdle-2*DefaultDecisionInterval, SeriesIdle)
	}
	h.advance(4 * DefaultDecisionInterval)
	if n := h.gaugesOf(revA.Name); n != 0 {
		t.Errorf("%s after the revision reached zero: %d series, want none", SeriesIdle+2*DefaultDecisionInterval, n)
	}

	// Woken again: the gauges come back.
	h.a.Wake(keyA)
	h.act.set(keyA, Sample{InFlight: 1})
	h.advance(DefaultDecisionInterval)
	if got := testutil.ToFloat64(h.a.metrics.desired.WithLabelValues("default", "hello", revA.Name)); got != 1 {
		t.Errorf("after a wake, wake_desired_instances = %v, want 1", got)
	}
}
