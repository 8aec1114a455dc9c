package autoscaler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
)

// fakeActivator hands out the samples a test sets, and counts reads.
type fakeActivator struct {
	mu      sync.Mutex
	samples map[api.RevisionKey]Sample
	reads   map[api.RevisionKey]int
}

func newFakeActivator() *fakeActivator {
	return &fakeActivator{samples: map[api.RevisionKey]Sample{}, reads: map[api.RevisionKey]int{}}
}

func (f *fakeActivator) Sample(rev api.RevisionKey) Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads[rev]++
	return f.samples[rev]
}

func (f *fakeActivator) set(rev api.RevisionKey, s Sample) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samples[rev] = s
}

func (f *fakeActivator) readsOf(rev api.RevisionKey) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[rev]
}

// scaleCall is one call to the fake Scaler; At is the fake clock's offset
// from the start when it was made.
type scaleCall struct {
	Rev string
	N   int
	At  time.Duration
}

// fakeScaler records calls and fails the next len(fail) of them.
type fakeScaler struct {
	clock *clocktesting.FakeClock
	start time.Time
	mu    sync.Mutex
	calls []scaleCall
	fail  []error
}

func (f *fakeScaler) Scale(_ context.Context, rev api.RevisionKey, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, scaleCall{rev.Name, n, f.clock.Since(f.start)})
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return err
	}
	return nil
}

// last is the count the Scaler last accepted for rev: the instances that
// are ready, for a runtime that starts them at once.
func (f *fakeScaler) last(rev api.RevisionKey) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].Rev == rev.Name {
			return f.calls[i].N
		}
	}
	return 0
}

func (f *fakeScaler) got() []scaleCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]scaleCall(nil), f.calls...)
}

// harness is an Autoscaler on a fake clock with fake neighbours.
type harness struct {
	t      *testing.T
	a      *Autoscaler
	clock  *clocktesting.FakeClock
	act    *fakeActivator
	scaler *fakeScaler
	logs   *observer.ObservedLogs
	reg    *prometheus.Registry
	ctx    context.Context
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	core, logs := observer.New(zapcore.InfoLevel)
	h := &harness{
		t: t, clock: clk, act: newFakeActivator(), logs: logs,
		scaler: &fakeScaler{clock: clk, start: t0},
		reg:    prometheus.NewRegistry(),
	}
	h.a = New(Options{
		Sample: func(rev api.RevisionKey) Sample {
			s := h.act.Sample(rev)
			if s.Ready == 0 {
				s.Ready = h.scaler.last(rev)
			}
			return s
		},
		Scaler:     h.scaler,
		Clock:      clk,
		Logger:     zap.New(core),
		Registerer: h.reg,
	})
	// A failure bound for the barrier, not a sleep: a healthy loop answers
	// in microseconds.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	h.ctx = ctx
	return h
}

// run starts the loop and returns once it is running (its ticker exists,
// so clock steps reach it).
func (h *harness) run() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- h.a.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
	})
	h.flush()
}

func (h *harness) flush() {
	h.t.Helper()
	if err := h.a.flush(h.ctx); err != nil {
		h.t.Fatalf("loop did not answer: %v", err)
	}
}

// advance moves the clock one sample interval at a time, letting the loop
// handle each tick before the next (a fake ticker holds only one).
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	for end := h.clock.Now().Add(d); h.clock.Now().Before(end); {
		h.clock.Step(DefaultSampleInterval)
		h.flush()
	}
}

func (h *harness) wantCalls(want ...scaleCall) {
	h.t.Helper()
	if diff := cmp.Diff(want, h.scaler.got()); diff != "" {
		h.t.Errorf("Scale calls (-want +got):\n%s", diff)
	}
}

func newRevision(name string, ann map[string]string) *api.Revision {
	return &api.Revision{ObjectMeta: metav1.ObjectMeta{
		Namespace:   "default",
		Name:        name,
		Labels:      map[string]string{api.LabelFunction: "hello"},
		Annotations: ann,
	}}
}

var (
	revA = newRevision("hello-00001", nil)
	keyA = revA.Key()
)

