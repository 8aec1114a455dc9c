package demand

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/latency"
)

// outcomes returns requests answered, errors of them, and the durations
// recorded (cold requests have none, so there may be fewer).
func outcomes(requests, errors int64, durations ...time.Duration) activator.Outcomes {
	var h latency.Histogram
	for _, d := range durations {
		h.Record(d)
	}
	return activator.Outcomes{Requests: requests, Errors: errors, Latency: h.Snapshot()}
}

// spread returns n durations from lo, each 3% longer than the last, so
// they fall in many buckets.
func spread(n int, lo time.Duration) []time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = lo
		lo += lo * 3 / 100
	}
	return ds
}

func sum(os ...activator.Outcomes) activator.Outcomes {
	var s activator.Outcomes
	for _, o := range os {
		s.Requests += o.Requests
		s.Errors += o.Errors
		for i, n := range o.Latency.Counts {
			s.Latency.Counts[i] += n
			s.Latency.Total += n
		}
	}
	return s
}

// assertNotBelow fails when any count of got is less than in prev.
func assertNotBelow(t *testing.T, got, prev activator.Outcomes, after string) {
	t.Helper()
	d := got.Latency.Sub(prev.Latency)
	for i, n := range d.Counts {
		if n < 0 {
			t.Fatalf("after %s, latency bucket %d went from %d to %d", after, i, prev.Latency.Counts[i], got.Latency.Counts[i])
		}
	}
	if got.Requests < prev.Requests || got.Errors < prev.Errors {
		t.Fatalf("after %s, requests/errors went from %d/%d to %d/%d", after, prev.Requests, prev.Errors, got.Requests, got.Errors)
	}
}

func TestOutcomesOfTwoGatewaysAreSummedOverTheWire(t *testing.T) {
	l := newLeader(t)
	other := api.RevisionKey{Namespace: "default", Name: "hello-00002"}
	// gw-a is fast with a slow tail, gw-b slower: the p95 of the sum is
	// neither gateway's own.
	oa := outcomes(300, 2, append(spread(280, 2*time.Millisecond), spread(20, 900*time.Millisecond)...)...)
	ob := outcomes(105, 7, spread(100, 40*time.Millisecond)...) // 5 cold requests
	a, b := newFakeSource(), newFakeSource()
	a.setOutcomes(revKey, activator.Outcomes{})
	a.setOutcomes(other, activator.Outcomes{}) // registered, never served
	b.setOutcomes(revKey, activator.Outcomes{})
	startReporter(t, l, ReporterOptions{Controllers: []string{l.url}, Gateway: "gw-a", Source: a})
	startReporter(t, l, ReporterOptions{Controllers: []string{l.url}, Gateway: "gw-b", Source: b})
	l.clock.Step(DefaultInterval)
	waitFor(t, "the first reports, which introduce the gateways", func() bool { return l.reports.Load() == 2 })

	a.setOutcomes(revKey, oa)
	b.setOutcomes(revKey, ob)
	l.clock.Step(DefaultInterval)
	waitFor(t, "both reports", func() bool { return l.reports.Load() == 4 })
	want := sum(oa, ob)
	got := l.Outcomes(revKey)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Outcomes (-want +got):\n%s", diff)
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		if g, w := got.Latency.Quantile(q), want.Latency.Quantile(q); g != w {
			t.Errorf("p%v of the summed outcomes = %v, want %v", q*100, g, w)
		}
	}
	if diff := cmp.Diff(activator.Outcomes{}, l.Outcomes(other)); diff != "" {
		t.Errorf("Outcomes of a revision never served (-want +got):\n%s", diff)
	}

	// Cumulative: the next reports carry the counts so far, not the
	// difference, and the sum follows.
	oa2 := sum(oa, outcomes(10, 1, spread(10, 3*time.Millisecond)...))
	a.setOutcomes(revKey, oa2)
	l.clock.Step(DefaultInterval)
	waitFor(t, "the next reports", func() bool { return l.reports.Load() == 6 })
	if diff := cmp.Diff(sum(oa2, ob), l.Outcomes(revKey)); diff != "" {
		t.Errorf("Outcomes after more requests (-want +got):\n%s", diff)
	}
}

