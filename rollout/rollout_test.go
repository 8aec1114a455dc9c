package rollout

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/latency"
)

// traffic stands in for the activator's counters: it serves requests to
// revisions on demand.
type traffic struct {
	hist   map[string]*latency.Histogram
	counts map[string]*Sample
}

func newTraffic() *traffic {
	return &traffic{hist: map[string]*latency.Histogram{}, counts: map[string]*Sample{}}
}

func (t *traffic) serve(rev string, n, errors int, d time.Duration) {
	if t.counts[rev] == nil {
		t.counts[rev], t.hist[rev] = &Sample{}, &latency.Histogram{}
	}
	t.counts[rev].Requests += int64(n)
	t.counts[rev].Errors += int64(errors)
	for range n {
		t.hist[rev].Record(d)
	}
}

func (t *traffic) read(rev string) Sample {
	c, ok := t.counts[rev]
	if !ok {
		return Sample{}
	}
	s := *c
	s.Latency = t.hist[rev].Snapshot()
	return s
}

var t0 = time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)

// config is a rollout over d in steps of at least 10s.
func config(d time.Duration) Config {
	c, errs := ParseConfig(map[string]string{AnnotationDuration: d.String(), AnnotationMinStep: "10s"}, field.NewPath("metadata", "annotations"))
	if len(errs) > 0 {
		panic(errs.ToAggregate())
	}
	return c
}

func TestScheduleFollowsKnative(t *testing.T) {
	for _, tc := range []struct {
		duration, minStep time.Duration
		size              int64
		every             time.Duration
	}{
		{20 * time.Second, 10 * time.Second, 50, 10 * time.Second}, // 1% → 51% → 100%
		{60 * time.Second, 5 * time.Second, 8, 60 * time.Second / 13},
		{3 * time.Second, 5 * time.Second, 99, 3 * time.Second},           // shorter than a step: one step
		{1000 * time.Second, 5 * time.Second, 1, 1000 * time.Second / 99}, // 1% at a time
	} {
		c := Config{Duration: tc.duration, MinStep: tc.minStep}
		size, every := c.Schedule()
		if size != tc.size || every != tc.every {
			t.Errorf("%v with steps of at least %v: %d%% every %v, want %d%% every %v", tc.duration, tc.minStep, size, every, tc.size, tc.every)
		}
	}
}

func TestHealthyCanaryReachesAllTraffic(t *testing.T) {
	tr := newTraffic()
	r := Start(config(20*time.Second), "fn-1", "fn-2", t0, tr.read)
	if _, _, p := r.Split(); p != 1 {
		t.Fatalf("first step sends %d%%, want 1%% (Knative)", p)
	}
	want := []int64{51, 100}
	for i, now := 0, t0; i < len(want); i++ {
		tr.serve("fn-1", 500, 1, 10*time.Millisecond)
		tr.serve("fn-2", 100, 0, 11*time.Millisecond)
		if r.Tick(now.Add(9 * time.Second)) {
			t.Fatalf("step %d moved before its time", i+1)
		}
		now = now.Add(10 * time.Second)
		if !r.Tick(now) {
			t.Fatalf("step %d did not move at its time", i+1)
		}
		if _, _, p := r.Split(); p != want[i] {
			t.Fatalf("after step %d the canary has %d%%, want %d%%", i+1, p, want[i])
		}
	}
	st := r.Status()
	if st.Phase != api.RolloutSucceeded || st.EndTime == nil || !st.EndTime.Time.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("status %+v, want Succeeded at t0+20s", st)
	}
	if r.Tick(t0.Add(time.Hour)) {
		t.Error("a finished rollout changed")
	}
}

