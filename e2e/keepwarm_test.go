package e2e

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// metricSum adds up the samples of a metric in Prometheus text whose
// labels contain every one of labels (`trigger="default/warm"`).
func metricSum(text, name string, labels ...string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if i := strings.LastIndexByte(line, ' '); ok && i > 0 {
			v, _ := strconv.ParseFloat(line[i+1:], 64)
			sum += v
		}
	}
	return sum
}

// TestKeepWarmMinScaleSchedule: a function with no traffic and a
// min-scale-schedule entry firing every 30 seconds for 8 seconds gets its
// two instances in the window, then goes back to zero after it (the 6s
// window and the 1s grace) before the next one opens, which wakes it from
// zero again.
func TestKeepWarmMinScaleSchedule(t *testing.T) {
	w := startWake(t, "", "--scale-to-zero-grace-period", "1s")
	m := marker(t)
	w.apply(fn{name: "office", marker: m, annotations: map[string]string{
		api.AnnotationWindow:           "6s",
		api.AnnotationInitialScale:     "0",
		api.AnnotationMinScaleSchedule: "*/30 * * * * * for 8s -> 2",
	}}.yaml())

	start := time.Now()
	var upAt time.Time
	eventually(t, 40*time.Second, "2 instances ready in a window of the schedule", func() bool {
		n, err := w.readyInstances("office-00001")
		if err == nil && n == 2 {
			upAt = time.Now()
			return true
		}
		return false
	})
	opened := upAt.Truncate(30 * time.Second)
	t.Logf("2 ready at %s, %.1fs after the window opened at %s (%.1fs after apply)",
		upAt.Format("15:04:05.0"), upAt.Sub(opened).Seconds(), opened.Format("15:04:05"), upAt.Sub(start).Seconds())
	if got := len(processesWith(m)); got != 2 {
		t.Errorf("%d instance processes, want 2", got)
	}
	desc := w.mustCLI("describe", "revision", "office-00001")
	for _, want := range []string{"Min schedule:", "*/30 * * * * * for 8s -> 2 (min now 2)", "min-scale-schedule entry 1 holds ≥ 2"} {
		if !strings.Contains(desc, want) {
			t.Errorf("wake describe revision lacks %q:\n%s", want, desc)
		}
	}

	var downAt time.Time
	eventually(t, 25*time.Second, "back at zero with no process left after the window", func() bool {
		n, err := w.readyInstances("office-00001")
		if err == nil && n == 0 && len(processesWith(m)) == 0 {
			downAt = time.Now()
			return true
		}
		return false
	})
	t.Logf("back at 0 at %s, %.1fs after the window closed", downAt.Format("15:04:05.0"), downAt.Sub(opened.Add(8*time.Second)).Seconds())
	if downAt.Sub(opened) >= 30*time.Second {
		t.Errorf("zero only at %s, after the next window opened", downAt.Format("15:04:05.0"))
	}
	if r := w.revision("office", "office-00001"); r.Status.DesiredReplicas != 0 {
		t.Errorf("desired %d after the window, want 0", r.Status.DesiredReplicas)
	}

	// From zero, the next window scales it up again.
	eventually(t, 35*time.Second, "2 instances ready again in the next window", func() bool {
		n, err := w.readyInstances("office-00001")
		if err == nil && n == 2 {
			upAt = time.Now()
			return true
		}
		return false
	})
	t.Logf("from zero: 2 ready %.1fs after the next window opened at %s",
		upAt.Sub(upAt.Truncate(30*time.Second)).Seconds(), upAt.Truncate(30*time.Second).Format("15:04:05"))
	if n := metricSum(w.metrics(), "wake_requests_total", `function="office"`); n != 0 {
		t.Errorf("%v requests reached the function; the schedule alone should have scaled it", n)
	}
}

