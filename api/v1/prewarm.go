package v1

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// AnnotationPrewarm, on a cron trigger whose sink is a function, says how
// long before each fire wake wakes the function, so the event meets a
// ready instance instead of a cold start: a Go duration ("30s"), or "off".
// Without it the lead is max(10s, twice the sink's last observed start).
const AnnotationPrewarm = "wake.dev/prewarm"

// Bounds of the wake.dev/prewarm lead.
const (
	MinPrewarmLead = time.Second
	MaxPrewarmLead = 24 * time.Hour
)

// Prewarm reads a trigger's wake.dev/prewarm annotation: set says it is
// there, off that it turns pre-warming off, lead the duration it names.
// A stored trigger passed validation; an unreadable value reads as unset.
func (t *Trigger) Prewarm() (lead time.Duration, off, set bool) {
	v, ok := t.Annotations[AnnotationPrewarm]
	if !ok {
		return 0, false, false
	}
	lead, off, err := parsePrewarm(v)
	if err != nil {
		return 0, false, false
	}
	return lead, off, true
}

func parsePrewarm(v string) (time.Duration, bool, error) {
	v = strings.TrimSpace(v)
	if v == "off" {
		return 0, true, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, false, fmt.Errorf(`must be a duration such as 30s or 2m, or "off"`)
	}
	if d < MinPrewarmLead || d > MaxPrewarmLead {
		return 0, false, fmt.Errorf("must be in [%v; %v] range, or \"off\"", MinPrewarmLead, MaxPrewarmLead)
	}
	return d, false, nil
}

// validatePrewarm checks the wake.dev/prewarm annotation of a trigger.
func (t *Trigger) validatePrewarm(path *field.Path) field.ErrorList {
	v, ok := t.Annotations[AnnotationPrewarm]
	if !ok {
		return nil
	}
	p := path.Key(AnnotationPrewarm)
	if _, _, err := parsePrewarm(v); err != nil {
		return field.ErrorList{field.Invalid(p, v, err.Error())}
	}
	if t.Spec.Cron == nil || t.Spec.Sink.Function == "" {
		return field.ErrorList{field.Forbidden(p, "applies to cron triggers whose sink is a function only")}
	}
	return nil
}
