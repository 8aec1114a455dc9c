package v1

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestParseProgressDeadline(t *testing.T) {
	path := field.NewPath("spec", "template", "metadata", "annotations")
	for _, tc := range []struct {
		value string
		want  time.Duration
		err   string
	}{
		{value: "90s", want: 90 * time.Second},
		{value: "10m", want: 10 * time.Minute},
		{value: " 2m30s ", want: 150 * time.Second},
		{value: "30", err: `must be a duration with a unit, such as "90s" or "10m"`},
		{value: "soon", err: "must be a duration with a unit"},
		{value: "0s", err: "must be positive"},
		{value: "-5s", err: "must be positive"},
		{value: "1500ms", err: "must be a whole number of seconds"},
	} {
		d, errs := ParseProgressDeadline(map[string]string{AnnotationProgressDeadline: tc.value}, path)
		if tc.err != "" {
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.err) || !strings.Contains(errs[0].Error(), AnnotationProgressDeadline) {
				t.Errorf("%q: errors %v, want one naming the annotation and saying %q", tc.value, errs, tc.err)
			}
			continue
		}
		if len(errs) != 0 || d == nil || *d != tc.want {
			t.Errorf("%q: got %v, %v; want %v", tc.value, d, errs, tc.want)
		}
	}
	if d, errs := ParseProgressDeadline(nil, path); d != nil || errs != nil {
		t.Errorf("unset: got %v, %v; want nil, nil", d, errs)
	}
	rev := &Revision{}
	rev.Annotations = map[string]string{AnnotationProgressDeadline: "45s"}
	if got := rev.ProgressDeadline(); got != 45*time.Second {
		t.Errorf("Revision.ProgressDeadline() = %v, want 45s", got)
	}
}
