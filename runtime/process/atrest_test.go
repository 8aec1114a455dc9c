package process

import (
	"context"
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/wakefn/wake/runtime"
)

// A revision at rest (deployed, at zero, nothing to retry) costs no
// goroutine: a thousand of them leave the count where it was, and one
// scaled up and back down again returns to it too.
func TestRevisionsAtRestCostNoGoroutine(t *testing.T) {
	e := newEnv(t, Options{})
	settle := func() int {
		goruntime.GC()
		return goruntime.NumGoroutine()
	}
	// One revision runs an instance first, so that the goroutines the
	// runtime keeps for its whole life (the spawner, the probe client's
	// connections) exist before the count is taken.
	warm := testRevision("warm-00001")
	e.deploy(t, warm, 1)
	e.rec.waitFor(t, "one ready", readyN(1))
	e.scale(t, warm.Key(), 0)
	e.rec.waitFor(t, "back at zero", func(s runtime.State) bool { return len(s.Ready) == 0 && s.Starting == 0 })
	var base int
	eventually(t, "the warm revision's instance goroutines to return", func() bool {
		base = settle()
		e.rt.mu.Lock()
		defer e.rt.mu.Unlock()
		return e.rt.revs[warm.Key()].restingForTest()
	})

	const n = 1000
	for i := range n {
		rev := testRevision(fmt.Sprintf("rest%d-00001", i))
		e.deploy(t, rev, 0) // Scale(0) pokes: the loop runs once and returns
	}
	eventually(t, "a thousand revisions at rest to cost no goroutine", func() bool {
		return settle() <= base
	})
	if got := settle(); got > base+5 {
		t.Fatalf("%d revisions at rest: %d goroutines, %d before", n, got, base)
	}
}

// restingForTest reports that no loop runs and no instance goroutine is
// left: the revision costs no goroutine.
func (r *revision) restingForTest() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loopMu.Lock()
	defer r.loopMu.Unlock()
	return !r.looping && r.running == 0
}

// A retired revision is forgotten but keeps its logs; Deploy brings it
// back and it starts again. One with an instance is not retired.
func TestRetireKeepsLogsAndDeployBringsItBack(t *testing.T) {
	e := newEnv(t, Options{})
	rev := testRevision("ret-00001")
	e.deploy(t, rev, 1)
	e.rec.waitFor(t, "one ready", readyN(1))
	if e.rt.Retire(rev.Key()) {
		t.Fatal("a revision with an instance was retired")
	}
	e.scale(t, rev.Key(), 0)
	eventually(t, "the instance gone and the revision retired", func() bool { return e.rt.Retire(rev.Key()) })
	e.rt.mu.Lock()
	_, known := e.rt.revs[rev.Key()]
	e.rt.mu.Unlock()
	if known {
		t.Fatal("a retired revision is still kept")
	}
	var logs strings.Builder
	if err := e.rt.Logs(context.Background(), rev.Key(), runtime.LogOptions{}, &logs); err != nil || !strings.Contains(logs.String(), "listening") {
		t.Fatalf("the retired revision's logs: %v %q", err, logs.String())
	}
	e.deploy(t, rev, 1)
	e.rec.waitFor(t, "ready again after Deploy", readyN(1))
}
