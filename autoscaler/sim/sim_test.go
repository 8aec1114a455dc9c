package sim

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
)

func mustRead(t *testing.T, in string) *Trace {
	t.Helper()
	tr, err := Read(strings.NewReader(in), "t.csv", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func mustRun(t *testing.T, tr *Trace, opts Options) *Result {
	t.Helper()
	res, err := Run(tr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// constant is a concurrency trace holding c for n seconds.
func constant(c string, n int) string {
	var b strings.Builder
	b.WriteString("second,concurrency\n")
	for s := range n {
		b.WriteString(strings.Join([]string{strconv.Itoa(s), c}, ",") + "\n")
	}
	return b.String()
}

func config(t *testing.T, kv ...string) *autoscaler.Config {
	t.Helper()
	c := autoscaler.DefaultConfig()
	for i := 0; i < len(kv); i += 2 {
		if err := c.Set(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return &c
}

// TestSteadyLoadSettles: 35 in flight with target 10 × 70% = 7 per
// instance settles at 35/7 = 5 instances and stays there, with nothing
// queued once the first instance is up.
func TestSteadyLoadSettles(t *testing.T) {
	target := 10.0
	res := mustRun(t, mustRead(t, constant("35", 300)), Options{Scaling: api.Scaling{Target: &target}})
	last := res.Timeline[len(res.Timeline)-1]
	if last.Desired != 5 || last.Ready != 5 {
		t.Errorf("at %v: desired %d, ready %d; want 5 and 5", last.At, last.Desired, last.Ready)
	}
	for _, pt := range res.Timeline[2*60:] {
		if pt.Ready != 5 {
			t.Fatalf("at %v: %d ready, want 5 from the second minute on", pt.At, pt.Ready)
		}
	}
	// No limit per instance: once one is ready, nothing queues. Only the
	// first second, the cold start, does: 35 requests for 1s.
	if s := res.Summary; s.QueuedRequestSeconds != 35 || s.TimeQueueing != time.Second || s.ColdStarts != 1 {
		t.Errorf("queued %v request-seconds over %v with %d cold starts; want 35 over 1s, 1",
			s.QueuedRequestSeconds, s.TimeQueueing, s.ColdStarts)
	}
}

// TestArithmetic checks the summary on a trace small enough to work out
// by hand. Load 3 over [2s, 4s); stable window 2s and pod retention 1s,
// so the revision is inactive once its window is empty and goes to zero
// at the first decision 1s after that.
//
//	0-2s  nothing: no instance (2s at zero)
//	2s    3 requests queue: activation, one instance starts (1s start-up)
//	3s    it is ready; 3 request-seconds were queued
//	4s    the last sample with load; the revision is idle from here
//	6s    decision: window average 0: inactive, retention 1s, keep 1
//	8s    decision: inactive 2s ≥ 1s, to zero (instance ran 2s-8s: 6s)
//	8-10s nothing (2s more at zero: 4s in all)
//
// Decisions: the activation and the ticks at 2, 4, 6 and 8s.
func TestArithmetic(t *testing.T) {
	tr := mustRead(t, "second,concurrency\n2,3\n3,3\n")
	res := mustRun(t, tr, Options{
		Config: config(t, "stable-window", "2s", "scale-to-zero-pod-retention-period", "1s"),
		After:  6 * time.Second,
	})
	want := Summary{
		PeakLoad: 3, PeakQueue: 3, QueuedRequestSeconds: 3, InstanceSeconds: 6, PeakInstances: 1,
		TimeQueueing: time.Second, TimeAtZero: 4 * time.Second,
		Decisions: 5, ScaleUps: 1, ScaleDowns: 1, Activations: 1, ColdStarts: 1,
	}
	if diff := cmp.Diff(want, res.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	var changes []string
	for _, d := range res.Decisions {
		changes = append(changes, d.At.String()+" "+strconv.Itoa(d.Previous)+"→"+strconv.Itoa(d.Desired))
	}
	if diff := cmp.Diff([]string{"2s 0→1", "8s 1→0"}, changes); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	if res.Duration != 10*time.Second || len(res.Timeline) != 10 {
		t.Errorf("simulated %v in %d points, want 10s in 10", res.Duration, len(res.Timeline))
	}
	if pt := res.Timeline[2]; pt.Load != 3 || pt.Queue != 3 || pt.Starting != 1 || pt.Ready != 0 {
		t.Errorf("second 2: %+v, want load 3, all queued, one instance starting", pt)
	}
}

// TestContainerConcurrencyQueues: with at most 1 instance of 10 requests,
// 25 in flight leave 15 queued for good, and the activator keeps waking
// the autoscaler, once a second.
func TestContainerConcurrencyQueues(t *testing.T) {
	res := mustRun(t, mustRead(t, constant("25", 10)), Options{
		Scaling: api.Scaling{ContainerConcurrency: 10, MaxScale: ptr[int32](1)},
		Startup: []time.Duration{0},
	})
	s := res.Summary
	// A start-up of 0 is ready in the tick it was asked for, so even the
	// first tick queues only 15.
	if s.PeakQueue != 15 || s.QueuedRequestSeconds != 150 || s.Activations != 10 {
		t.Errorf("peak queue %v, %v request-seconds queued, %d activations; want 15, 15×10s = 150, one a second: 10",
			s.PeakQueue, s.QueuedRequestSeconds, s.Activations)
	}
}

func TestNewRevisionStartsAtInitialScale(t *testing.T) {
	tr := mustRead(t, "second,concurrency\n0,0\n")
	initial := int32(3)
	res := mustRun(t, tr, Options{Scaling: api.Scaling{InitialScale: &initial}, NewRevision: true,
		Startup: []time.Duration{1500 * time.Millisecond}})
	// Three instances from 0s, starting for 1.5s: they cost from the start.
	if s := res.Summary; s.InstanceSeconds != 3 || s.PeakInstances != 3 || s.TimeAtZero != 0 {
		t.Errorf("%v instance-seconds, peak %d, %v at zero; want 3, 3, 0", s.InstanceSeconds, s.PeakInstances, s.TimeAtZero)
	}
	if pt := res.Timeline[0]; pt.Starting != 3 || pt.Ready != 0 {
		t.Errorf("at 0s: %d starting, %d ready; want 3 and 0", pt.Starting, pt.Ready)
	}
}

// TestScaleToCancelsSlowestStartsFirst drives the instance model directly:
// start-up times are used in turn, and a lower count cancels the instance
// furthest from ready, then removes ready ones.
func TestScaleToCancelsSlowestStartsFirst(t *testing.T) {
	m := &model{startup: []int{10, 30}}
	m.scaleTo(0, 3) // ready at ticks 10, 30, 10
	if diff := cmp.Diff([]pending{{10, 0}, {30, 1}, {10, 2}}, m.starting, cmp.AllowUnexported(pending{})); diff != "" {
		t.Fatalf("starting (-want +got):\n%s", diff)
	}
	m.scaleTo(0, 2)
	if diff := cmp.Diff([]pending{{10, 0}, {10, 2}}, m.starting, cmp.AllowUnexported(pending{})); diff != "" {
		t.Errorf("after scaling to 2, starting (-want +got):\n%s", diff)
	}
	m.promote(10)
	m.scaleTo(10, 3) // the fourth instance started: start-up 30 again
	m.scaleTo(10, 1)
	if m.ready != 1 || len(m.starting) != 0 {
		t.Errorf("after scaling to 1: %d ready, %d starting; want the new start cancelled and one ready removed", m.ready, len(m.starting))
	}
}

func TestRunRejects(t *testing.T) {
	tr := mustRead(t, "second,concurrency\n0,1\n")
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"start-up off the tick", Options{Startup: []time.Duration{150 * time.Millisecond}},
			"simulate: start-up 150ms: must be 0 or more, in steps of 100ms"},
		{"negative start-up", Options{Startup: []time.Duration{-time.Second}},
			"simulate: start-up -1s: must be 0 or more, in steps of 100ms"},
		{"negative containerConcurrency", Options{Scaling: api.Scaling{ContainerConcurrency: -1}},
			"simulate: containerConcurrency -1: must be 0 (no limit) or more"},
		{"too long after", Options{After: 24 * time.Hour},
			"simulate: 24h0m0s after a trace of 1s: must be 0 or more, up to 24h0m0s in all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(tr, tt.opts)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
	if _, err := Run(&Trace{}, Options{}); err == nil {
		t.Error("an empty trace ran")
	}
}

func ptr[T any](v T) *T { return &v }
