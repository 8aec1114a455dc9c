package v1

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Autoscaling annotations on spec.template.metadata, with Knative's names.
// The camelCase spellings Knative still accepts are accepted too.
const (
	AnnotationClass                   = "autoscaling.knative.dev/class"
	AnnotationMetric                  = "autoscaling.knative.dev/metric"
	AnnotationTarget                  = "autoscaling.knative.dev/target"
	AnnotationTargetUtilization       = "autoscaling.knative.dev/target-utilization-percentage"
	AnnotationWindow                  = "autoscaling.knative.dev/window"
	AnnotationPanicWindowPercentage   = "autoscaling.knative.dev/panic-window-percentage"
	AnnotationPanicThreshold          = "autoscaling.knative.dev/panic-threshold-percentage"
	AnnotationScaleDownDelay          = "autoscaling.knative.dev/scale-down-delay"
	AnnotationMinScale                = "autoscaling.knative.dev/min-scale"
	AnnotationMaxScale                = "autoscaling.knative.dev/max-scale"
	AnnotationInitialScale            = "autoscaling.knative.dev/initial-scale"
	AnnotationActivationScale         = "autoscaling.knative.dev/activation-scale"
	AnnotationScaleToZeroPodRetention = "autoscaling.knative.dev/scale-to-zero-pod-retention-period"
)

var legacyAnnotations = map[string]string{
	AnnotationMinScale:              "autoscaling.knative.dev/minScale",
	AnnotationMaxScale:              "autoscaling.knative.dev/maxScale",
	AnnotationInitialScale:          "autoscaling.knative.dev/initialScale",
	AnnotationTargetUtilization:     "autoscaling.knative.dev/targetUtilizationPercentage",
	AnnotationPanicWindowPercentage: "autoscaling.knative.dev/panicWindowPercentage",
	AnnotationPanicThreshold:        "autoscaling.knative.dev/panicThresholdPercentage",
}

// The autoscaler wake runs (Knative's KPA), and the metrics it scales on.
const (
	ClassKPA          = "kpa.autoscaling.knative.dev"
	MetricConcurrency = "concurrency"
	MetricRPS         = "rps"
)

// Bounds of the scaling settings, Knative's where it has them. The same
// bounds check the server-wide defaults (package autoscaler).
const (
	// MaxScaleLimit bounds every instance count one revision can ask for
	// (Knative's max-scale-limit): a manifest cannot make wake fork
	// without end. A revision with no max-scale stops there too.
	MaxScaleLimit = 1000
	MinTarget     = 0.01
	// MinWindow is lower than Knative's 6s: embedded mode samples its own
	// activator every second instead of scraping pods, so a 1s window has
	// data, and short windows make tests and demos quick.
	MinWindow                = time.Second
	MaxWindow                = time.Hour
	MinPanicWindowPercentage = 1.0
	MaxPanicWindowPercentage = 100.0
	MinPanicThreshold        = 110.0
	MaxPanicThreshold        = 1000.0
	MaxScaleDownDelay        = time.Hour
)

// Scaling is what a revision's annotations say about autoscaling. A nil
// field was not set: the server-wide default (autoscaler.Config) applies.
// ParseScaling fills it; package autoscaler merges it with the defaults.
type Scaling struct {
	Metric string // MetricConcurrency, MetricRPS, or "" for the default (concurrency)
	// Target is concurrent requests (or requests per second) per instance.
	Target *float64
	// TargetUtilization is the share of Target aimed at, as a fraction in
	// (0, 1] (the annotation is a percentage).
	TargetUtilization     *float64
	Window                *time.Duration
	PanicWindowPercentage *float64
	PanicThreshold        *float64 // percent, as the annotation
	ScaleDownDelay        *time.Duration
	MinScale              *int32
	MaxScale              *int32 // 0: no bound (MaxScaleLimit still holds)
	InitialScale          *int32
	ActivationScale       *int32
	ScaleToZeroRetention  *time.Duration
	// MinScaleSchedule raises MinScale at times of day (wake's
	// wake.dev/min-scale-schedule); nil: none.
	MinScaleSchedule *MinScaleSchedule
	// ContainerConcurrency is the revision's hard limit per instance (0:
	// none). With the concurrency metric it caps the target, and stands for
	// a missing one.
	ContainerConcurrency int64
}

