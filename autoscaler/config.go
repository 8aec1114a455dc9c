package autoscaler

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// Config is the server-wide autoscaler configuration: the default of every
// per-revision annotation, under the names of Knative's config-autoscaler
// ConfigMap (its keys, its units, its ranges). Keys Knative has no
// server-wide default for are named after their annotation (min-scale,
// activation-scale, metric).
type Config struct {
	EnableScaleToZero bool // enable-scale-to-zero
	Metric            string
	// ContainerConcurrencyTargetDefault is the concurrency target when a
	// revision sets neither target nor containerConcurrency.
	ContainerConcurrencyTargetDefault float64
	// ContainerConcurrencyTargetFraction is the utilization aimed at with
	// the concurrency metric (container-concurrency-target-percentage, a
	// percentage in the file). The rps metric aims at 70% unless a revision
	// says otherwise, as in Knative.
	ContainerConcurrencyTargetFraction float64
	RPSTargetDefault                   float64 // requests-per-second-target-default
	StableWindow                       time.Duration
	PanicWindowPercentage              float64
	PanicThresholdPercentage           float64
	MaxScaleUpRate                     float64
	MaxScaleDownRate                   float64
	ScaleDownDelay                     time.Duration
	ScaleToZeroGracePeriod             time.Duration
	ScaleToZeroPodRetentionPeriod      time.Duration
	InitialScale                       int32
	MinScale                           int32
	MaxScale                           int32 // 0: no bound but MaxScaleLimit
	ActivationScale                    int32
}

// rpsTargetUtilization is Knative's fixed utilization for the rps metric.
const rpsTargetUtilization = 0.7

// DefaultConfig is Knative's config-autoscaler defaults.
func DefaultConfig() Config {
	return Config{
		EnableScaleToZero:                  true,
		Metric:                             api.MetricConcurrency,
		ContainerConcurrencyTargetDefault:  100,
		ContainerConcurrencyTargetFraction: 0.7,
		RPSTargetDefault:                   200,
		StableWindow:                       60 * time.Second,
		PanicWindowPercentage:              10,
		PanicThresholdPercentage:           200,
		MaxScaleUpRate:                     1000,
		MaxScaleDownRate:                   2,
		ScaleToZeroGracePeriod:             30 * time.Second,
		InitialScale:                       1,
		ActivationScale:                    1,
	}
}

// ConfigKeys lists the keys ParseConfig reads, for flags and help.
var ConfigKeys = []string{
	"enable-scale-to-zero", "metric",
	"container-concurrency-target-default", "container-concurrency-target-percentage",
	"requests-per-second-target-default", "stable-window", "panic-window-percentage",
	"panic-threshold-percentage", "max-scale-up-rate", "max-scale-down-rate",
	"scale-down-delay", "scale-to-zero-grace-period", "scale-to-zero-pod-retention-period",
	"initial-scale", "min-scale", "max-scale", "activation-scale",
}

// ignoredKeys are config-autoscaler keys that mean nothing in wake, accepted
// so that a Knative ConfigMap loads unchanged: the activator is always on
// the request path (target-burst-capacity -1), there is one autoscaler
// class, and the max-scale-limit is fixed.
var ignoredKeys = map[string]bool{
	"target-burst-capacity": true, "activator-capacity": true, "pod-autoscaler-class": true,
	"max-scale-limit": true, "allow-zero-initial-scale": true,
}

// KeyError is a bad value of one key, so that a caller can say where the
// key came from (a file, a flag).
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// ParseConfig returns DefaultConfig with the given keys set, and every
// problem at once (errors.Join of *KeyError, in key order, or the error of
// Validate), each naming its key and the range allowed. Keys that start
// with "_" (Knative's _example) are skipped; unknown keys are errors.
func ParseConfig(data map[string]string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := c.Set(k, data[k]); err != nil {
			errs = append(errs, &KeyError{Key: k, Err: err})
		}
	}
	if len(errs) == 0 {
		if err := c.Validate(); err != nil {
			return c, err
		}
	}
	return c, errors.Join(errs...)
}