func TestFailingCanaryRollsBack(t *testing.T) {
	tr := newTraffic()
	r := Start(config(60*time.Second), "fn-1", "fn-2", t0, tr.read)
	tr.serve("fn-1", 1000, 2, 10*time.Millisecond)
	tr.serve("fn-2", 40, 12, 10*time.Millisecond) // 30% 5xx
	r.Tick(t0.Add(r.Status().StepDuration.Duration))
	st := r.Status()
	if st.Phase != api.RolloutRolledBack || st.Reason != "AnalysisFailed" {
		t.Fatalf("phase %s (%s), want RolledBack (AnalysisFailed)", st.Phase, st.Reason)
	}
	if !strings.Contains(st.Message, "error rate 30.0% (12 of 40)") {
		t.Errorf("message %q should give the measured error rate", st.Message)
	}
	if _, _, p := r.Split(); p != 0 {
		t.Errorf("after a rollback the canary has %d%%, want 0", p)
	}
	a := st.Analyses[len(st.Analyses)-1]
	if a.Verdict != api.VerdictFail || a.Canary.Requests != 40 || a.Stable.Requests != 1000 {
		t.Errorf("analysis %+v", a)
	}
}

func TestSlowCanaryRollsBack(t *testing.T) {
	tr := newTraffic()
	r := Start(config(60*time.Second), "fn-1", "fn-2", t0, tr.read)
	tr.serve("fn-1", 1000, 0, 20*time.Millisecond)
	tr.serve("fn-2", 50, 0, 60*time.Millisecond) // 3× the stable p95
	r.Tick(t0.Add(r.Status().StepDuration.Duration))
	st := r.Status()
	if st.Phase != api.RolloutRolledBack || !strings.Contains(st.Message, "p95 latency") {
		t.Fatalf("phase %s: %s; want a rollback for latency", st.Phase, st.Message)
	}
}

func TestOneUnluckyErrorDoesNotRollBack(t *testing.T) {
	tr := newTraffic()
	r := Start(config(60*time.Second), "fn-1", "fn-2", t0, tr.read)
	tr.serve("fn-1", 1000, 0, 10*time.Millisecond)
	tr.serve("fn-2", 20, 1, 10*time.Millisecond) // 5%, but one request
	r.Tick(t0.Add(r.Status().StepDuration.Duration))
	if st := r.Status(); st.Phase != api.RolloutProgressing || st.Step != 2 {
		t.Fatalf("phase %s step %d (%s), want the next step", st.Phase, st.Step, st.Message)
	}
}

func TestTooFewRequestsHoldTheStep(t *testing.T) {
	tr := newTraffic()
	r := Start(config(20*time.Second), "fn-1", "fn-2", t0, tr.read)
	tr.serve("fn-1", 300, 0, 10*time.Millisecond)
	tr.serve("fn-2", 5, 0, 10*time.Millisecond)
	r.Tick(t0.Add(10 * time.Second))
	st := r.Status()
	if st.CanaryPercent != 1 || st.Reason != "WaitingForRequests" || !st.NextStepTime.Time.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("status %+v, want step 1 held for 10s more", st)
	}
	// The window keeps growing: 5 + 15 requests reach the minimum.
	tr.serve("fn-2", 15, 0, 10*time.Millisecond)
	r.Tick(t0.Add(20 * time.Second))
	if st := r.Status(); st.CanaryPercent != 51 {
		t.Fatalf("canary at %d%% (%s), want 51%% once 20 requests were judged", st.CanaryPercent, st.Message)
	}
}

func TestNoTrafficAdvances(t *testing.T) {
	r := Start(config(20*time.Second), "fn-1", "fn-2", t0, newTraffic().read)
	r.Tick(t0.Add(10 * time.Second))
	r.Tick(t0.Add(20 * time.Second))
	if st := r.Status(); st.Phase != api.RolloutSucceeded {
		t.Fatalf("phase %s (%s), want Succeeded: nobody to protect", st.Phase, st.Message)
	}
}

