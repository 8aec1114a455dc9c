package v1

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestParseScaling(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int32) *int32 { return &v }
	d := func(v time.Duration) *time.Duration { return &v }
	ann := map[string]string{
		AnnotationClass: ClassKPA, AnnotationMetric: "rps", AnnotationTarget: "40",
		AnnotationTargetUtilization: "85", AnnotationWindow: "2m", AnnotationPanicWindowPercentage: "20",
		AnnotationPanicThreshold: "150", AnnotationScaleDownDelay: "15m", AnnotationMinScale: "1",
		AnnotationMaxScale: "9", AnnotationInitialScale: "0", AnnotationActivationScale: "2",
		AnnotationScaleToZeroPodRetention: "90s",
	}
	got, errs := ParseScaling(ann, 12, field.NewPath("a"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := Scaling{
		Metric: "rps", Target: f(40), TargetUtilization: f(0.85), Window: d(2 * time.Minute),
		PanicWindowPercentage: f(20), PanicThreshold: f(150), ScaleDownDelay: d(15 * time.Minute),
		MinScale: i(1), MaxScale: i(9), InitialScale: i(0), ActivationScale: i(2),
		ScaleToZeroRetention: d(90 * time.Second), ContainerConcurrency: 12,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseScaling (-want +got):\n%s", diff)
	}
	if s, errs := ParseScaling(nil, 0, field.NewPath("a")); len(errs) > 0 || !cmp.Equal(s, Scaling{}) {
		t.Errorf("no annotations: %+v %v, want all unset", s, errs)
	}
	legacy, errs := ParseScaling(map[string]string{"autoscaling.knative.dev/minScale": "2", "autoscaling.knative.dev/targetUtilizationPercentage": "50"}, 0, field.NewPath("a"))
	if len(errs) > 0 || *legacy.MinScale != 2 || *legacy.TargetUtilization != 0.5 {
		t.Errorf("legacy spellings: %+v %v", legacy, errs)
	}
}

func TestParseScalingErrors(t *testing.T) {
	ann := map[string]string{
		AnnotationClass: "hpa.autoscaling.knative.dev", AnnotationMetric: "cpu", AnnotationTarget: "0",
		AnnotationTargetUtilization: "150", AnnotationWindow: "0.5s", AnnotationPanicWindowPercentage: "0",
		AnnotationPanicThreshold: "100", AnnotationScaleDownDelay: "2h", AnnotationMinScale: "1001",
		AnnotationInitialScale: "-1", AnnotationActivationScale: "0",
		AnnotationScaleToZeroPodRetention: "-1s",
	}
	_, errs := ParseScaling(ann, 0, field.NewPath("a"))
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		`a[autoscaling.knative.dev/class]: Invalid value: "hpa.autoscaling.knative.dev": wake's autoscaler is the KPA: the class must be kpa.autoscaling.knative.dev`,
		`a[autoscaling.knative.dev/metric]: Invalid value: "cpu": must be concurrency or rps`,
		`a[autoscaling.knative.dev/target]: Invalid value: "0": must be at least 0.01`,
		`a[autoscaling.knative.dev/target-utilization-percentage]: Invalid value: "150": must be in [1, 100]`,
		`a[autoscaling.knative.dev/window]: Invalid value: "0.5s": must be in [1s; 1h0m0s] range`,
		`a[autoscaling.knative.dev/panic-window-percentage]: Invalid value: "0": must be in [1, 100]`,
		`a[autoscaling.knative.dev/panic-threshold-percentage]: Invalid value: "100": must be in [110, 1000]`,
		`a[autoscaling.knative.dev/scale-down-delay]: Invalid value: "2h": must be in [0s; 1h0m0s] range`,
		`a[autoscaling.knative.dev/min-scale]: Invalid value: "1001": must be at most 1000 (the max-scale-limit)`,
		`a[autoscaling.knative.dev/initial-scale]: Invalid value: "-1": must be a whole number of instances, 0 or more`,
		`a[autoscaling.knative.dev/activation-scale]: Invalid value: "0": must be a whole number of instances, 1 or more`,
		`a[autoscaling.knative.dev/scale-to-zero-pod-retention-period]: Invalid value: "-1s": must be at least 0s`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	_, errs = ParseScaling(map[string]string{AnnotationMinScale: "5", AnnotationMaxScale: "2", AnnotationActivationScale: "3"}, 0, field.NewPath("a"))
	if len(errs) != 2 {
		t.Errorf("min-scale and activation-scale above max-scale: %v, want both refused", errs)
	}
}

// TestDurationsNeedAUnit: as in Knative, a duration annotation needs a
// unit: "30" is refused with the fix in the message (issue 21: it was
// taken as seconds). A revision stored before still reads it so.
func TestDurationsNeedAUnit(t *testing.T) {
	path := field.NewPath("spec", "template", "metadata", "annotations")
	for _, key := range []string{AnnotationWindow, AnnotationScaleDownDelay, AnnotationScaleToZeroPodRetention} {
		_, errs := ParseScaling(map[string]string{key: "30"}, 0, path)
		want := []string{`spec.template.metadata.annotations[` + key + `]: must be a duration with a unit, such as "30s", got "30"`}
		var got []string
		for _, e := range NewErrors(errs) {
			got = append(got, e.String())
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: 30 (-want +got):\n%s", key, diff)
		}
	}
	for _, v := range []string{"0", "30s", "1m30s", " 2m "} {
		if _, errs := ParseScaling(map[string]string{AnnotationScaleDownDelay: v}, 0, path); len(errs) > 0 {
			t.Errorf("scale-down-delay %q: %v, want it accepted", v, errs)
		}
	}
	stored := &Revision{}
	stored.Annotations = map[string]string{AnnotationWindow: "30"}
	if w := stored.Scaling().Window; w == nil || *w != 30*time.Second {
		t.Errorf("a stored revision's window \"30\" reads as %v, want 30s", w)
	}
}
