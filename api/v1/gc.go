package v1

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RevisionGC is when a function's non-active revisions (no traffic, no
// tag, not the latest ready one) are deleted: Knative's config-gc, with
// its four settings and defaults. A revision is stale once it is older
// than RetainSinceCreateTime and was last active longer than
// RetainSinceLastActiveTime ago; stale ones go, oldest first, while more
// than MinNonActiveRevisions non-active revisions remain; past that, the
// least recently active beyond MaxNonActiveRevisions go whether stale or
// not. Disabled (-1) turns a setting off.
type RevisionGC struct {
	RetainSinceCreateTime     time.Duration
	RetainSinceLastActiveTime time.Duration
	MinNonActiveRevisions     int
	MaxNonActiveRevisions     int
}

// Disabled turns a RevisionGC setting off: "disabled" in flags and
// annotations, as in Knative's config-gc.
const Disabled = -1

// DefaultRevisionGC is Knative serving's config-gc defaults
// (pkg/gc/config.go): 48h, 15h, 20 and 1000. With them nothing younger
// than two days is collected, and a function keeps its 20 most recently
// active non-active revisions whatever their age.
var DefaultRevisionGC = RevisionGC{
	RetainSinceCreateTime:     48 * time.Hour,
	RetainSinceLastActiveTime: 15 * time.Hour,
	MinNonActiveRevisions:     20,
	MaxNonActiveRevisions:     1000,
}

// The per-function overrides of the server's RevisionGC, on a function's
// metadata.annotations, named after Knative's config-gc keys. Knative
// sets these only cluster-wide; wake lets a function set its own.
const (
	AnnotationRetainSinceCreateTime     = "serving.knative.dev/retain-since-create-time"
	AnnotationRetainSinceLastActiveTime = "serving.knative.dev/retain-since-last-active-time"
	AnnotationMinNonActiveRevisions     = "serving.knative.dev/min-non-active-revisions"
	AnnotationMaxNonActiveRevisions     = "serving.knative.dev/max-non-active-revisions"
)

// AnnotationNoGC, "true" on a revision (spec.template.metadata.annotations),
// keeps it from ever being collected: Knative's name.
const AnnotationNoGC = "serving.knative.dev/no-gc"

// Validate reports a setting out of range, by its config-gc name (the
// `wake serve` flag is --revision-gc-NAME).
func (g RevisionGC) Validate() error {
	switch {
	case g.RetainSinceCreateTime < 0 && g.RetainSinceCreateTime != Disabled:
		return fmt.Errorf("retain-since-create-time = %v, must be a duration >= 0 or disabled", g.RetainSinceCreateTime)
	case g.RetainSinceLastActiveTime < 0 && g.RetainSinceLastActiveTime != Disabled:
		return fmt.Errorf("retain-since-last-active-time = %v, must be a duration >= 0 or disabled", g.RetainSinceLastActiveTime)
	case g.MinNonActiveRevisions < 0:
		return fmt.Errorf("min-non-active-revisions = %d, must be >= 0", g.MinNonActiveRevisions)
	case g.MaxNonActiveRevisions < 0 && g.MaxNonActiveRevisions != Disabled:
		return fmt.Errorf("max-non-active-revisions = %d, must be >= 0 or disabled", g.MaxNonActiveRevisions)
	case g.MaxNonActiveRevisions != Disabled && g.MaxNonActiveRevisions < g.MinNonActiveRevisions:
		return fmt.Errorf("max-non-active-revisions = %d, must be >= min-non-active-revisions (%d) or disabled",
			g.MaxNonActiveRevisions, g.MinNonActiveRevisions)
	}
	return nil
}

// ParseGCDuration reads a retain-since setting: a Go duration, or
// "disabled" (Disabled).
func ParseGCDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "disabled") {
		return Disabled, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf(`must be a duration with a unit, such as "48h", or "disabled"`)
	case d < 0:
		return 0, fmt.Errorf(`must not be negative (use "disabled" to turn it off)`)
	}
	return d, nil
}

// ParseGCCount reads a non-active-revisions setting: a whole number >= 0,
// or, where disabledOK, "disabled" (Disabled).
func ParseGCCount(s string, disabledOK bool) (int, error) {
	s = strings.TrimSpace(s)
	if disabledOK && strings.EqualFold(s, "disabled") {
		return Disabled, nil
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil && disabledOK:
		return 0, fmt.Errorf(`must be a whole number >= 0 or "disabled"`)
	case err != nil:
		return 0, fmt.Errorf("must be a whole number >= 0")
	case n < 0:
		return 0, fmt.Errorf("must be >= 0")
	}
	return n, nil
}

// ParseRevisionGC returns base with a function's annotations over it, and
// every bad annotation under path (metadata.annotations). When the
// annotations set both counts, max below min is an error; when one comes
// from base and the pair disagrees, the maximum is raised to the minimum,
// so that a function asking to keep more than the server's maximum keeps
// what it asked for.
func ParseRevisionGC(annotations map[string]string, base RevisionGC, path *field.Path) (RevisionGC, field.ErrorList) {
	g := base
	var errs field.ErrorList
	bad := func(key string, err error) {
		errs = append(errs, field.Invalid(path.Key(key), annotations[key], err.Error()))
	}
	if v, ok := annotations[AnnotationRetainSinceCreateTime]; ok {
		if d, err := ParseGCDuration(v); err != nil {
			bad(AnnotationRetainSinceCreateTime, err)
		} else {
			g.RetainSinceCreateTime = d
		}
	}
	if v, ok := annotations[AnnotationRetainSinceLastActiveTime]; ok {
		if d, err := ParseGCDuration(v); err != nil {
			bad(AnnotationRetainSinceLastActiveTime, err)
		} else {
			g.RetainSinceLastActiveTime = d
		}
	}
	vMin, setMin := annotations[AnnotationMinNonActiveRevisions]
	if setMin {
		if n, err := ParseGCCount(vMin, false); err != nil {
			bad(AnnotationMinNonActiveRevisions, err)
			setMin = false
		} else {
			g.MinNonActiveRevisions = n
		}
	}
	vMax, setMax := annotations[AnnotationMaxNonActiveRevisions]
	if setMax {
		if n, err := ParseGCCount(vMax, true); err != nil {
			bad(AnnotationMaxNonActiveRevisions, err)
			setMax = false
		} else {
			g.MaxNonActiveRevisions = n
		}
	}
	if g.MaxNonActiveRevisions != Disabled && g.MaxNonActiveRevisions < g.MinNonActiveRevisions {
		if setMin && setMax {
			errs = append(errs, field.Invalid(path.Key(AnnotationMaxNonActiveRevisions), vMax,
				fmt.Sprintf("must be >= %s (%d) or \"disabled\"", AnnotationMinNonActiveRevisions, g.MinNonActiveRevisions)))
		}
		g.MaxNonActiveRevisions = g.MinNonActiveRevisions
	}
	return g, errs
}

// NoGC reports that the revision asked never to be collected.
func (r *Revision) NoGC() bool { return strings.EqualFold(r.Annotations[AnnotationNoGC], "true") }