// Set parses one key's value into c, checking its range.
func (c *Config) Set(key, value string) error {
	v := strings.TrimSpace(value)
	bad := func(want string) error { return fmt.Errorf("%s = %q: must be %s", key, value, want) }
	var err error
	switch key {
	case "enable-scale-to-zero":
		c.EnableScaleToZero, err = strconv.ParseBool(v)
		if err != nil {
			return bad("true or false")
		}
	case "metric":
		if v != api.MetricConcurrency && v != api.MetricRPS {
			return bad(api.MetricConcurrency + " or " + api.MetricRPS)
		}
		c.Metric = v
	case "container-concurrency-target-default":
		return setFloat(&c.ContainerConcurrencyTargetDefault, v, api.MinTarget, math.Inf(1), bad)
	case "container-concurrency-target-percentage":
		// As in Knative, a value up to 1 is a fraction (legacy), above it a percentage.
		var f float64
		if err := setFloat(&f, v, 0, 100, bad); err != nil || f == 0 {
			return bad("a percentage in (0, 100]")
		}
		if f > 1 {
			f /= 100
		}
		c.ContainerConcurrencyTargetFraction = f
	case "requests-per-second-target-default":
		return setFloat(&c.RPSTargetDefault, v, api.MinTarget, math.Inf(1), bad)
	case "stable-window":
		return setDuration(&c.StableWindow, v, api.MinWindow, api.MaxWindow, bad)
	case "panic-window-percentage":
		return setFloat(&c.PanicWindowPercentage, v, api.MinPanicWindowPercentage, api.MaxPanicWindowPercentage, bad)
	case "panic-threshold-percentage":
		return setFloat(&c.PanicThresholdPercentage, v, api.MinPanicThreshold, api.MaxPanicThreshold, bad)
	case "max-scale-up-rate":
		if err := setFloat(&c.MaxScaleUpRate, v, 1, math.Inf(1), bad); err != nil || c.MaxScaleUpRate <= 1 {
			return bad("a number greater than 1")
		}
	case "max-scale-down-rate":
		if err := setFloat(&c.MaxScaleDownRate, v, 1, math.Inf(1), bad); err != nil || c.MaxScaleDownRate <= 1 {
			return bad("a number greater than 1")
		}
	case "scale-down-delay":
		return setDuration(&c.ScaleDownDelay, v, 0, api.MaxScaleDownDelay, bad)
	case "scale-to-zero-grace-period":
		if err := setDuration(&c.ScaleToZeroGracePeriod, v, time.Nanosecond, math.MaxInt64, bad); err != nil {
			return bad("a positive duration such as 30s")
		}
	case "scale-to-zero-pod-retention-period":
		return setDuration(&c.ScaleToZeroPodRetentionPeriod, v, 0, math.MaxInt64, bad)
	case "initial-scale":
		return setCount(&c.InitialScale, v, 0, bad)
	case "min-scale":
		return setCount(&c.MinScale, v, 0, bad)
	case "max-scale":
		return setCount(&c.MaxScale, v, 0, bad)
	case "activation-scale":
		return setCount(&c.ActivationScale, v, 1, bad)
	default:
		if ignoredKeys[key] || strings.HasPrefix(key, "_") {
			return nil
		}
		return fmt.Errorf("%s: unknown autoscaler setting (known: %s)", key, strings.Join(ConfigKeys, ", "))
	}
	return nil
}

// Validate checks what no single key can: the scale bounds together.
func (c Config) Validate() error {
	if c.MaxScale > 0 && c.MinScale > c.MaxScale {
		return fmt.Errorf("min-scale = %d: must be at most max-scale (%d)", c.MinScale, c.MaxScale)
	}
	return nil
}