func TestWakeAtZeroScalesAtOnce(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.a.Upsert(revA, UpsertOptions{Initial: false}) // adopted: min-scale 0
	h.flush()
	h.wantCalls(scaleCall{"hello-00001", 0, 0})

	h.act.set(keyA, Sample{InFlight: 1})
	h.a.Wake(keyA)
	h.flush()
	h.wantCalls(scaleCall{"hello-00001", 0, 0}, scaleCall{"hello-00001", 1, 0})
	if !h.clock.Now().Equal(t0) {
		t.Errorf("clock moved to %v", h.clock.Now())
	}
	if n, ok := h.a.Desired(keyA); n != 1 || !ok {
		t.Errorf("Desired = %d, %v; want 1, true", n, ok)
	}
}

func TestWakeBurstStartsAllAtOnce(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.a.Upsert(revA, UpsertOptions{})
	h.flush()
	h.act.set(keyA, Sample{InFlight: 200})
	h.a.Wake(keyA)
	h.flush()
	// ceil(200 / (100 × 0.7)) = 3, in one call.
	h.wantCalls(scaleCall{"hello-00001", 0, 0}, scaleCall{"hello-00001", 3, 0})
}

func TestWakeCoalesces(t *testing.T) {
	h := newHarness(t)
	h.a.Upsert(revA, UpsertOptions{})
	h.act.set(keyA, Sample{InFlight: 1})
	for range 1000 {
		h.a.Wake(keyA)
	}
	h.run() // the loop finds the Upsert and a thousand Wakes waiting
	if got := h.act.readsOf(keyA); got != 1 {
		t.Errorf("Sample read %d times for 1000 pending Wakes, want 1", got)
	}
	// The Upsert's 0 was overtaken by the Wake before anything was sent.
	h.wantCalls(scaleCall{"hello-00001", 1, 0})

	// Concurrent Wakes while the loop runs: however they batch, the count
	// only goes to 1 once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				h.a.Wake(keyA)
			}
		})
	}
	wg.Wait()
	h.flush()
	h.wantCalls(scaleCall{"hello-00001", 1, 0})
	if got := h.act.readsOf(keyA); got > 8001 {
		t.Errorf("Sample read %d times for 8000 Wakes: not coalesced", got)
	}
}

func TestWakeUnknownIgnored(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.a.Wake(api.RevisionKey{Namespace: "default", Name: "nope"})
	h.flush()
	h.wantCalls()
	if _, ok := h.a.Desired(api.RevisionKey{Namespace: "default", Name: "nope"}); ok {
		t.Error("Desired reports an unknown revision")
	}
}

func TestScaleToZeroInTheLoop(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.a.Upsert(revA, UpsertOptions{Initial: true})
	h.flush()
	h.advance(200 * time.Second)
	// Untouched: active for the 60s stable window, so inactive and zero at
	// the 60s decision, as Knative's scaler does.
	h.wantCalls(scaleCall{"hello-00001", 1, 0}, scaleCall{"hello-00001", 0, 60 * time.Second})
}

func TestLoadScalesUpAtDecisionTicks(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.a.Upsert(revA, UpsertOptions{Initial: true})
	h.flush()
	h.act.set(keyA, Sample{Concurrency: 210, InFlight: 210, Requests: 10})
	h.advance(1 * time.Second) // a sample tick: no decision yet
	h.wantCalls(scaleCall{"hello-00001", 1, 0})
	h.advance(1 * time.Second)
	h.wantCalls(scaleCall{"hello-00001", 1, 0}, scaleCall{"hello-00001", 3, 2 * time.Second})
	h.advance(10 * time.Second) // steady: no further calls
	h.wantCalls(scaleCall{"hello-00001", 1, 0}, scaleCall{"hello-00001", 3, 2 * time.Second})
	if got := h.act.readsOf(keyA); got != 12 {
		t.Errorf("Sample read %d times in 12 ticks, want 12", got)
	}
}