func TestStableBaselineOutlivesItsShare(t *testing.T) {
	// Late in a rollout the stable revision serves too few requests to
	// measure: the canary is held to what it measured before.
	tr := newTraffic()
	c := config(20 * time.Second)
	r := Start(c, "fn-1", "fn-2", t0, tr.read)
	tr.serve("fn-1", 500, 0, 10*time.Millisecond)
	tr.serve("fn-2", 50, 0, 10*time.Millisecond)
	r.Tick(t0.Add(10 * time.Second)) // 51%
	tr.serve("fn-1", 3, 0, 10*time.Millisecond)
	tr.serve("fn-2", 500, 0, 80*time.Millisecond)
	r.Tick(t0.Add(20 * time.Second))
	if st := r.Status(); st.Phase != api.RolloutRolledBack {
		t.Fatalf("phase %s (%s), want a rollback against the earlier baseline", st.Phase, st.Message)
	}
}

func TestPauseResumeAbort(t *testing.T) {
	tr := newTraffic()
	r := Start(config(20*time.Second), "fn-1", "fn-2", t0, tr.read)
	if err := r.Pause(t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if r.Tick(t0.Add(time.Minute)) {
		t.Fatal("a paused rollout moved")
	}
	if err := r.Resume(t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.Phase != api.RolloutProgressing || !st.NextStepTime.Time.Equal(t0.Add(70*time.Second)) {
		t.Fatalf("resumed status %+v, want a fresh 10s step", st)
	}
	if err := r.Abort(t0.Add(61*time.Second), "aborted by user"); err != nil {
		t.Fatal(err)
	}
	if _, _, p := r.Split(); p != 0 || r.Status().Phase != api.RolloutAborted {
		t.Fatalf("after abort: %d%%, %s", p, r.Status().Phase)
	}
	if err := r.Pause(t0.Add(62 * time.Second)); err == nil {
		t.Error("pausing an aborted rollout should fail")
	}
	if err := r.Resume(t0.Add(63 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.Phase != api.RolloutProgressing || st.CanaryPercent != 1 || st.Reason != "Restarted" {
		t.Fatalf("resume after abort: %+v, want a fresh start at 1%%", st)
	}
}

func TestResumeAfterRestartStartsTheWindowOver(t *testing.T) {
	tr := newTraffic()
	r := Start(config(20*time.Second), "fn-1", "fn-2", t0, tr.read)
	stored := r.Status()
	// A restart 30s later: the step was due, but its window was lost.
	fresh := newTraffic()
	r2 := Resume(config(20*time.Second), stored, t0.Add(30*time.Second), fresh.read)
	if st := r2.Status(); !st.NextStepTime.Time.Equal(t0.Add(40 * time.Second)) {
		t.Fatalf("next step at %v, want a full window after the restart", st.NextStepTime)
	}
}

func TestParseConfigNamesTheAnnotation(t *testing.T) {
	path := field.NewPath("metadata", "annotations")
	_, errs := ParseConfig(map[string]string{
		AnnotationDuration:           "soon",
		AnnotationMaxErrorIncrease:   "-1",
		AnnotationMaxLatencyIncrease: "fast",
		AnnotationMinRequests:        "0",
		AnnotationMinStep:            "10ms",
	}, path)
	got := errs.ToAggregate().Error()
	for _, want := range []string{
		"metadata.annotations[serving.knative.dev/rollout-duration]", "metadata.annotations[wake.dev/rollout-max-error-increase]",
		"metadata.annotations[wake.dev/rollout-max-latency-increase]", "metadata.annotations[wake.dev/rollout-min-requests]",
		"metadata.annotations[wake.dev/rollout-min-step]",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %q do not name %s", got, want)
		}
	}
	c, errs := ParseConfig(map[string]string{AnnotationDuration: "2m", AnnotationMaxErrorIncrease: "2.5%", AnnotationLatencySlack: "1ms"}, path)
	if len(errs) > 0 || c.Duration != 2*time.Minute || c.MaxErrorIncrease != 0.025 || c.LatencySlack != time.Millisecond || !c.Enabled() {
		t.Errorf("parsed %+v, %v", c, errs)
	}
}
