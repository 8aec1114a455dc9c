package controlplane

import (
	"sync"
	"time"

	"go.uber.org/zap"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// MinPrewarmLead is the shortest default lead of a pre-warm: a sink whose
// instances start in a blink is still woken this long before a fire, to
// cover the autoscaler's reaction and the runtime's fork.
const MinPrewarmLead = 10 * time.Second

// Prewarmer wakes the function sinks of cron triggers ahead of their
// fires (eventing/triggers.Prewarmer). It remembers each sink's last
// observed start time, since a sink at zero has no instance to read one
// from. Safe for concurrent use; each call takes the control plane's lock
// once, briefly.
type Prewarmer struct {
	c *ControlPlane

	mu     sync.Mutex
	starts map[prewarmSink]time.Duration // last observed start, Scheduled → WarmedUp; one entry per pre-warmed sink
}

type prewarmSink struct {
	fn  api.FunctionKey
	tag string
}

// Prewarmer returns the control plane's Prewarmer.
func (c *ControlPlane) Prewarmer() *Prewarmer {
	return &Prewarmer{c: c, starts: map[prewarmSink]time.Duration{}}
}

// Prewarm wakes the revisions that take the sink's events: the revision
// tagged tag, or with no tag every revision of the function's route with
// a share of its traffic, through the autoscaler's Wake. An unknown
// function is a no-op.
func (p *Prewarmer) Prewarm(sink api.FunctionKey, tag string) {
	for _, rev := range p.targets(sink, tag) {
		p.c.opts.Autoscaler.Wake(rev)
		p.c.log.Debug("pre-warmed", zap.String("revision", rev.String()))
	}
}

// PrewarmTiming is the default lead of a sink's pre-warm,
// max(MinPrewarmLead, 2 × its revisions' last observed start), and the
// shortest time its revisions stay up once woken with nothing to do (0:
// they do not go to zero).
func (p *Prewarmer) PrewarmTiming(sink api.FunctionKey, tag string) (lead, idle time.Duration) {
	revs := p.targets(sink, tag)
	var start time.Duration
	p.c.mu.Lock()
	var specs []*api.Revision
	for _, k := range revs {
		if s, ok := lastStart(p.c.state[k]); ok {
			start = max(start, s)
		}
		if rev, ok := p.c.revs[k]; ok {
			specs = append(specs, rev)
		}
	}
	p.c.mu.Unlock()

	key := prewarmSink{sink, tag}
	p.mu.Lock()
	if start > 0 {
		p.starts[key] = start
	} else {
		start = p.starts[key]
	}
	p.mu.Unlock()

	for _, rev := range specs {
		sp := p.c.opts.Autoscaler.Spec(rev)
		if !sp.ScaleToZero {
			continue
		}
		if after := sp.ScaleToZeroAfter(); idle == 0 || after < idle {
			idle = after
		}
	}
	return max(MinPrewarmLead, 2*start), idle
}

// lastStart is how long the revision's most recently ready instance took
// from Scheduled to WarmedUp; false when the runtime timed none.
func lastStart(s runtime.State) (time.Duration, bool) {
	var last *runtime.StartTimes
	for _, ep := range s.Ready {
		st := ep.Started
		if st == nil || st.Scheduled.IsZero() || st.WarmedUp.Before(st.Scheduled) {
			continue
		}
		if last == nil || st.WarmedUp.After(last.WarmedUp) {
			last = st
		}
	}
	if last == nil {
		return 0, false
	}
	return last.WarmedUp.Sub(last.Scheduled), true
}

// targets are the revisions that take a sink's events now.
func (p *Prewarmer) targets(sink api.FunctionKey, tag string) []api.RevisionKey {
	fn, err := p.c.Function(sink)
	if err != nil {
		return nil
	}
	var out []api.RevisionKey
	for _, t := range fn.Status.Traffic {
		if t.RevisionName == "" {
			continue
		}
		take := t.Percent != nil && *t.Percent > 0
		if tag != "" {
			take = t.Tag == tag
		}
		if take {
			out = append(out, api.RevisionKey{Namespace: sink.Namespace, Name: t.RevisionName})
		}
	}
	return out
}