func TestForgetStopsScaling(t *testing.T) {
	h := newHarness(t)
	h.run()
	revB := newRevision("hello-00002", nil)
	h.a.Upsert(revA, UpsertOptions{Initial: true})
	h.a.Upsert(revB, UpsertOptions{Initial: true})
	h.flush()
	h.a.Forget(keyA)
	reads := h.act.readsOf(keyA)
	h.act.set(keyA, Sample{Concurrency: 700, InFlight: 700})
	h.a.Wake(keyA)
	h.advance(200 * time.Second)
	var gotA []scaleCall
	for _, c := range h.scaler.got() {
		if c.Rev == keyA.Name {
			gotA = append(gotA, c)
		}
	}
	if diff := cmp.Diff([]scaleCall{{"hello-00001", 1, 0}}, gotA); diff != "" {
		t.Errorf("Scale calls for the forgotten revision (-want +got):\n%s", diff)
	}
	if got := h.act.readsOf(keyA); got != reads {
		t.Errorf("forgotten revision sampled %d more times", got-reads)
	}
	if _, ok := h.a.Desired(keyA); ok {
		t.Error("Desired reports a forgotten revision")
	}
	if n, _ := h.a.Desired(revB.Key()); n != 0 {
		t.Errorf("the other revision: desired %d, want 0 (still managed)", n)
	}
	h.a.Forget(keyA) // twice is fine
}

func TestScaleErrorsRetriedAtNextDecision(t *testing.T) {
	h := newHarness(t)
	boom := errors.New("runtime unavailable")
	h.scaler.fail = []error{boom, boom}
	h.run()
	h.a.Upsert(revA, UpsertOptions{Initial: true})
	h.flush()
	h.advance(1 * time.Second) // sample tick: no retry
	h.advance(1 * time.Second) // decision: retry, fails again
	h.advance(2 * time.Second) // decision: retry, succeeds
	h.advance(10 * time.Second)
	h.wantCalls(
		scaleCall{"hello-00001", 1, 0},
		scaleCall{"hello-00001", 1, 2 * time.Second},
		scaleCall{"hello-00001", 1, 4 * time.Second},
	)
	if got := h.logs.FilterMessage("scale failed, retrying at the next decision").Len(); got != 2 {
		t.Errorf("%d failure lines logged, want 2", got)
	}
}

func TestOneLogLinePerChange(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.a.Upsert(revA, UpsertOptions{})
	h.act.set(keyA, Sample{InFlight: 1})
	h.a.Wake(keyA)
	h.flush()
	h.a.Wake(keyA) // no change: a debug line, not seen at info
	h.flush()
	lines := h.logs.FilterMessage("decision").AllUntimed()
	if len(lines) != 1 {
		t.Fatalf("%d decision lines at info, want 1: %v", len(lines), lines)
	}
	got := lines[0].ContextMap()
	want := map[string]any{
		"revision": "default/hello-00001", "from": int64(0), "to": int64(1), "ready": int64(0), "inFlight": int64(1),
		"metric": "concurrency", "target": 70.0, "panicking": false, "activation": true,
		"reason": "activation: 1 waiting / target 70 = 1 wanted, 0 ready → 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decision line (-want +got):\n%s", diff)
	}
}

// Status keeps the latest decision and a bounded history of changes.
func TestStatusHistory(t *testing.T) {
	h := newHarness(t)
	h.a.history = 3
	h.run()
	h.a.Upsert(revA, UpsertOptions{Initial: true})
	h.flush()
	for _, c := range []float64{140, 350, 700, 1400} { // 2, 5, 10, 20 instances, a change each
		h.act.set(keyA, Sample{Concurrency: c, InFlight: int(c)})
		h.advance(2 * time.Second)
		h.act.set(keyA, Sample{Concurrency: c, InFlight: int(c), Ready: int(c / 70)})
		h.advance(60 * time.Second)
	}
	st, ok := h.a.Status(keyA, true)
	if !ok || st.Desired != 20 || st.Last.At.IsZero() {
		t.Fatalf("Status = %+v, %v; want 20 with a last decision", st, ok)
	}
	if len(st.History) != 3 {
		t.Fatalf("history of %d, want the 3 kept", len(st.History))
	}
	for i := 1; i < len(st.History); i++ {
		if !st.History[i].At.After(st.History[i-1].At) {
			t.Errorf("history not oldest first: %v then %v", st.History[i-1].At, st.History[i].At)
		}
	}
	if last := st.History[2]; last.Desired != 20 {
		t.Errorf("newest change in history: %s, want the one to 20", last.Reason())
	}
	if st, _ := h.a.Status(keyA, false); st.History != nil {
		t.Error("history copied when not asked for")
	}
}

