package controlplane_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
)

// metricsPlane is a control plane with the real activator, autoscaler and
// router on one registry, as wake serve wires them, on a fake clock.
type metricsPlane struct {
	cp    *controlplane.ControlPlane
	rt    *router.Router
	clock *clocktesting.FakeClock
	reg   *prometheus.Registry
}

type nopScaler struct{}

func (nopScaler) Scale(context.Context, api.RevisionKey, int) error { return nil }

func newMetricsPlane(t *testing.T) *metricsPlane {
	t.Helper()
	p := &metricsPlane{clock: clocktesting.NewFakeClock(time.Unix(1_000_000, 0)), reg: prometheus.NewRegistry()}
	var act *activator.Activator
	as := autoscaler.New(autoscaler.Options{
		Sample: func(k api.RevisionKey) autoscaler.Sample {
			s := act.Sample(k)
			return autoscaler.Sample{Concurrency: s.Concurrency, InFlight: s.InFlight, Requests: s.Requests, Ready: s.Ready}
		},
		Scaler: nopScaler{}, Registerer: p.reg, Clock: p.clock,
	})
	act = activator.New(activator.Options{Waker: as, Registerer: p.reg, Clock: p.clock})
	p.rt = router.New(router.Options{Next: act})
	p.cp = controlplane.New(controlplane.Options{
		Store: openStore(t, t.TempDir()), Runtime: fakeRuntime{&events{}}, Router: p.rt, Activator: act, Autoscaler: as,
		URLPort: 8080, LocalCommands: true,
	})
	if err := p.cp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

// scrape returns /metrics as Prometheus reads it.
func (p *metricsPlane) scrape(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// seriesOf returns the scrape's lines (series, not comments) that carry a
// revision label; with rev, that revision's only.
func seriesOf(scrape, rev string) []string {
	var out []string
	for _, l := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(l, "#") || !strings.Contains(l, `revision="`+rev) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// TestMetricsScaleWithActivity: a thousand functions deployed and never
// called put no series on /metrics; a request to one brings its series,
// and them only; they stay while it is used and go SeriesIdle after its
// last activity (issue 23: 10,000 idle functions made a 135 MB scrape).
func TestMetricsScaleWithActivity(t *testing.T) {
	p := newMetricsPlane(t)
	const n = 1000
	for batch := 0; batch < n; batch += 500 {
		var docs []string
		for i := batch; i < batch+500; i++ {
			docs = append(docs, fmt.Sprintf(`apiVersion: wake.dev/v1
kind: Function
metadata:
  name: idle-%d
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/initial-scale: "0"
    spec:
      containers:
        - command: ["./fn"]
`, i))
		}
		if _, err := apply(t, p.cp, strings.Join(docs, "---\n")); err != nil {
			t.Fatal(err)
		}
	}
	// The runtime reports each revision with no instance, as it does.
	for i := 0; i < n; i++ {
		p.cp.Update(api.RevisionKey{Namespace: "default", Name: fmt.Sprintf("idle-%d-00001", i)}, runtime.State{})
	}
	if got := seriesOf(p.scrape(t), ""); len(got) != 0 {
		t.Fatalf("%d functions never called: /metrics has %d per-revision series, want none; first: %s", n, len(got), got[0])
	}

	// One function gets an instance and a request.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	defer srv.Close()
	key := api.RevisionKey{Namespace: "default", Name: "idle-7-00001"}
	p.cp.Update(key, runtime.State{Desired: 1, Ready: []runtime.Endpoint{{ID: "i1", Addr: strings.TrimPrefix(srv.URL, "http://")}}})
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "idle-7.default.localhost"
	rec := httptest.NewRecorder()
	p.rt.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("request to idle-7: %d %q", rec.Code, rec.Body)
	}
	scrape := p.scrape(t)
	for _, want := range []string{
		`wake_requests_total{code="200",function="idle-7",namespace="default",revision="idle-7-00001"} 1`,
		`wake_ready_instances{function="idle-7",namespace="default",revision="idle-7-00001"} 1`,
		`wake_request_duration_seconds_count{function="idle-7",namespace="default",revision="idle-7-00001"} 1`,
	} {
		if !strings.Contains(scrape, want+"\n") {
			t.Errorf("after a request, /metrics lacks %s", want)
		}
	}
	if all, its := seriesOf(scrape, ""), seriesOf(scrape, key.Name); len(all) != len(its) {
		t.Errorf("after a request to %s, /metrics has %d per-revision series, %d of them other revisions'", key.Name, len(all), len(all)-len(its))
	}

	// Its instance goes; its series stay for SeriesIdle after that, then go.
	p.cp.Update(key, runtime.State{})
	p.scrape(t) // the scrape that sees it idle
	p.clock.Step(activator.SeriesIdle - time.Second)
	if got := seriesOf(p.scrape(t), key.Name); len(got) == 0 {
		t.Fatalf("series gone %s after the revision went idle, want them kept for %s", activator.SeriesIdle-time.Second, activator.SeriesIdle)
	}
	p.clock.Step(time.Second)
	if got := seriesOf(p.scrape(t), ""); len(got) != 0 {
		t.Errorf("%s after the last activity, /metrics still has %d per-revision series; first: %s", activator.SeriesIdle, len(got), got[0])
	}

	// A new request brings them back, counters from zero.
	p.cp.Update(key, runtime.State{Desired: 1, Ready: []runtime.Endpoint{{ID: "i1", Addr: strings.TrimPrefix(srv.URL, "http://")}}})
	rec = httptest.NewRecorder()
	p.rt.ServeHTTP(rec, req)
	if want := `wake_requests_total{code="200",function="idle-7",namespace="default",revision="idle-7-00001"} 1`; !strings.Contains(p.scrape(t), want+"\n") {
		t.Errorf("after the revision's next request, /metrics lacks %s", want)
	}
}
