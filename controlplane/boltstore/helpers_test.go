package boltstore

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// testFunction is a function as wake stores one, about 700 bytes of JSON.
func testFunction(i int) *api.Function {
	name := fmt.Sprintf("fn-%04d", i)
	return &api.Function{
		TypeMeta: metav1.TypeMeta{APIVersion: "wake.dev/v1", Kind: "Function"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Generation: 1,
			Annotations: map[string]string{"autoscaling.knative.dev/target": "10", "autoscaling.knative.dev/max-scale": "20"}},
		Spec: api.FunctionSpec{Template: api.RevisionTemplate{Spec: api.RevisionSpec{Containers: []api.Container{{
			Command: []string{"/usr/local/bin/" + name},
			Args:    []string{"--port=8080", "--greeting=hello from " + name},
			Env:     []api.EnvVar{{Name: "MODE", Value: "production"}, {Name: "NAME", Value: name}},
		}}}}},
	}
}

// testRevision is fn's first revision.
func testRevision(fn *api.Function) *api.Revision {
	return &api.Revision{
		TypeMeta:   metav1.TypeMeta{APIVersion: "wake.dev/v1", Kind: "Revision"},
		ObjectMeta: metav1.ObjectMeta{Namespace: fn.Namespace, Name: fn.Name + "-00001", Labels: map[string]string{"wake.dev/function": fn.Name}},
		Spec:       fn.Spec.Template.Spec,
	}
}

// fill puts functions [from, to) and a revision of each into s, 100 to a
// transaction, as applies of many manifests would.
func fill(t testing.TB, s *Store, from, to int) {
	t.Helper()
	for lo := from; lo < to; lo += 100 {
		err := s.Update(func(tx controlplane.Tx) error {
			for i := lo; i < min(lo+100, to); i++ {
				fn := testFunction(i)
				if err := tx.PutFunction(fn); err != nil {
					return err
				}
				if err := tx.PutRevision(testRevision(fn)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// countFunctions returns how many functions s holds.
func countFunctions(t testing.TB, s *Store) int {
	t.Helper()
	var n int
	err := s.View(func(tx controlplane.Tx) error {
		fns, err := tx.Functions()
		n = len(fns)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeStore creates a store of n functions in a new directory, closes it
// and returns its path. Its snapshots are in SnapshotDir(path).
func writeStore(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wake.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, 0, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustOpen opens path and closes the store when the test ends.
func mustOpen(t testing.TB, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// copyFile copies src to dst, as a user's cp would.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeRandom writes n random bytes at off of the file at path.
func writeRandom(t testing.TB, path string, off int64, n int, r *rand.Rand) {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	writeAt(t, path, off, b)
}

func writeAt(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// walk runs verifyFile over the file at path and returns its layout and
// the walker's view of its pages.
func walk(t testing.TB, path string) (layout, *walker) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	l, err := verifyFile(f, st.Size())
	if err != nil {
		t.Fatalf("verifyFile(%s): %v", path, err)
	}
	w := &walker{r: f, pageSize: uint64(l.meta.pageSize), hwm: l.meta.hwm, used: make([]bool, l.meta.hwm), free: make([]bool, l.meta.hwm)}
	w.used[0], w.used[1] = true, true
	if err := w.freelist(l.meta.freelist); err != nil {
		t.Fatal(err)
	}
	if err := w.tree(l.meta.root, 0, "the root bucket"); err != nil {
		t.Fatal(err)
	}
	w.r = nil
	return l, w
}

// timerClock is a fake clock that tells the test about every timer set,
// so that the test steps time only once the snapshotter waits on it.
type timerClock struct {
	*testingclock.FakeClock
	timers chan time.Duration
}

func newTimerClock() *timerClock {
	return &timerClock{FakeClock: testingclock.NewFakeClock(time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)), timers: make(chan time.Duration, 1)}
}

func (c *timerClock) NewTimer(d time.Duration) clock.Timer {
	tm := c.FakeClock.NewTimer(d)
	c.timers <- d
	return tm
}

// snapshotResult is what Options.afterSnapshot heard.
type snapshotResult struct {
	path string
	err  error
}

// recordSnapshots returns options that report each background snapshot
// on the channel returned.
func recordSnapshots(o Options) (Options, chan snapshotResult) {
	ch := make(chan snapshotResult, 16)
	o.afterSnapshot = func(p string, err error) { ch <- snapshotResult{p, err} }
	return o, ch
}

// next waits for the snapshotter's next attempt.
func next(t testing.TB, ch chan snapshotResult) snapshotResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no snapshot attempt within 30s")
		return snapshotResult{}
	}
}
