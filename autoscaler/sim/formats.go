package sim

import (
	"strings"
	"time"
)

// loadRow is one row of a load trace: the load over [at, at+1s).
type loadRow struct {
	line  int
	at    time.Duration
	value float64
}

// parseLoadRows reads second,concurrency or second,rps rows, which must
// go forward by at least a second each so that no second has two loads.
func parseLoadRows(rows []row, format Format, p *problems) []loadRow {
	column := strings.TrimPrefix(string(format), "second,")
	out := make([]loadRow, 0, len(rows))
	var prev *loadRow
	for _, r := range rows {
		if !p.fieldCount(r, format) {
			continue
		}
		at, okAt := p.seconds(r.line, "second", r.fields[0])
		v, okV := p.number(r.line, column, r.fields[1])
		if !okAt || !okV {
			continue
		}
		if at+time.Second > MaxTraceDuration {
			p.add(r.line, "second %q: its second ends beyond the %v a trace may span", r.fields[0], MaxTraceDuration)
			continue
		}
		if prev != nil && at < prev.at+time.Second {
			p.add(r.line, "second %q: overlaps line %d, whose row is the load over [%s, %s): each row covers one second, so seconds must increase by at least 1",
				r.fields[0], prev.line, seconds(prev.at), seconds(prev.at+time.Second))
			continue
		}
		out = append(out, loadRow{line: r.line, at: at, value: v})
		prev = &out[len(out)-1]
	}
	return out
}

// loadTrace spreads each row's second over the ticks it covers, deriving
// the measure the trace does not give from the service time.
func loadTrace(name string, format Format, serviceTime time.Duration, rows []loadRow) *Trace {
	last := rows[len(rows)-1]
	n := ticksIn(last.at + time.Second)
	t := &Trace{Name: name, Format: format, ServiceTime: serviceTime,
		Demand: make([]float64, n), Arrivals: make([]float64, n)}
	for _, r := range rows {
		concurrency, rps := r.value, r.value
		if format == FormatRPS {
			concurrency = r.value * serviceTime.Seconds()
		} else {
			rps = r.value / serviceTime.Seconds()
		}
		spread(t.Demand, r.at, r.at+time.Second, concurrency)
		spread(t.Arrivals, r.at, r.at+time.Second, rps*Tick.Seconds())
	}
	return t
}

// spread adds perTick × (the share of each tick that [from, to) covers) to
// the ticks it overlaps: a whole tick gets perTick exactly, so whole-second
// rows give exact values.
func spread(series []float64, from, to time.Duration, perTick float64) {
	for k := int(from / Tick); k < len(series) && time.Duration(k)*Tick < to; k++ {
		lo := max(from, time.Duration(k)*Tick)
		hi := min(to, time.Duration(k+1)*Tick)
		if hi-lo == Tick {
			series[k] += perTick
			continue
		}
		// The explicit conversion keeps the compiler from fusing this into
		// an FMA on some CPUs, which would change the last bits between
		// machines and so the golden files.
		series[k] += float64(perTick * (float64(hi-lo) / float64(Tick)))
	}
}

// request is one row of a request log.
type request struct {
	start, end time.Duration
}

// parseRequestRows reads start,duration rows, in any order.
func parseRequestRows(rows []row, p *problems) []request {
	out := make([]request, 0, len(rows))
	for _, r := range rows {
		if !p.fieldCount(r, FormatRequests) {
			continue
		}
		start, okS := p.seconds(r.line, "start", r.fields[0])
		d, okD := p.seconds(r.line, "duration", r.fields[1])
		if !okS || !okD {
			continue
		}
		if start+d > MaxTraceDuration {
			p.add(r.line, "request ends at %s: beyond the %v a trace may span", seconds(start+d), MaxTraceDuration)
			continue
		}
		out = append(out, request{start: start, end: start + d})
	}
	return out
}

// requestTrace turns requests into concurrency, time-weighted per tick, and
// arrivals counted in the tick each request started in. Whole ticks are
// added through a difference array, so a long request costs two writes,
// not one per tick it spans.
func requestTrace(name string, reqs []request) *Trace {
	n := 0
	for _, r := range reqs {
		// A request of no duration still arrives, in the tick it starts.
		n = max(n, ticksIn(r.end), int(r.start/Tick)+1)
	}
	t := &Trace{Name: name, Format: FormatRequests, Demand: make([]float64, n), Arrivals: make([]float64, n)}
	whole := make([]float64, n+1) // difference array of whole ticks covered
	for _, r := range reqs {
		t.Arrivals[int(r.start/Tick)]++
		if r.end == r.start {
			continue
		}
		first, last := int(r.start/Tick), ticksIn(r.end)-1
		if first == last {
			spread(t.Demand, r.start, r.end, 1)
			continue
		}
		spread(t.Demand, r.start, time.Duration(first+1)*Tick, 1)
		spread(t.Demand, time.Duration(last)*Tick, r.end, 1)
		whole[first+1]++
		whole[last]--
	}
	running := 0.0
	for k := range t.Demand {
		running += whole[k]
		t.Demand[k] += running
	}
	return t
}

// ticksIn is how many ticks it takes to cover d.
func ticksIn(d time.Duration) int { return int((d + Tick - 1) / Tick) }