// ParseScaling reads the autoscaling annotations. Every problem is
// reported, each under path (the annotations' path) and its key, with the
// range allowed. Durations need a unit ("30s"), as in Knative.
func ParseScaling(annotations map[string]string, containerConcurrency int64, path *field.Path) (Scaling, field.ErrorList) {
	return parseScaling(annotations, containerConcurrency, path, parseDurationWithUnit)
}

// parseScaling is ParseScaling with durations read by parseDuration.
func parseScaling(annotations map[string]string, containerConcurrency int64, path *field.Path,
	parseDuration func(string) (time.Duration, error)) (Scaling, field.ErrorList) {
	p := annotationParser{annotations: annotations, path: path, parseDuration: parseDuration}
	s := Scaling{ContainerConcurrency: containerConcurrency}
	if key, v, ok := p.lookup(AnnotationClass); ok && v != ClassKPA {
		p.invalid(key, v, fmt.Sprintf("wake's autoscaler is the KPA: the class must be %s", ClassKPA))
	}
	if key, v, ok := p.lookup(AnnotationMetric); ok {
		if v == MetricConcurrency || v == MetricRPS {
			s.Metric = v
		} else {
			p.invalid(key, v, fmt.Sprintf("must be %s or %s", MetricConcurrency, MetricRPS))
		}
	}
	s.Target = p.float(AnnotationTarget, MinTarget, math.Inf(1), "a number of requests")
	if pct := p.float(AnnotationTargetUtilization, 1, 100, "a percentage"); pct != nil {
		f := *pct / 100
		s.TargetUtilization = &f
	}
	s.Window = p.duration(AnnotationWindow, MinWindow, MaxWindow)
	s.PanicWindowPercentage = p.float(AnnotationPanicWindowPercentage, MinPanicWindowPercentage, MaxPanicWindowPercentage, "a percentage")
	s.PanicThreshold = p.float(AnnotationPanicThreshold, MinPanicThreshold, MaxPanicThreshold, "a percentage")
	s.ScaleDownDelay = p.duration(AnnotationScaleDownDelay, 0, MaxScaleDownDelay)
	s.MinScale = p.count(AnnotationMinScale, 0)
	s.MaxScale = p.count(AnnotationMaxScale, 0)
	s.InitialScale = p.count(AnnotationInitialScale, 0)
	s.ActivationScale = p.count(AnnotationActivationScale, 1)
	s.ScaleToZeroRetention = p.duration(AnnotationScaleToZeroPodRetention, 0, math.MaxInt64)
	if s.MinScale != nil && s.MaxScale != nil && *s.MaxScale > 0 && *s.MinScale > *s.MaxScale {
		key, _, _ := p.lookup(AnnotationMinScale)
		p.errs = append(p.errs, field.Invalid(path.Key(key), *s.MinScale, fmt.Sprintf("must be at most max-scale (%d)", *s.MaxScale)))
	}
	if s.ActivationScale != nil && s.MaxScale != nil && *s.MaxScale > 0 && *s.ActivationScale > *s.MaxScale {
		p.errs = append(p.errs, field.Invalid(path.Key(AnnotationActivationScale), *s.ActivationScale, fmt.Sprintf("must be at most max-scale (%d)", *s.MaxScale)))
	}
	if v, ok := annotations[AnnotationMinScaleSchedule]; ok {
		var errs field.ErrorList
		s.MinScaleSchedule, errs = ParseMinScaleSchedule(v, pick32(s.MaxScale), path.Key(AnnotationMinScaleSchedule))
		p.errs = append(p.errs, errs...)
	}
	return s, p.errs
}

func pick32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// annotationParser reads one annotation at a time, collecting errors.
type annotationParser struct {
	annotations   map[string]string
	path          *field.Path
	parseDuration func(string) (time.Duration, error)
	errs          field.ErrorList
}

