package v1

import (
	"fmt"
	"strings"
)

// SourceSummary is one line about where a trigger's events come from:
// `kafka topics=a,b group=G` or `cron "*/5 * * * *" UTC`. `wake get
// triggers` and the console show it.
func (t *Trigger) SourceSummary() string {
	switch {
	case t.Spec.Kafka != nil:
		k := t.Spec.Kafka
		group := k.ConsumerGroup
		if group == "" {
			group = "-"
		}
		return fmt.Sprintf("kafka topics=%s group=%s", strings.Join(k.Topics, ","), group)
	case t.Spec.Cron != nil:
		return fmt.Sprintf("cron %q %s", t.Spec.Cron.Schedule, t.Spec.Cron.Zone())
	}
	return "-"
}

// SourceKind is "kafka" or "cron" ("-" for a trigger with neither, which
// validation refuses).
func (t *Trigger) SourceKind() string {
	switch {
	case t.Spec.Kafka != nil:
		return "kafka"
	case t.Spec.Cron != nil:
		return "cron"
	}
	return "-"
}

// RateLimitInForce is the rate limit in force, else the one asked for (a
// trigger that could not start has none in force); nil for none.
func (t *Trigger) RateLimitInForce() *float64 {
	if t.Status.RateLimit != nil {
		return t.Status.RateLimit
	}
	return t.Spec.RateLimit
}

// Zone is the schedule's time zone, UTC when none is named.
func (c *CronTrigger) Zone() string {
	if c.Timezone == "" {
		return "UTC"
	}
	return c.Timezone
}

// String is a function sink as FUNCTION or FUNCTION/TAG, else the URI
// ("-" for none).
func (s Sink) String() string {
	switch {
	case s.Function != "" && s.Tag != "":
		return s.Function + "/" + s.Tag
	case s.Function != "":
		return s.Function
	case s.URI != "":
		return s.URI
	}
	return "-"
}
