package activator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wakefn/wake/runtime"
)

// neverWaits is an exchange for benchmarks of the decision alone: with
// capacity free, acquire never calls wait, and nothing is forwarded.
type neverWaits struct{ b *testing.B }

func (x neverWaits) wait(time.Time) (context.Context, func()) {
	x.b.Fatal("acquire queued: the benchmark's revision had no free capacity")
	return nil, nil
}
func (neverWaits) to(*revision, *endpoint) result          { panic("not forwarded") }
func (neverWaits) refuse(*revision, error) int             { panic("not refused") }
func (neverWaits) fail(*revision, *endpoint, error) result { panic("not failed") }
func (neverWaits) annotate(wait)                           {}

var _ exchange = neverWaits{}

// benchRevision registers a revision with containerConcurrency cc and n
// ready endpoints (their addresses are never dialled) and returns it.
func benchRevision(b *testing.B, cc int64, n int) *revision {
	a := New(Options{Waker: newFakeWaker()})
	a.Register(testRevision(cc, 10, false))
	eps := make([]runtime.Endpoint, n)
	for i := range eps {
		eps[i] = runtime.Endpoint{ID: fmt.Sprintf("i%d", i), Addr: fmt.Sprintf("127.0.0.1:%d", 20000+i)}
	}
	a.Update(revKey, runtime.State{Ready: eps})
	v, ok := a.revisions.Load(revKey)
	if !ok {
		b.Fatal("revision not registered")
	}
	return v.(*revision)
}

// BenchmarkProxyDecision is the activator's choice of an instance for a
// request, and the slot given back when it is answered: acquire + release
// on one revision, under its one mutex, with 1, 10 and 100 ready
// instances and containerConcurrency 0 (no limit, least loaded) and 1 (one
// request per instance).
//
// "idle": every instance is free, so the scan stops at the first one.
// "busy": every instance but one has a request in flight, so the scan
// goes through all of them to find the free one (cc=1) or the least
// loaded (cc=0) — the worst case without queueing.
//
// Time is a synthetic clock advanced 1µs a request, so the numbers are the
// decision's and the concurrency accounting's, not the clock's.
func BenchmarkProxyDecision(b *testing.B) {
	for _, cc := range []int64{0, 1} {
		for _, n := range []int{1, 10, 100} {
			for _, load := range []string{"idle", "busy"} {
				if load == "busy" && n == 1 {
					continue // the same as idle
				}
				b.Run(fmt.Sprintf("cc=%d/endpoints=%d/%s", cc, n, load), func(b *testing.B) {
					rv := benchRevision(b, cc, n)
					x, wk := neverWaits{b}, newFakeWaker()
					now := time.Now()
					if load == "busy" {
						for range n - 1 { // held for the whole benchmark
							if _, err := rv.acquire(now, x, wk); err != nil {
								b.Fatal(err)
							}
						}
					}
					b.ReportAllocs()
					for b.Loop() {
						now = now.Add(time.Microsecond)
						got, err := rv.acquire(now, x, wk)
						if err != nil {
							b.Fatal(err)
						}
						rv.release(got.ep, now)
					}
				})
			}
		}
	}
}

// BenchmarkProxyDecisionParallel is acquire + release from every CPU at
// once on one revision with 10 idle instances and no limit: the cost of
// the revision's mutex under contention, with the real clock.
func BenchmarkProxyDecisionParallel(b *testing.B) {
	rv := benchRevision(b, 0, 10)
	wk := newFakeWaker()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		x := neverWaits{b}
		for pb.Next() {
			got, err := rv.acquire(time.Now(), x, wk)
			if err != nil {
				b.Error(err)
				return
			}
			rv.release(got.ep, time.Now())
		}
	})
}