func TestOutcomesNeverDecrease(t *testing.T) {
	fast := func(n int) []time.Duration { return spread(n, time.Millisecond) }
	o1 := outcomes(10, 1, fast(10)...)
	o2 := outcomes(30, 2, fast(30)...)
	restarted := outcomes(40, 0, spread(40, 200*time.Millisecond)...) // more requests, but bucket and errors counts went down
	o3 := outcomes(4, 1, fast(4)...)
	o4 := outcomes(6, 1, fast(6)...)
	type step struct {
		gateway string
		o       *activator.Outcomes // nil: the report names revKey without outcomes
		absent  bool                // the report does not name revKey: unregistered
		want    activator.Outcomes
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"gateway restarts with fewer requests", []step{
			{gateway: "gw-a", o: &o2, want: o2},
			{gateway: "gw-b", o: &o1, want: sum(o2, o1)},
			{gateway: "gw-a", o: &o3, want: sum(o2, o1, o3)},
			{gateway: "gw-a", o: &o4, want: sum(o2, o1, o4)},
		}},
		{"gateway restarts with more requests in other buckets", []step{
			{gateway: "gw-a", o: &o2, want: o2},
			{gateway: "gw-a", o: &restarted, want: sum(o2, restarted)},
		}},
		{"revision registered again", []step{
			{gateway: "gw-a", o: &o2, want: o2},
			{gateway: "gw-a", absent: true, want: o2},
			{gateway: "gw-a", o: &o4, want: sum(o2, o4)},
		}},
		{"report without outcomes keeps the previous counts", []step{
			{gateway: "gw-a", o: &o1, want: o1},
			{gateway: "gw-a", want: o1},
			{gateway: "gw-a", o: &o2, want: o2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLeader(t)
			for _, gw := range []string{"gw-a", "gw-b"} { // their first reports only introduce them
				if code, msg := l.post(t, ReportPath, Report{Gateway: gw, Since: t0.Add(-DefaultInterval), Sent: t0}); code != 204 {
					t.Fatalf("first report of %s answered %d %s", gw, code, msg)
				}
			}
			var prev activator.Outcomes
			for i, s := range tt.steps {
				l.clock.Step(DefaultInterval)
				sent := l.clock.Now()
				rep := Report{Gateway: s.gateway, Since: sent.Add(-DefaultInterval), Sent: sent}
				if !s.absent {
					rr := RevisionReport{Namespace: revKey.Namespace, Name: revKey.Name}
					if s.o != nil {
						rr.Outcomes = outcomeReportOf(*s.o)
					}
					rep.Revisions = append(rep.Revisions, rr)
				}
				if code, msg := l.post(t, ReportPath, rep); code != 204 {
					t.Fatalf("step %d: report answered %d %s", i, code, msg)
				}
				got := l.Outcomes(revKey)
				assertNotBelow(t, got, prev, fmt.Sprintf("step %d", i))
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Fatalf("step %d: Outcomes (-want +got):\n%s", i, diff)
				}
				prev = got
			}
		})
	}
}

