package v1

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Autoscaling annotations on spec.template.metadata, with Knative's names.
// The camelCase spellings Knative still accepts (minScale, maxScale,
// initialScale) are accepted too.
const (
	AnnotationMinScale     = "autoscaling.knative.dev/min-scale"
	AnnotationMaxScale     = "autoscaling.knative.dev/max-scale"
	AnnotationInitialScale = "autoscaling.knative.dev/initial-scale"
	AnnotationTarget       = "autoscaling.knative.dev/target"
	AnnotationWindow       = "autoscaling.knative.dev/window"
)

var legacyAnnotations = map[string]string{
	AnnotationMinScale:     "autoscaling.knative.dev/minScale",
	AnnotationMaxScale:     "autoscaling.knative.dev/maxScale",
	AnnotationInitialScale: "autoscaling.knative.dev/initialScale",
}

// Defaults and bounds of the scaling annotations.
const (
	DefaultTarget       = 100.0
	DefaultInitialScale = 1
	DefaultWindow       = 60 * time.Second
	MinWindow           = time.Second
	MaxWindow           = time.Hour
	MinTarget           = 0.01
	// MaxScaleLimit bounds every instance count one revision can ask for
	// (Knative's max-scale-limit): a manifest cannot make wake fork
	// without end. A revision with no max-scale stops there too.
	MaxScaleLimit = 1000
	// TargetUtilization is the share of the target the autoscaler aims at,
	// leaving headroom for bursts (Knative's 70% default).
	TargetUtilization = 0.7
)

// Scaling is a revision's autoscaling settings, parsed from its annotations.
type Scaling struct {
	MinScale     int32         // never fewer instances; 0 allows scale to zero
	MaxScale     int32         // never more instances; 0 means no bound
	InitialScale int32         // instances started when the revision is created
	Target       float64       // concurrent requests per instance wanted
	Window       time.Duration // the averaging window
}

// ParseScaling reads the autoscaling annotations. Every problem is
// reported, each under path (the annotations' path) and its key.
// containerConcurrency, when positive, caps the target: an instance cannot
// be asked to hold more requests than it accepts.
func ParseScaling(annotations map[string]string, containerConcurrency int64, path *field.Path) (Scaling, field.ErrorList) {
	s := Scaling{InitialScale: DefaultInitialScale, Target: DefaultTarget, Window: DefaultWindow}
	var errs field.ErrorList
	ints := []struct {
		key string
		dst *int32
	}{
		{AnnotationMinScale, &s.MinScale},
		{AnnotationMaxScale, &s.MaxScale},
		{AnnotationInitialScale, &s.InitialScale},
	}
	for _, a := range ints {
		key, v, ok, err := lookup(annotations, a.key, path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		n, perr := strconv.ParseInt(v, 10, 32)
		if perr != nil || n < 0 {
			errs = append(errs, field.Invalid(path.Key(key), v, "must be a whole number of instances, 0 or more"))
			continue
		}
		if n > MaxScaleLimit {
			errs = append(errs, field.Invalid(path.Key(key), v, fmt.Sprintf("must be at most %d (the max-scale-limit)", MaxScaleLimit)))
			continue
		}
		*a.dst = int32(n)
	}
	if s.MaxScale > 0 && s.MinScale > s.MaxScale {
		errs = append(errs, field.Invalid(path.Key(AnnotationMinScale), s.MinScale,
			fmt.Sprintf("must be at most max-scale (%d)", s.MaxScale)))
	}
	_, _, targetSet, _ := lookup(annotations, AnnotationTarget, path)
	if !targetSet && containerConcurrency > 0 {
		// As in Knative: with no target, an instance is asked to hold what
		// it accepts.
		s.Target = float64(containerConcurrency)
	}
	if _, v, ok, _ := lookup(annotations, AnnotationTarget, path); ok {
		t, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil || math.IsNaN(t) || math.IsInf(t, 0):
			errs = append(errs, field.Invalid(path.Key(AnnotationTarget), v, "must be a number of concurrent requests"))
		case t < MinTarget:
			errs = append(errs, field.Invalid(path.Key(AnnotationTarget), v, fmt.Sprintf("must be at least %v", MinTarget)))
		default:
			s.Target = t
		}
	}
	if containerConcurrency > 0 && float64(containerConcurrency) < s.Target {
		s.Target = float64(containerConcurrency)
	}
	if _, v, ok, _ := lookup(annotations, AnnotationWindow, path); ok {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(path.Key(AnnotationWindow), v, "must be a duration such as 60s or 2m"))
		case d < MinWindow || d > MaxWindow:
			errs = append(errs, field.Invalid(path.Key(AnnotationWindow), v,
				fmt.Sprintf("must be in [%v; %v] range", MinWindow, MaxWindow)))
		default:
			s.Window = d
		}
	}
	return s, errs
}

// lookup finds an annotation under its name or its legacy spelling, and
// reports an error when both are set.
func lookup(annotations map[string]string, key string, path *field.Path) (string, string, bool, *field.Error) {
	v, ok := annotations[key]
	legacy, hasLegacy := legacyAnnotations[key]
	if !hasLegacy {
		return key, v, ok, nil
	}
	lv, lok := annotations[legacy]
	switch {
	case ok && lok:
		dup := field.Duplicate(path.Key(legacy), lv)
		dup.Detail = fmt.Sprintf("set only one of %s and %s", key, legacy)
		return key, v, true, dup
	case lok:
		return legacy, lv, true, nil
	}
	return key, v, ok, nil
}

// Scaling returns the revision's parsed autoscaling settings. A stored
// revision passed validation, so errors cannot occur; were one to, the
// defaults stand for the bad annotation.
func (r *Revision) Scaling() Scaling {
	s, _ := ParseScaling(r.Annotations, int64(r.Spec.ConcurrencyLimit()), field.NewPath("metadata", "annotations"))
	return s
}
