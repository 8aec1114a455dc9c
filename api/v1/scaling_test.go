package v1

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestParseScalingTarget(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		cc          int64
		want        float64
	}{
		{"default", nil, 0, DefaultTarget},
		{"containerConcurrency stands for a missing target", nil, 250, 250},
		{"containerConcurrency below the default", nil, 10, 10},
		{"an explicit target", map[string]string{AnnotationTarget: "40"}, 0, 40},
		{"an explicit target above containerConcurrency is capped", map[string]string{AnnotationTarget: "40"}, 5, 5},
	}
	for _, tc := range tests {
		s, errs := ParseScaling(tc.annotations, tc.cc, field.NewPath("a"))
		if len(errs) > 0 || s.Target != tc.want {
			t.Errorf("%s: target %v (errors %v), want %v", tc.name, s.Target, errs, tc.want)
		}
	}
}

func TestParseScalingLimit(t *testing.T) {
	_, errs := ParseScaling(map[string]string{AnnotationMinScale: "1001", AnnotationInitialScale: "5000"}, 0, field.NewPath("a"))
	if len(errs) != 2 {
		t.Errorf("got %v, want min-scale and initial-scale over the limit refused", errs)
	}
}
