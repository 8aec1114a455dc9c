package autoscaler

import "time"

// TraceSpan is how far back a revision's trace reaches: long enough to
// show how the autoscaler met the last spike to someone who looks after
// it, short enough that a busy revision's trace stays small: 150
// decisions at the default interval, in a ring of 256 marks of 32 bytes
// (8 KB); 512 (16 KB) at most, if its instances ready also change at
// every sample between them.
const TraceSpan = 5 * time.Minute

// TracePoint is the state one decision left a revision in, for charts:
// the averages it saw, the count it chose, the instances ready, and the
// panic mode; or, between decisions, a change in the instances ready seen
// at a sample. A point holds until the next one.
type TracePoint struct {
	At            time.Time
	Stable, Panic float64 // a wake's point carries the averages of the tick before
	Desired       int
	Ready         int
	Panicking     bool
}

// mark is a TracePoint as a trace keeps it: in 32 bytes, for the
// thousands of revisions an autoscaler may manage. Averages keep float32's
// 7 digits, plenty for a chart.
type mark struct {
	at             int64 // Unix nanoseconds
	stable, panic  float32
	desired, ready int32
	panicking      bool
}

func markOf(d Decision, observed [2]float64) mark {
	return mark{at: d.At.UnixNano(), stable: float32(observed[0]), panic: float32(observed[1]),
		desired: int32(d.Desired), ready: int32(d.Ready), panicking: d.Panicking}
}

func (m mark) point() TracePoint {
	return TracePoint{At: time.Unix(0, m.at), Stable: float64(m.stable), Panic: float64(m.panic),
		Desired: int(m.desired), Ready: int(m.ready), Panicking: m.panicking}
}

// same reports whether m and o show the same state, whenever they were.
func (m mark) same(o mark) bool { o.at = m.at; return m == o }

// trace is a revision's points over TraceSpan, oldest first, in a ring
// that grows as needed. A decision that leaves everything as the last
// point shows adds nothing, so an idle revision keeps a single point,
// however long it idles, and a trace costs in proportion to how much its
// revision changed lately; a busy one settles at a ring that fits its span
// and then allocates nothing. The first point may be older than the span:
// it is what held at the span's start.
type trace struct {
	ring        []mark // len is a power of two, or 0
	first, size int
}

func (t *trace) at(i int) *mark { return &t.ring[(t.first+i)&(len(t.ring)-1)] }

// add records the state a decision left; marks come in time order. A
// mark at the instant of the last replaces it.
func (t *trace) add(p mark) {
	t.trim(p.at)
	if t.size > 0 {
		last := t.at(t.size - 1)
		switch {
		case p.at <= last.at:
			*last = p
			return
		case last.same(p):
			return
		}
	}
	if t.size == len(t.ring) {
		t.resize(max(4, 2*len(t.ring)))
	}
	t.size++
	*t.at(t.size - 1) = p
}

// setReady records, between decisions, a change in the instances ready:
// they come up in milliseconds, and a chart should not wait for the next
// decision to show them. Nothing before the first decision.
func (t *trace) setReady(at int64, ready int) {
	if t.size == 0 || int(t.at(t.size-1).ready) == ready {
		return
	}
	m := *t.at(t.size - 1)
	m.at, m.ready = at, int32(ready)
	t.add(m)
}

// trim forgets the points that stopped holding before now-TraceSpan,
// keeping the one that held then. A ring left mostly empty shrinks, so a
// revision gone quiet gives back what its busy minutes took.
func (t *trace) trim(now int64) {
	cut := now - int64(TraceSpan)
	for t.size > 1 && t.at(1).at <= cut {
		t.first = (t.first + 1) & (len(t.ring) - 1)
		t.size--
	}
	if len(t.ring) > 16 && t.size < len(t.ring)/4 {
		t.resize(len(t.ring) / 2)
	}
}

func (t *trace) resize(n int) {
	ring := make([]mark, n)
	for i := range t.size {
		ring[i] = *t.at(i)
	}
	t.ring, t.first = ring, 0
}

// points returns the trace, oldest first.
func (t *trace) points() []TracePoint {
	out := make([]TracePoint, t.size)
	for i := range out {
		out[i] = t.at(i).point()
	}
	return out
}