func setFloat(dst *float64, v string, lo, hi float64, bad func(string) error) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < lo || f > hi {
		if math.IsInf(hi, 1) {
			return bad(fmt.Sprintf("a number, at least %v", lo))
		}
		return bad(fmt.Sprintf("a number in [%v, %v]", lo, hi))
	}
	*dst = f
	return nil
}

func setDuration(dst *time.Duration, v string, lo, hi time.Duration, bad func(string) error) error {
	d, err := api.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		if hi == math.MaxInt64 {
			return bad(fmt.Sprintf("a duration such as 30s, at least %v", lo))
		}
		return bad(fmt.Sprintf("a duration such as 30s, in [%v; %v]", lo, hi))
	}
	*dst = d
	return nil
}

func setCount(dst *int32, v string, lo int64, bad func(string) error) error {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < lo || n > api.MaxScaleLimit {
		return bad(fmt.Sprintf("a whole number in [%d, %d]", lo, api.MaxScaleLimit))
	}
	*dst = int32(n)
	return nil
}

// Spec is one revision's settings: its annotations over the server's
// defaults, resolved to what the Decider computes with.
type Spec struct {
	Metric string // api.MetricConcurrency or api.MetricRPS
	// Target is what one instance is asked to carry (concurrent requests,
	// or requests per second), before utilization; TargetValue is
	// Target × utilization, the number desired counts divide by.
	Target, TargetValue float64
	StableWindow        time.Duration
	PanicWindow         time.Duration
	PanicThreshold      float64 // ratio: 2 is 200%
	MaxScaleUpRate      float64
	MaxScaleDownRate    float64
	ScaleDownDelay      time.Duration
	InitialScale        int
	MinScale            int
	MaxScale            int // never 0: MaxScaleLimit when unbounded
	ActivationScale     int
	ScaleToZero         bool
	// ContainerConcurrency is the hard limit per instance (0: none). With
	// a limit, requests beyond it wait in the activator, and the Decider
	// plans for that backlog (see Decider) rather than counting each
	// waiting request as a slot.
	ContainerConcurrency int
	// RequestTimeout is how long a request may wait and run (the
	// revision's timeoutSeconds; 0: unknown). A held backlog is planned to
	// drain before its oldest request's deadline.
	RequestTimeout time.Duration
	Grace          time.Duration // scale-to-zero-grace-period: kept, but never delays zero (the activator is always in the path)
	Retention      time.Duration // scale-to-zero-pod-retention-period
	// MinScaleSchedule raises MinScale at times of day; nil: never.
	MinScaleSchedule *api.MinScaleSchedule
}

// Spec merges a revision's annotations over c, as Knative resolves a
// PodAutoscaler's target and bounds.
func (c Config) Spec(s api.Scaling) Spec {
	sp := Spec{
		Metric:           c.Metric,
		StableWindow:     pick(s.Window, c.StableWindow),
		PanicThreshold:   pick(s.PanicThreshold, c.PanicThresholdPercentage) / 100,
		MaxScaleUpRate:   c.MaxScaleUpRate,
		MaxScaleDownRate: c.MaxScaleDownRate,
		ScaleDownDelay:   pick(s.ScaleDownDelay, c.ScaleDownDelay),
		InitialScale:     int(pick(s.InitialScale, c.InitialScale)),
		MinScale:         int(pick(s.MinScale, c.MinScale)),
		MaxScale:         int(pick(s.MaxScale, c.MaxScale)),
		ActivationScale:  int(pick(s.ActivationScale, c.ActivationScale)),
		ScaleToZero:      c.EnableScaleToZero,
		// Clamped so a bad value cannot overflow: more than the
		// max-scale limit of slots per instance means no real limit.
		ContainerConcurrency: int(min(max(s.ContainerConcurrency, 0), api.MaxContainerConcurrency)),
		Grace:                c.ScaleToZeroGracePeriod,
		Retention:            pick(s.ScaleToZeroRetention, c.ScaleToZeroPodRetentionPeriod),
		MinScaleSchedule:     s.MinScaleSchedule,
	}
	if s.Metric != "" {
		sp.Metric = s.Metric
	}
	utilization := c.ContainerConcurrencyTargetFraction
	if sp.Metric == api.MetricRPS {
		sp.Target, utilization = c.RPSTargetDefault, rpsTargetUtilization
	} else {
		sp.Target = c.ContainerConcurrencyTargetDefault
		if s.ContainerConcurrency > 0 {
			sp.Target = float64(s.ContainerConcurrency)
		}
	}
	if s.Target != nil {
		sp.Target = *s.Target
		if sp.Metric == api.MetricConcurrency && s.ContainerConcurrency > 0 {
			// An instance cannot be asked to hold more than it accepts.
			sp.Target = math.Min(sp.Target, float64(s.ContainerConcurrency))
		}
	}
	utilization = pick(s.TargetUtilization, utilization)
	sp.TargetValue = math.Max(api.MinTarget, sp.Target*utilization)
	pct := pick(s.PanicWindowPercentage, c.PanicWindowPercentage)
	// The panic window is a share of the stable window, at least one bucket.
	sp.PanicWindow = max(bucketWidth, time.Duration(float64(sp.StableWindow)*pct/100).Round(bucketWidth))
	return sp.normalize()
}

