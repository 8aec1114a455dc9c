package activator

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

func TestBusyCountsReadyAndDrainingInstances(t *testing.T) {
	h := newHarness(t, "net/http", testRevision(0, 10, false), Options{})
	if diff := cmp.Diff([]api.RevisionKey{revKey}, h.act.Revisions()); diff != "" {
		t.Errorf("Revisions() (-want +got):\n%s", diff)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	slow := backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		hello(w, r)
	}))
	idle := backend(t, "i2", http.HandlerFunc(hello))
	check := func(when string, want []string) {
		t.Helper()
		if diff := cmp.Diff(want, h.act.Busy(revKey)); diff != "" {
			t.Errorf("Busy %s (-want +got):\n%s", when, diff)
		}
	}
	h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{slow}})
	check("with i1 ready", []string{"i1"})

	done := make(chan int)
	go func() { code, _, _ := h.get(t, context.Background(), "/"); done <- code }()
	<-started
	h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{idle}}) // i1 left but serves one
	check("while i1 serves a request after leaving", []string{"i1", "i2"})

	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("request got %d, want 200", code)
	}
	check("once i1 is idle", []string{"i2"})
	h.act.Update(revKey, runtime.State{})
	check("at zero", []string{})
	if got := h.act.Busy(api.RevisionKey{Namespace: "default", Name: "unknown"}); got != nil {
		t.Errorf("Busy of an unknown revision = %v, want nil", got)
	}
}