func TestOutcomesOfAStaleGatewayStillCount(t *testing.T) {
	l := newLeader(t)
	oa := outcomes(20, 3, spread(20, 5*time.Millisecond)...)
	ob := outcomes(7, 0, spread(7, 8*time.Millisecond)...)
	l.report(t, "gw-a", t0, time.Second, RevisionReport{}) // the first reports introduce the gateways
	l.report(t, "gw-b", t0, time.Second, RevisionReport{})
	l.report(t, "gw-a", t0, time.Second, RevisionReport{Outcomes: outcomeReportOf(oa)})
	l.report(t, "gw-b", t0, time.Second, RevisionReport{Outcomes: outcomeReportOf(ob)})

	l.clock.Step(DefaultMaxAge + time.Second)
	l.report(t, "gw-b", l.clock.Now(), time.Second, RevisionReport{Outcomes: outcomeReportOf(ob)})
	if got := l.Gateways(); got != 1 {
		t.Fatalf("Gateways() after gw-a went silent = %d, want 1", got)
	}
	if diff := cmp.Diff(sum(oa, ob), l.Outcomes(revKey)); diff != "" {
		t.Errorf("Outcomes with gw-a stale (-want +got):\n%s", diff)
	}

	// gw-a's baseline outlives MaxAge: back with the same process, its
	// counts are not added twice.
	oa2 := sum(oa, outcomes(1, 0, time.Millisecond))
	l.report(t, "gw-a", l.clock.Now(), time.Second, RevisionReport{Outcomes: outcomeReportOf(oa2)})
	if diff := cmp.Diff(sum(oa2, ob), l.Outcomes(revKey)); diff != "" {
		t.Errorf("Outcomes with gw-a back (-want +got):\n%s", diff)
	}

	// While a gateway names the revision it is kept, however long the
	// others have been silent.
	for range 3 {
		l.clock.Step(DefaultOutcomeRetention / 2)
		l.report(t, "gw-b", l.clock.Now(), time.Second, RevisionReport{})
	}
	if diff := cmp.Diff(sum(oa2, ob), l.Outcomes(revKey)); diff != "" {
		t.Errorf("Outcomes with only gw-b naming the revision (-want +got):\n%s", diff)
	}
	// Once none has named it for the retention, it is forgotten.
	l.clock.Step(DefaultOutcomeRetention + time.Second)
	if diff := cmp.Diff(activator.Outcomes{}, l.Outcomes(revKey)); diff != "" {
		t.Errorf("Outcomes of a revision unnamed for the retention (-want +got):\n%s", diff)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, g := len(l.outcomes.revs), len(l.outcomes.gateways); n != 0 || g != 0 {
		t.Errorf("outcome book holds %d revisions and %d gateways after the retention, want none", n, g)
	}
}

func TestReportOfARevisionNeverServedHasNoOutcomes(t *testing.T) {
	src := newFakeSource()
	src.setOutcomes(revKey, activator.Outcomes{})
	r, err := NewReporter(ReporterOptions{Controllers: []string{"http://leader"}, Gateway: "gw-a", Source: src, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	body, err := r.encode(r.collect(t0))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "outcomes") {
		t.Errorf("report of a revision never served = %s, want no outcomes", body)
	}
}

func TestOutcomeReportIsSparse(t *testing.T) {
	// A request read in Latency but not yet in Requests raises Requests.
	o := outcomes(2, 1, time.Millisecond, time.Millisecond, 40*time.Millisecond)
	got := outcomeReportOf(o)
	if got.Requests != 3 || got.Errors != 1 || len(got.Latency.B) != 2 || !cmp.Equal(got.Latency.N, []int64{2, 1}) {
		t.Errorf("outcomeReportOf = %+v, want 3 requests, 1 error and two buckets counting 2 and 1", got)
	}
	if err := got.validate(); err != nil {
		t.Errorf("validate() = %v, want nil", err)
	}
}

func TestOversizedReportLeavesOutcomesOut(t *testing.T) {
	src := newFakeSource()
	var full activator.Outcomes
	for i := range full.Latency.Counts {
		full.Latency.Counts[i] = 1_000_000_007
		full.Latency.Total += full.Latency.Counts[i]
	}
	full.Requests = full.Latency.Total
	for i := range 1000 { // about 8 KiB of outcomes each
		src.setOutcomes(api.RevisionKey{Namespace: "default", Name: fmt.Sprintf("f-%05d", i)}, full)
	}
	r, err := NewReporter(ReporterOptions{Controllers: []string{"http://leader"}, Gateway: "gw-a", Source: src, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	body, err := r.encode(r.collect(t0))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if len(body) > MaxBodyBytes || len(rep.Revisions) != 1000 || rep.Revisions[0].Outcomes != nil {
		t.Errorf("oversized report encoded in %d bytes with %d revisions (outcomes %v), want at most %d bytes, every revision, no outcomes",
			len(body), len(rep.Revisions), rep.Revisions[0].Outcomes != nil, MaxBodyBytes)
	}
}

// FuzzOutcomeReport checks that whatever a client sends, validate either
// refuses it or it adds up to counts an activator could have made.
func FuzzOutcomeReport(f *testing.F) {
	f.Add(`{"requests":3,"errors":1,"latency":{"b":[4,9],"n":[1,2]}}`)
	f.Add(`{"requests":1125899906842624,"latency":{"b":[0,339],"n":[1125899906842624,1]}}`)
	f.Add(`{"requests":2,"latency":{"b":[9,4],"n":[1,1]}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var or OutcomeReport
		if json.Unmarshal([]byte(body), &or) != nil || or.validate() != nil {
			return
		}
		var o activator.Outcomes
		or.addTo(&o, 1)
		var total int64
		for _, n := range o.Latency.Counts {
			if n < 0 {
				t.Fatalf("%s adds a negative bucket", body)
			}
			total += n
		}
		if total != o.Latency.Total || total > o.Requests || o.Errors > o.Requests || or.below(&or) {
			t.Fatalf("%s adds up to %d requests, %d errors, %d durations (%d counted)", body, o.Requests, o.Errors, o.Latency.Total, total)
		}
	})
}

// A new leader hears gateways that served long before it: their first
// reports set baselines, and only what they serve after counts, or a
// rollout step it resumes would be judged on the canary's earlier steps.
func TestFirstReportOfAGatewayOnlySetsItsBaseline(t *testing.T) {
	l := newLeader(t)
	history := outcomes(500, 200, spread(500, time.Millisecond)...)
	l.report(t, "gw-a", t0, time.Second, RevisionReport{Outcomes: outcomeReportOf(history)})
	if diff := cmp.Diff(activator.Outcomes{}, l.Outcomes(revKey)); diff != "" {
		t.Errorf("Outcomes after a gateway's first report (-want +got):\n%s", diff)
	}
	since := outcomes(10, 1, spread(10, time.Millisecond)...)
	l.report(t, "gw-a", t0, time.Second, RevisionReport{Outcomes: outcomeReportOf(sum(history, since))})
	if got := l.Outcomes(revKey); got.Requests != 10 || got.Errors != 1 || got.Latency.Total != 10 {
		t.Errorf("Outcomes after the second report: %d requests, %d errors, %d timed; want what was served since: 10, 1, 10",
			got.Requests, got.Errors, got.Latency.Total)
	}
}
