package activator

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wakefn/wake/runtime"
)

func TestWaitOf(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// An instance scheduled at 0, forked at 10, up at 110, ready at 160,
	// warm at 260.
	st := &runtime.StartTimes{Scheduled: at(0), Forked: at(10), Up: at(110), Ready: at(160), WarmedUp: at(260)}
	tests := []struct {
		name              string
		arrival, dispatch time.Time
		st                *runtime.StartTimes
		atZero            bool
		want              wait
	}{
		{"woke it from zero", at(0), at(265), st, true, wait{
			total: ms(265), phases: [numPhases]time.Duration{ms(15), ms(100), ms(50), ms(100)}, started: true, cold: true}},
		{"arrived while it was starting", at(60), at(260), st, false, wait{
			total: ms(200), phases: [numPhases]time.Duration{0, ms(50), ms(50), ms(100)}, started: true, cold: true}},
		{"arrived during its warm-up", at(200), at(270), st, false, wait{
			total: ms(70), phases: [numPhases]time.Duration{ms(10), 0, 0, ms(60)}, started: true, cold: true}},
		{"it was warm before arrival: waited for capacity", at(300), at(320), st, false, wait{
			total: ms(20), phases: [numPhases]time.Duration{ms(20)}}},
		{"no warm-up: WarmedUp unset", at(0), at(170), &runtime.StartTimes{Forked: at(10), Up: at(110), Ready: at(160)}, true, wait{
			total: ms(170), phases: [numPhases]time.Duration{ms(20), ms(100), ms(50), 0}, started: true, cold: true}},
		{"untimed runtime at zero", at(0), at(100), nil, true, wait{
			total: ms(100), phases: [numPhases]time.Duration{ms(100)}, cold: true}},
		{"untimed runtime, capacity", at(0), at(100), nil, false, wait{
			total: ms(100), phases: [numPhases]time.Duration{ms(100)}}},
		{"clock skew: dispatch before arrival", at(10), at(5), nil, false, wait{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := waitOf(tc.arrival, tc.dispatch, tc.st, tc.atZero)
			if got != tc.want {
				t.Errorf("waitOf = %+v, want %+v", got, tc.want)
			}
			var sum time.Duration
			for _, d := range got.phases {
				sum += d
			}
			if sum != got.total {
				t.Errorf("phases sum to %v, want the wait %v", sum, got.total)
			}
		})
	}
}

func TestAppendServerTiming(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	cold := wait{phases: [numPhases]time.Duration{ms(1.26), ms(100), ms(0.04), 0}, started: true}
	if got, want := string(appendServerTiming(nil, cold)), "wake-queue;dur=1.3, wake-start;dur=100.0, wake-ready;dur=0.0, wake-warmup;dur=0.0"; got != want {
		t.Errorf("cold: %q, want %q", got, want)
	}
	if got, want := string(appendServerTiming(nil, wait{phases: [numPhases]time.Duration{ms(7.5)}})), "wake-queue;dur=7.5"; got != want {
		t.Errorf("capacity: %q, want %q", got, want)
	}
}

// serverTimings parses wake's Server-Timing entries into milliseconds.
func serverTimings(t *testing.T, h http.Header) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	re := regexp.MustCompile(`^(wake-[a-z]+);dur=(\d+\.\d)$`)
	for _, v := range h.Values("Server-Timing") {
		for _, e := range strings.Split(v, ",") {
			m := re.FindStringSubmatch(strings.TrimSpace(e))
			if m == nil {
				continue
			}
			f, _ := strconv.ParseFloat(m[2], 64)
			got[m[1]] = f
		}
	}
	return got
}

// A request that wakes a revision from zero learns how it waited; the
// function's own Server-Timing is kept; the next request, warm, is told
// nothing. The wake-up is kept and its phases observed once.
func TestColdStartIsReported(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 10, false), Options{})
		type answer struct {
			code int
			hdr  http.Header
			took time.Duration
		}
		done := make(chan answer)
		go func() {
			start := time.Now()
			code, _, hdr := h.get(t, context.Background(), "/")
			done <- answer{code, hdr, time.Since(start)}
		}()
		<-h.waker.woken
		// The instance's start, as the runtime would time it: all of it
		// after the request arrived.
		now := time.Now()
		st := &runtime.StartTimes{Scheduled: now, Forked: now, Up: now, Ready: now, WarmedUp: now}
		ep := backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Server-Timing", "db;dur=3")
			hello(w, r)
		}))
		ep.Started = st
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})
		a := <-done
		if a.code != 200 || a.hdr.Get("Wake-Cold-Start") != "true" {
			t.Fatalf("cold request: %d, Wake-Cold-Start %q, want 200 and true", a.code, a.hdr.Get("Wake-Cold-Start"))
		}
		timings := serverTimings(t, a.hdr)
		var sum float64
		for _, p := range []string{"wake-queue", "wake-start", "wake-ready", "wake-warmup"} {
			if _, ok := timings[p]; !ok {
				t.Errorf("Server-Timing %q has no %s", a.hdr.Values("Server-Timing"), p)
			}
			sum += timings[p]
		}
		if took := float64(a.took) / 1e6; sum > took+0.3 {
			t.Errorf("phases sum to %.1f ms, more than the request took (%.1f ms)", sum, took)
		}
		if !strings.Contains(strings.Join(a.hdr.Values("Server-Timing"), ","), "db;dur=3") {
			t.Errorf("the function's Server-Timing was lost: %q", a.hdr.Values("Server-Timing"))
		}

		code, _, hdr := h.get(t, context.Background(), "/")
		if code != 200 || hdr.Get("Wake-Cold-Start") != "" || len(serverTimings(t, hdr)) != 0 {
			t.Errorf("warm request: %d, Wake-Cold-Start %q, Server-Timing %q: want neither", code, hdr.Get("Wake-Cold-Start"), hdr.Values("Server-Timing"))
		}

		cs := h.act.ColdStarts(revKey)
		if len(cs) != 1 || cs[0].Instance != "i1" || cs[0].Total <= 0 ||
			cs[0].Queue+cs[0].Start+cs[0].Ready+cs[0].Warmup != cs[0].Total {
			t.Errorf("ColdStarts = %+v, want one by i1 whose phases sum to its total", cs)
		}
		if got := testutil.CollectAndCount(h.act.metrics.coldPhase); got != 4 {
			t.Errorf("wake_cold_start_phase_seconds has %d series, want 4 (one per phase)", got)
		}
		o := h.act.Outcomes(revKey)
		if o.Requests != 2 || o.Errors != 0 || o.Latency.Total != 1 || o.ColdLatency.Total != 1 {
			t.Errorf("Outcomes = %d requests, %d errors, %d warm and %d cold latencies; want 2, 0, 1 and 1 (the cold one apart)",
				o.Requests, o.Errors, o.Latency.Total, o.ColdLatency.Total)
		}
	})
}