// ScaleToZeroAfter is about how long a revision must be idle before it
// goes to zero, as Knative's scaler reaches it with the activator in the
// path: the stable window (for its average to reach 0), then the
// retention period, at the next decision. The grace period does not count
// (see DefaultScaleToZeroGracePeriod).
func (s Spec) ScaleToZeroAfter() time.Duration { return s.StableWindow + s.Retention }

// MinScaleAt is the minimum in force at t: MinScale, raised by the
// min-scale-schedule entries holding at t (capped at MaxScale). entry is
// the schedule's entry that raised it (1-based), 0 when MinScale stands.
func (s Spec) MinScaleAt(t time.Time) (n, entry int) {
	m, e := s.MinScaleSchedule.At(t)
	if m := min(int(m), s.MaxScale); m > s.MinScale {
		return m, e
	}
	return s.MinScale, 0
}

// normalize closes the holes a hand-built Spec (a test's, the simulator's)
// may have, so the math never divides by zero or averages over nothing.
func (s Spec) normalize() Spec {
	d := DefaultConfig()
	if s.Metric == "" {
		s.Metric = api.MetricConcurrency
	}
	if !(s.Target >= api.MinTarget) {
		s.Target = d.ContainerConcurrencyTargetDefault
	}
	if !(s.TargetValue >= api.MinTarget) {
		s.TargetValue = s.Target * d.ContainerConcurrencyTargetFraction
	}
	if s.StableWindow < api.MinWindow {
		s.StableWindow = d.StableWindow
	}
	if s.PanicWindow < bucketWidth || s.PanicWindow > s.StableWindow {
		s.PanicWindow = max(bucketWidth, s.StableWindow/10)
	}
	if !(s.PanicThreshold > 1) {
		s.PanicThreshold = d.PanicThresholdPercentage / 100
	}
	if !(s.MaxScaleUpRate > 1) {
		s.MaxScaleUpRate = d.MaxScaleUpRate
	}
	if !(s.MaxScaleDownRate > 1) {
		s.MaxScaleDownRate = d.MaxScaleDownRate
	}
	if s.MaxScale <= 0 || s.MaxScale > api.MaxScaleLimit {
		s.MaxScale = api.MaxScaleLimit // "no bound" still stops somewhere
	}
	s.MinScale = min(max(s.MinScale, 0), s.MaxScale)
	s.InitialScale = min(max(s.InitialScale, 0), s.MaxScale)
	s.ActivationScale = min(max(s.ActivationScale, 1), s.MaxScale)
	if s.Grace <= 0 {
		s.Grace = d.ScaleToZeroGracePeriod
	}
	return s
}

func pick[T any](p *T, def T) T {
	if p != nil {
		return *p
	}
	return def
}