// lookup finds an annotation under its name or its legacy spelling; both
// set is an error (reported once, here) and the new spelling wins.
func (p *annotationParser) lookup(key string) (string, string, bool) {
	v, ok := p.annotations[key]
	legacy, hasLegacy := legacyAnnotations[key]
	if !hasLegacy {
		return key, v, ok
	}
	lv, lok := p.annotations[legacy]
	switch {
	case ok && lok:
		dup := field.Duplicate(p.path.Key(legacy), lv)
		dup.Detail = fmt.Sprintf("set only one of %s and %s", key, legacy)
		p.errs = append(p.errs, dup)
		return key, v, true
	case lok:
		return legacy, lv, true
	}
	return key, v, ok
}

func (p *annotationParser) invalid(key, value, msg string) {
	p.errs = append(p.errs, field.Invalid(p.path.Key(key), value, msg))
}

// float reads a number in [lo, hi].
func (p *annotationParser) float(key string, lo, hi float64, what string) *float64 {
	key, v, ok := p.lookup(key)
	if !ok {
		return nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		p.invalid(key, v, "must be "+what)
	case f < lo || f > hi:
		if math.IsInf(hi, 1) {
			p.invalid(key, v, fmt.Sprintf("must be at least %v", lo))
		} else {
			p.invalid(key, v, fmt.Sprintf("must be in [%v, %v]", lo, hi))
		}
	default:
		return &f
	}
	return nil
}

// count reads a whole number of instances in [lo, MaxScaleLimit].
func (p *annotationParser) count(key string, lo int64) *int32 {
	key, v, ok := p.lookup(key)
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	switch {
	case err != nil || n < lo:
		p.invalid(key, v, fmt.Sprintf("must be a whole number of instances, %d or more", lo))
	case n > MaxScaleLimit:
		p.invalid(key, v, fmt.Sprintf("must be at most %d (the max-scale-limit)", MaxScaleLimit))
	default:
		c := int32(n)
		return &c
	}
	return nil
}

// duration reads a duration in [lo, hi] ("60s", "2m").
func (p *annotationParser) duration(key string, lo, hi time.Duration) *time.Duration {
	key, v, ok := p.lookup(key)
	if !ok {
		return nil
	}
	d, err := p.parseDuration(v)
	switch {
	case errors.Is(err, errNoUnit):
		p.invalid(key, v, fmt.Sprintf("must be a duration with a unit, such as %q", strings.TrimSpace(v)+"s"))
	case err != nil:
		p.invalid(key, v, "must be a duration such as 60s or 2m")
	case d < lo || d > hi:
		if hi == math.MaxInt64 {
			p.invalid(key, v, fmt.Sprintf("must be at least %v", lo))
		} else {
			p.invalid(key, v, fmt.Sprintf("must be in [%v; %v] range", lo, hi))
		}
	default:
		return &d
	}
	return nil
}

// errNoUnit is a duration written as a bare number.
var errNoUnit = errors.New("a duration needs a unit")

// parseDurationWithUnit reads a Go duration ("1m30s", or "0"), as Knative
// reads its duration annotations (time.ParseDuration): "30" could be
// seconds or minutes, so it is refused rather than guessed.
func parseDurationWithUnit(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if bareNumber.MatchString(s) && s != "0" {
		return 0, errNoUnit
	}
	return time.ParseDuration(s)
}

var bareNumber = regexp.MustCompile(`^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)$`)

// ParseDuration reads a Go duration ("1m30s"), or a bare whole number of
// seconds. Wake's own settings (package autoscaler) accept both; a
// manifest's annotations need the unit (ParseScaling), but a revision
// stored before they did still reads as it was (Revision.Scaling).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// Scaling returns the revision's parsed autoscaling annotations. A stored
// revision passed validation, so errors cannot occur; were one to, the
// server's default stands for the bad annotation. A bare number of seconds,
// which validation accepted before it asked for a unit, still reads.
func (r *Revision) Scaling() Scaling {
	s, _ := parseScaling(r.Annotations, int64(r.Spec.ConcurrencyLimit()), field.NewPath("metadata", "annotations"), ParseDuration)
	return s
}
