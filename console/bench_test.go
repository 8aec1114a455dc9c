package console

import (
	"fmt"
	"testing"

	api "github.com/wakefn/wake/api/v1"
)

// many is a platform of n functions of one revision each, hello's copies.
type many struct {
	*platform
	fns  []*api.Function
	revs []*api.Revision
}

func newMany(n int) *many {
	p := newPlatform()
	m := &many{platform: p}
	for i := range n {
		fn, rev := p.fn.DeepCopy(), p.revs[0].DeepCopy()
		fn.Name = fmt.Sprintf("fn%d", i)
		rev.Name, rev.Labels[api.LabelFunction] = fn.Name+"-00001", fn.Name
		fn.Status.Traffic[0].RevisionName = rev.Name
		m.fns, m.revs = append(m.fns, fn), append(m.revs, rev)
	}
	return m
}

func (m *many) Functions(string) []*api.Function {
	out := make([]*api.Function, len(m.fns))
	for i, f := range m.fns {
		out[i] = f.DeepCopy() // as the control plane does
	}
	return out
}

func (m *many) Revisions(string, string) []*api.Revision {
	out := make([]*api.Revision, len(m.revs))
	for i, r := range m.revs {
		out[i] = r.DeepCopy()
	}
	return out
}

// BenchmarkSample is one tick of the sampler over 1,000 functions, a rate
// sample included: what an open console costs per Interval.
func BenchmarkSample(b *testing.B) {
	m := newMany(1000)
	c := New(Options{Platform: m, Data: &data{}})
	defer c.Close()
	c.hub.watched[api.FunctionKey{Namespace: "default", Name: "fn1"}] = 1
	now := t0
	for b.Loop() {
		now = now.Add(RateStep)
		c.hub.sample(now)
	}
}
