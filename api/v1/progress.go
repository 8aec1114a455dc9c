package v1

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// AnnotationProgressDeadline, on spec.template.metadata, bounds how long
// an instance of the revision may take from its start to passing its
// readiness probe; past it the instance is stopped and the revision is
// Ready=False with reason ProgressDeadlineExceeded. Knative's name and
// form: a Go duration with a unit, a whole number of seconds ("90s",
// "10m").
const AnnotationProgressDeadline = "serving.knative.dev/progress-deadline"

// ParseProgressDeadline reads the progress-deadline annotation: nil when
// it is not set, an error under path when it is not a positive whole
// number of seconds with a unit.
func ParseProgressDeadline(annotations map[string]string, path *field.Path) (*time.Duration, field.ErrorList) {
	v, ok := annotations[AnnotationProgressDeadline]
	if !ok {
		return nil, nil
	}
	bad := func(msg string) (*time.Duration, field.ErrorList) {
		return nil, field.ErrorList{field.Invalid(path.Key(AnnotationProgressDeadline), v, msg)}
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	switch {
	case err != nil:
		return bad(`must be a duration with a unit, such as "90s" or "10m"`)
	case d <= 0:
		return bad("must be positive")
	case d%time.Second != 0:
		return bad("must be a whole number of seconds")
	}
	return &d, nil
}

// ProgressDeadline returns the revision's progress deadline, or 0 when the
// annotation is not set (the runtime's default applies). A stored
// revision passed validation; were the annotation bad, 0 stands.
func (r *Revision) ProgressDeadline() time.Duration {
	d, _ := ParseProgressDeadline(r.Annotations, field.NewPath("metadata", "annotations"))
	if d == nil {
		return 0
	}
	return *d
}
