package sim

import (
	"strconv"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// spikeTrace is issue 23's spike: 300 requests/s for 20s, 100ms each.
func spikeTrace(t *testing.T) *Trace {
	t.Helper()
	var b strings.Builder
	b.WriteString("second,rps\n")
	for s := range 20 {
		b.WriteString(strconv.Itoa(s) + ",300\n")
	}
	tr, err := Read(strings.NewReader(b.String()), "spike", ReadOptions{ServiceTime: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// The spike on one warm instance (containerConcurrency 10, instances
// that take 5s to start, clients that give up after 10s): the autoscaler
// plans for the arrival rate and the backlog's drain, so nothing is lost
// with a handful of instances, not one slot per waiting request (148).
func TestSpikeSizedForTheBacklog(t *testing.T) {
	res := mustRun(t, spikeTrace(t), Options{
		Scaling: api.Scaling{ContainerConcurrency: 10}, Startup: []time.Duration{5 * time.Second},
		Warm: 1, ClientTimeout: 10 * time.Second, After: 60 * time.Second,
	})
	s := res.Summary
	t.Logf("served %.0f, lost %.0f, p50 %v, p99 %v, peak %d instances, %.1f instance-seconds",
		s.Served, s.Lost, s.LatencyP50, s.LatencyP99, s.PeakInstances, s.InstanceSeconds)
	if s.Lost > 0.5 || s.Served < 5999.5 {
		t.Errorf("served %.1f and lost %.1f of 6000, want all served", s.Served, s.Lost)
	}
	// One slot per waiting request gave p99 3.4s with 148 instances on
	// this model (and on wake serve); no worse than 1.5× that.
	if s.LatencyP99 > 5100*time.Millisecond {
		t.Errorf("p99 %v, want at most 5.1s", s.LatencyP99)
	}
	if s.PeakInstances > 20 {
		t.Errorf("peak %d instances, want at most 20 (4× the 5 the load needs)", s.PeakInstances)
	}
}