// TestPrewarmCronSink: two functions that take 1.5s to start and sleep
// between the fires of a cron trigger every 15 seconds. The trigger of one
// pre-warms it 4s ahead (wake.dev/prewarm); the other's says "off". Each
// fire at the second meets a cold start, not at the first.
func TestPrewarmCronSink(t *testing.T) {
	w := startWake(t, "", "--scale-to-zero-grace-period", "1s")
	events := map[string]string{}
	var manifests []string
	for _, name := range []string{"warm", "cold"} {
		mf, ev := eventFn(t, name, map[string]string{"TESTFN_START_DELAY": "1500ms"})
		// fn.yaml has no annotations field through eventFn: add the
		// short window and initial-scale 0 to its template.
		mf = strings.Replace(mf, "  template:\n", "  template:\n    metadata:\n      annotations:\n"+
			"        autoscaling.knative.dev/window: \"2s\"\n        autoscaling.knative.dev/initial-scale: \"0\"\n", 1)
		events[name] = ev
		prewarm := "4s"
		if name == "cold" {
			prewarm = "off"
		}
		manifests = append(manifests, mf, fmt.Sprintf(`apiVersion: wake.dev/v1
kind: Trigger
metadata:
  name: %s
  annotations:
    wake.dev/prewarm: %q
spec:
  cron:
    schedule: "*/15 * * * * *"
  sink:
    function: %s
`, name, prewarm, name))
	}
	w.apply(strings.Join(manifests, "---\n"))

	// Watch whether each function sleeps between fires.
	var mu sync.Mutex
	sawZero := map[string]bool{}
	stop := make(chan struct{})
	watched := make(chan struct{})
	var baseline string
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			mu.Lock()
			started := baseline != ""
			mu.Unlock()
			for _, name := range []string{"warm", "cold"} {
				if n, err := w.readyInstances(name + "-00001"); err == nil && n == 0 && started {
					mu.Lock()
					sawZero[name] = true
					mu.Unlock()
				}
			}
		}
	}()
	defer func() { close(stop); <-watched }()

	// The first fire may come less than the lead after the apply: measure
	// from the fires after it.
	eventually(t, 25*time.Second, "the first fire delivered to both", func() bool {
		return len(eventLog(t, events["warm"])) >= 1 && len(eventLog(t, events["cold"])) >= 1
	})
	first := time.Now()
	mu.Lock()
	baseline = w.metrics()
	mu.Unlock()
	eventually(t, 40*time.Second, "2 more fires delivered to both", func() bool {
		return len(eventLog(t, events["warm"])) >= 3 && len(eventLog(t, events["cold"])) >= 3
	})
	after := w.metrics()
	t.Logf("2 fires measured over %.1fs", time.Since(first).Seconds())

	type measure struct{ cold, delivered, seconds, prewarms float64 }
	delta := func(name string) measure {
		fnLabel, trigLabel := `function="`+name+`"`, `trigger="default/`+name+`"`
		d := func(metric, label string) float64 {
			return metricSum(after, metric, label) - metricSum(baseline, metric, label)
		}
		return measure{
			cold:      d("wake_cold_starts_total", fnLabel),
			delivered: d("wake_trigger_delivery_seconds_count", trigLabel),
			seconds:   d("wake_trigger_delivery_seconds_sum", trigLabel),
			prewarms:  d("wake_trigger_prewarms_total", trigLabel),
		}
	}
	warm, cold := delta("warm"), delta("cold")
	mu.Lock()
	slept := map[string]bool{"warm": sawZero["warm"], "cold": sawZero["cold"]}
	mu.Unlock()
	for name, m := range map[string]measure{"warm": warm, "cold": cold} {
		t.Logf("%s: %v events, %.3fs mean delivery, %v cold starts, %v pre-warm wakes, slept between fires: %v",
			name, m.delivered, m.seconds/max(m.delivered, 1), m.cold, m.prewarms, slept[name])
	}
	if !slept["warm"] || !slept["cold"] {
		t.Errorf("a function never went to zero between fires (warm %v, cold %v): the test proves nothing", slept["warm"], slept["cold"])
	}
	if warm.delivered < 2 || cold.delivered < 2 {
		t.Fatalf("fewer than 2 fires measured: warm %v, cold %v", warm.delivered, cold.delivered)
	}
	if warm.cold != 0 {
		t.Errorf("pre-warmed: %v cold starts in %v fires, want none", warm.cold, warm.delivered)
	}
	if warm.prewarms < warm.delivered {
		t.Errorf("pre-warmed: %v wakes for %v fires, want one or more per fire", warm.prewarms, warm.delivered)
	}
	if cold.cold < cold.delivered {
		t.Errorf("prewarm off: %v cold starts in %v fires, want one per fire", cold.cold, cold.delivered)
	}
	if cold.prewarms != 0 {
		t.Errorf("prewarm off: %v pre-warm wakes", cold.prewarms)
	}
	if w, c := warm.seconds/warm.delivered, cold.seconds/cold.delivered; w >= 1 || c < 1.5 {
		t.Errorf("mean delivery %.3fs pre-warmed, %.3fs cold; want under 1s and at least the 1.5s start", w, c)
	}
}
