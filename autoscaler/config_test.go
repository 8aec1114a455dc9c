package autoscaler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
)

func TestParseConfig(t *testing.T) {
	got, err := ParseConfig(map[string]string{
		"enable-scale-to-zero": "false", "metric": "rps", "container-concurrency-target-default": "50",
		"container-concurrency-target-percentage": "80", "requests-per-second-target-default": "300",
		"stable-window": "2m", "panic-window-percentage": "5", "panic-threshold-percentage": "300",
		"max-scale-up-rate": "10", "max-scale-down-rate": "4", "scale-down-delay": "30s",
		"scale-to-zero-grace-period": "1m", "scale-to-zero-pod-retention-period": "5m",
		"initial-scale": "0", "min-scale": "1", "max-scale": "20", "activation-scale": "2",
		// As a Knative ConfigMap has them: ignored, not errors.
		"_example": "# a long comment", "target-burst-capacity": "200", "pod-autoscaler-class": "kpa.autoscaling.knative.dev",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		EnableScaleToZero: false, Metric: "rps", ContainerConcurrencyTargetDefault: 50,
		ContainerConcurrencyTargetFraction: 0.8, RPSTargetDefault: 300, StableWindow: 2 * time.Minute,
		PanicWindowPercentage: 5, PanicThresholdPercentage: 300, MaxScaleUpRate: 10, MaxScaleDownRate: 4,
		ScaleDownDelay: 30 * time.Second, ScaleToZeroGracePeriod: time.Minute, ScaleToZeroPodRetentionPeriod: 5 * time.Minute,
		InitialScale: 0, MinScale: 1, MaxScale: 20, ActivationScale: 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseConfig (-want +got):\n%s", diff)
	}
	if c, _ := ParseConfig(map[string]string{"container-concurrency-target-percentage": "0.5"}); c.ContainerConcurrencyTargetFraction != 0.5 {
		t.Errorf("a percentage up to 1 is a fraction, as in Knative: got %v", c.ContainerConcurrencyTargetFraction)
	}
}

func TestParseConfigErrors(t *testing.T) {
	_, err := ParseConfig(map[string]string{
		"stable-window": "0s", "panic-threshold-percentage": "50", "max-scale-up-rate": "1",
		"scale-to-zero-grace-period": "0s", "max-scale": "5000", "metric": "cpu", "stabel-window": "60s",
		"container-concurrency-target-percentage": "0",
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`stable-window = "0s": must be a duration such as 30s, in [1s; 1h0m0s]`,
		`panic-threshold-percentage = "50": must be a number in [110, 1000]`,
		`max-scale-up-rate = "1": must be a number greater than 1`,
		`scale-to-zero-grace-period = "0s": must be a positive duration such as 30s`,
		`max-scale = "5000": must be a whole number in [0, 1000]`,
		`metric = "cpu": must be concurrency or rps`,
		`stabel-window: unknown autoscaler setting (known: enable-scale-to-zero, metric,`,
		`container-concurrency-target-percentage = "0": must be a percentage in (0, 100]`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if _, err := ParseConfig(map[string]string{"min-scale": "3", "max-scale": "2"}); err == nil || !strings.Contains(err.Error(), "min-scale = 3: must be at most max-scale (2)") {
		t.Errorf("min above max: %v", err)
	}
}

func TestConfigSpec(t *testing.T) {
	tests := []struct {
		name          string
		ann           map[string]string
		cc            int64
		config        []string
		target, value float64
	}{
		{name: "defaults", target: 100, value: 70},
		{name: "containerConcurrency stands for a missing target", cc: 10, target: 10, value: 7},
		{name: "containerConcurrency above the default target", cc: 250, target: 250, value: 175},
		{name: "an explicit target", ann: map[string]string{api.AnnotationTarget: "40"}, target: 40, value: 28},
		{name: "an explicit target above containerConcurrency is capped", ann: map[string]string{api.AnnotationTarget: "40"}, cc: 5, target: 5, value: 3.5},
		{name: "utilization annotation", ann: map[string]string{api.AnnotationTargetUtilization: "50"}, target: 100, value: 50},
		{name: "utilization from the config", config: []string{"container-concurrency-target-percentage", "90"}, target: 100, value: 90},
		{name: "rps default target at 70%", ann: map[string]string{api.AnnotationMetric: "rps"}, cc: 5, target: 200, value: 140},
		{name: "rps ignores the concurrency utilization", ann: map[string]string{api.AnnotationMetric: "rps"}, config: []string{"container-concurrency-target-percentage", "90"}, target: 200, value: 140},
		{name: "rps target is not capped by containerConcurrency", ann: map[string]string{api.AnnotationMetric: "rps", api.AnnotationTarget: "50"}, cc: 5, target: 50, value: 35},
		{name: "rps from the config", config: []string{"metric", "rps", "requests-per-second-target-default", "100"}, target: 100, value: 70},
		{name: "the target never drops below 0.01", ann: map[string]string{api.AnnotationTarget: "0.01", api.AnnotationTargetUtilization: "1"}, target: 0.01, value: 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec(t, tt.ann, tt.cc, tt.config...)
			if s.Target != tt.target || s.TargetValue-tt.value > 1e-9 || tt.value-s.TargetValue > 1e-9 {
				t.Errorf("target %v → %v, want %v → %v", s.Target, s.TargetValue, tt.target, tt.value)
			}
		})
	}

	s := spec(t, map[string]string{api.AnnotationWindow: "30s", api.AnnotationPanicWindowPercentage: "20"}, 0)
	if s.StableWindow != 30*time.Second || s.PanicWindow != 6*time.Second {
		t.Errorf("windows %v / %v, want 30s / 6s", s.StableWindow, s.PanicWindow)
	}
	if s := spec(t, map[string]string{api.AnnotationWindow: "5s"}, 0); s.PanicWindow != time.Second {
		t.Errorf("10%% of 5s: panic window %v, want at least one 1s bucket", s.PanicWindow)
	}
	bounds := spec(t, map[string]string{api.AnnotationMaxScale: "4"}, 0, "min-scale", "2", "initial-scale", "3", "max-scale", "10")
	if bounds.MinScale != 2 || bounds.MaxScale != 4 || bounds.InitialScale != 3 {
		t.Errorf("bounds %d..%d initial %d, want the annotation's max 4 over the config's 10, min 2 and initial 3 from the config",
			bounds.MinScale, bounds.MaxScale, bounds.InitialScale)
	}
	if s := spec(t, nil, 0); s.MaxScale != api.MaxScaleLimit {
		t.Errorf("no max-scale: %d, want the limit %d", s.MaxScale, api.MaxScaleLimit)
	}
	if s := spec(t, nil, 0, "min-scale", "5"); s.MinScale != 5 {
		t.Errorf("min-scale from the config: %d", s.MinScale)
	}
	if s := spec(t, map[string]string{api.AnnotationMaxScale: "2"}, 0, "min-scale", "5"); s.MinScale != 2 {
		t.Errorf("a config min-scale above a revision's max-scale: min %d, want clamped to 2", s.MinScale)
	}
}