func TestUpsertAgainKeepsState(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.a.Upsert(revA, UpsertOptions{Initial: true})
	h.flush()
	h.act.set(keyA, Sample{InFlight: 200})
	h.a.Wake(keyA)
	h.flush()
	h.a.Upsert(revA, UpsertOptions{Initial: true})
	h.flush()
	h.wantCalls(scaleCall{"hello-00001", 1, 0}, scaleCall{"hello-00001", 3, 0})
	if n, _ := h.a.Desired(keyA); n != 3 {
		t.Errorf("Desired = %d after a second Upsert, want 3", n)
	}
}

func TestMetricsGauge(t *testing.T) {
	h := newHarness(t)
	h.run()
	gauge := func() map[string]float64 {
		t.Helper()
		mfs, err := h.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "wake_desired_instances" {
				continue
			}
			for _, m := range mf.GetMetric() {
				key := ""
				for _, l := range m.GetLabel() {
					key += l.GetName() + "=" + l.GetValue() + ","
				}
				got[key] = m.GetGauge().GetValue()
			}
		}
		return got
	}
	series := "function=hello,namespace=default,revision=hello-00001,"
	h.a.Upsert(revA, UpsertOptions{Initial: true})
	if diff := cmp.Diff(map[string]float64{series: 1}, gauge()); diff != "" {
		t.Errorf("after Upsert (-want +got):\n%s", diff)
	}
	h.act.set(keyA, Sample{InFlight: 200})
	h.a.Wake(keyA)
	h.flush()
	if diff := cmp.Diff(map[string]float64{series: 3}, gauge()); diff != "" {
		t.Errorf("after Wake (-want +got):\n%s", diff)
	}
	h.a.Forget(keyA)
	if diff := cmp.Diff(map[string]float64{}, gauge()); diff != "" {
		t.Errorf("after Forget (-want +got):\n%s", diff)
	}

	// A second autoscaler on the same registry shares the gauge.
	New(Options{Sample: h.act.Sample, Scaler: h.scaler, Registerer: h.reg}).Upsert(revA, UpsertOptions{Initial: true})
	if diff := cmp.Diff(map[string]float64{series: 1}, gauge()); diff != "" {
		t.Errorf("second autoscaler (-want +got):\n%s", diff)
	}
}

func TestDecisionIntervalRoundsToSampleTicks(t *testing.T) {
	tests := []struct {
		name           string
		sample, decide time.Duration
		want           int
	}{
		{"defaults", 0, 0, 2},
		{"equal", time.Second, time.Second, 1},
		{"shorter than a sample", time.Second, 100 * time.Millisecond, 1},
		{"rounded", time.Second, 2600 * time.Millisecond, 3},
		{"fast sampling", 250 * time.Millisecond, 2 * time.Second, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{Sample: newFakeActivator().Sample, Scaler: &fakeScaler{}, SampleInterval: tt.sample, DecisionInterval: tt.decide})
			if a.decideTick != tt.want {
				t.Errorf("decide every %d ticks, want %d", a.decideTick, tt.want)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t)
	h.run()
	if err := h.a.Run(h.ctx); err == nil {
		t.Error("a second Run returned nil, want an error")
	}
}

func TestNewWithoutRequiredOptionsPanics(t *testing.T) {
	for name, opts := range map[string]Options{
		"no Sample": {Scaler: &fakeScaler{}},
		"no Scaler": {Sample: newFakeActivator().Sample},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			New(opts)
		})
	}
}
