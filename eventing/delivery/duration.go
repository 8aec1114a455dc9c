package delivery

import (
	"fmt"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// ParseDuration parses the ISO-8601 durations Knative's DeliverySpec uses
// ("PT0.2S", "PT1M30S", "P1DT2H", "P2W"). Only units with a fixed length are
// accepted: weeks, days (24h), hours, minutes and seconds. Years and months
// are rejected rather than approximated, and negative durations are
// rejected. The smallest unit given may carry a fraction, written with '.'
// or ',' ("PT1.5M" is 90s); fractions below a nanosecond are truncated.
//
// The rules are api/v1's, which validates the same fields in manifests:
// one parser, so a duration a manifest accepts is one delivery accepts.
func ParseDuration(s string) (time.Duration, error) {
	d, err := api.ParseISODuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid ISO-8601 duration %q: %w", s, err)
	}
	return d, nil
}
