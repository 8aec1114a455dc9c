// Package rollout owns progressive rollouts: the step schedule of
// Knative's serving.knative.dev/rollout-duration, the analysis that
// compares a new revision (the canary) with the one it replaces (the
// stable revision) over each step, and the state machine from the first
// step to success, rollback, pause or abort. It is pure: no goroutines, no
// I/O, time passed in. The control plane drives it with its clock and the
// activator's per-revision counters, and stores the status it keeps.
package rollout

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Annotations on a function's metadata that configure its rollouts.
const (
	// AnnotationDuration is Knative's: how long moving the traffic from
	// the stable revision to a new one takes ("380s", "5m"). Unset or 0:
	// a new revision takes all its traffic at once.
	AnnotationDuration = "serving.knative.dev/rollout-duration"
	// AnnotationMinStep is the shortest step, which is also the shortest
	// analysis window (default 5s).
	AnnotationMinStep = "wake.dev/rollout-min-step"
	// AnnotationMaxErrorIncrease is how many percentage points the
	// canary's 5xx rate may exceed the stable revision's (default 1).
	AnnotationMaxErrorIncrease = "wake.dev/rollout-max-error-increase"
	// AnnotationMaxLatencyIncrease is how many percent the canary's p95
	// latency may exceed the stable revision's (default 50).
	AnnotationMaxLatencyIncrease = "wake.dev/rollout-max-latency-increase"
	// AnnotationLatencySlack is added to the allowed p95, so that noise
	// on a sub-millisecond function does not fail it (default 5ms).
	AnnotationLatencySlack = "wake.dev/rollout-latency-slack"
	// AnnotationMinRequests is how many canary requests a step needs for
	// a verdict; with fewer the step is held (default 20).
	AnnotationMinRequests = "wake.dev/rollout-min-requests"
)

// Defaults of the settings.
const (
	DefaultMinStep            = 5 * time.Second
	DefaultMaxErrorIncrease   = 0.01
	DefaultMaxLatencyIncrease = 0.5
	DefaultLatencySlack       = 5 * time.Millisecond
	DefaultMinRequests        = 20
)

// Config is a function's rollout settings.
type Config struct {
	Duration           time.Duration
	MinStep            time.Duration
	MaxErrorIncrease   float64 // a fraction: 0.01 is one percentage point
	MaxLatencyIncrease float64 // a fraction: 0.5 allows p95 × 1.5
	LatencySlack       time.Duration
	MinRequests        int64
}

// Enabled tells whether new revisions roll out progressively.
func (c Config) Enabled() bool { return c.Duration > 0 }

// ParseConfig reads the rollout annotations of a function. Every problem
// is reported under path (the annotations' path) and its key.
func ParseConfig(annotations map[string]string, path *field.Path) (Config, field.ErrorList) {
	c := Config{
		MinStep: DefaultMinStep, MaxErrorIncrease: DefaultMaxErrorIncrease,
		MaxLatencyIncrease: DefaultMaxLatencyIncrease, LatencySlack: DefaultLatencySlack,
		MinRequests: DefaultMinRequests,
	}
	var errs field.ErrorList
	duration := func(key string, min, max time.Duration, dst *time.Duration) {
		v, ok := annotations[key]
		if !ok {
			return
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(path.Key(key), v, "want a duration such as 90s or 5m"))
		case d < min || d > max:
			errs = append(errs, field.Invalid(path.Key(key), v, fmt.Sprintf("must be between %v and %v", min, max)))
		default:
			*dst = d
		}
	}
	percent := func(key string, max float64, dst *float64) {
		v, ok := annotations[key]
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), "%"), 64)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(path.Key(key), v, "want a number of percent such as 1 or 2.5"))
		case f < 0 || f > max:
			errs = append(errs, field.Invalid(path.Key(key), v, fmt.Sprintf("must be between 0 and %v", max)))
		default:
			*dst = f / 100
		}
	}
	duration(AnnotationDuration, 0, 24*time.Hour, &c.Duration)
	duration(AnnotationMinStep, time.Second, time.Hour, &c.MinStep)
	duration(AnnotationLatencySlack, 0, time.Minute, &c.LatencySlack)
	percent(AnnotationMaxErrorIncrease, 100, &c.MaxErrorIncrease)
	percent(AnnotationMaxLatencyIncrease, 10000, &c.MaxLatencyIncrease)
	if v, ok := annotations[AnnotationMinRequests]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 1 || n > 1_000_000 {
			errs = append(errs, field.Invalid(path.Key(AnnotationMinRequests), v, "want a whole number from 1 to 1000000"))
		} else {
			c.MinRequests = n
		}
	}
	return c, errs
}

// Schedule returns the size and length of the steps after the first,
// Knative's way: the first step sends 1% to the canary; the remaining 99%
// move in equal steps of at least 1%, as many as fit in the duration at
// one per MinStep, the last step landing at the end of the duration.
func (c Config) Schedule() (percent int64, every time.Duration) {
	const toMove = 99.0
	steps := float64(c.Duration) / float64(c.MinStep)
	if steps < 1 {
		steps = 1
	}
	size := int64(toMove/steps + 0.5)
	if size < 1 {
		size = 1
	}
	n := (99 + size - 1) / size // steps needed at that size
	return size, c.Duration / time.Duration(n)
}