// A request that waited only for capacity on a ready instance gets
// wake-queue alone, and is not cold.
func TestWaitForCapacityIsQueueOnly(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(1, 10, false), Options{})
		release := make(chan struct{})
		ep := backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hold" {
				<-release
			}
			hello(w, r)
		}))
		long := time.Now().Add(-time.Hour)
		ep.Started = &runtime.StartTimes{Scheduled: long, Forked: long, Up: long, Ready: long, WarmedUp: long}
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})
		held := make(chan int)
		go func() { code, _, _ := h.get(t, context.Background(), "/hold"); held <- code }()
		waitFor(t, "the first request in flight", func() bool { return h.act.Sample(revKey).InFlight == 1 })
		second := make(chan http.Header)
		go func() { _, _, hdr := h.get(t, context.Background(), "/"); second <- hdr }()
		<-h.waker.woken // it queued
		close(release)
		<-held
		hdr := <-second
		timings := serverTimings(t, hdr)
		if _, ok := timings["wake-queue"]; !ok || len(timings) != 1 || hdr.Get("Wake-Cold-Start") != "" {
			t.Errorf("Server-Timing %q, Wake-Cold-Start %q; want wake-queue alone and no cold start",
				hdr.Values("Server-Timing"), hdr.Get("Wake-Cold-Start"))
		}
		if cs := h.act.ColdStarts(revKey); len(cs) != 0 {
			t.Errorf("ColdStarts = %+v, want none", cs)
		}
		if o := h.act.Outcomes(revKey); o.Requests != 2 || o.Latency.Total != 2 {
			t.Errorf("Outcomes: %d requests, %d latencies; want 2 and 2", o.Requests, o.Latency.Total)
		}
	})
}

func TestOutcomesCountErrors(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		h := newHarness(t, path, testRevision(0, 1, false), Options{})
		// At zero, nothing starts: 504 after the timeout, an error that
		// waited for a start (no latency).
		if code, _, _ := h.get(t, context.Background(), "/"); code != 504 {
			t.Fatalf("got %d, want 504", code)
		}
		ep := backend(t, "i1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/fail" {
				http.Error(w, "no", http.StatusInternalServerError)
				return
			}
			hello(w, r)
		}))
		h.act.Update(revKey, runtime.State{Ready: []runtime.Endpoint{ep}})
		for _, p := range []string{"/", "/fail", "/"} {
			h.get(t, context.Background(), p)
		}
		o := h.act.Outcomes(revKey)
		if o.Requests != 4 || o.Errors != 2 || o.Latency.Total != 3 {
			t.Errorf("Outcomes: %d requests, %d errors, %d latencies; want 4, 2 and 3", o.Requests, o.Errors, o.Latency.Total)
		}
		if q := o.Latency.Quantile(0.5); q <= 0 || q > 5*time.Second {
			t.Errorf("median latency %v", q)
		}
	})
}

func TestColdStartsKeepsTheLatest(t *testing.T) {
	var l coldLog
	for i := range ColdStartsKept + 5 {
		l.add(ColdStart{Instance: fmt.Sprint(i)})
	}
	got := l.list()
	var ids []string
	for _, c := range got {
		ids = append(ids, c.Instance)
	}
	var want []string
	for i := 5; i < ColdStartsKept+5; i++ {
		want = append(want, fmt.Sprint(i))
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

func TestUnregisterDeletesPhaseSeries(t *testing.T) {
	h := newHarness(t, "fast", testRevision(0, 10, false), Options{})
	h.act.lookup(revKey).recordColdStart(time.Now(), "i1", wait{total: time.Second, phases: [numPhases]time.Duration{time.Second}, started: true})
	if got := testutil.CollectAndCount(h.act.metrics.coldPhase); got != 4 {
		t.Fatalf("%d phase series, want 4", got)
	}
	h.act.Unregister(revKey)
	if got := testutil.CollectAndCount(h.act.metrics.coldPhase); got != 0 {
		t.Errorf("%d phase series after Unregister, want 0", got)
	}
	if h.act.ColdStarts(revKey) != nil || h.act.Outcomes(revKey).Requests != 0 {
		t.Error("an unregistered revision still has cold starts or outcomes")
	}
}
