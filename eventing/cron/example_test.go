package cron_test

import (
	"fmt"
	"time"

	"github.com/wakefn/wake/eventing/cron"
)

func ExampleParseSchedule() {
	s, err := cron.ParseSchedule("30 1 * * *", "America/New_York")
	if err != nil {
		panic(err)
	}
	// The fall-back day has two 01:30s, an hour apart.
	t := time.Date(2026, 11, 1, 0, 0, 0, 0, s.Location())
	for range 3 {
		t = s.Next(t)
		fmt.Println(t.Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}

	_, err = cron.ParseSchedule("0 25 * * *", "")
	fmt.Println(err)
	// Output:
	// 2026-11-01T01:30:00-04:00 2026-11-01T05:30:00Z
	// 2026-11-01T01:30:00-05:00 2026-11-01T06:30:00Z
	// 2026-11-02T01:30:00-05:00 2026-11-02T06:30:00Z
	// invalid cron schedule: "0 25 * * *": end of range (25) above maximum (23): 25
}
