// Package cron owns the schedules of wake's cron triggers (Knative's
// PingSource): it parses cron expressions in a time zone, and its Scheduler
// decides when each trigger fires, on an injected clock, with the fire times
// persisted so that a restart neither fires a schedule twice nor drops a fire
// silently.
//
// github.com/robfig/cron/v3 is used as the parser only. Its runner cannot be
// given a clock, and it forgets every run that falls while the process is
// down; the Scheduler here keeps its own loop instead.
//
// # Identity of a fire
//
// A fire is identified by its trigger name and its scheduled time: the time
// the schedule names, never the time the timer woke. A restart that repeats a
// fire repeats it with the same scheduled time, so a receiver can
// deduplicate on it (the ce-id is trigger/scheduled-time). Format the
// scheduled time in UTC or with its offset: on a fall-back day two fires can
// share a wall-clock time (see below).
//
// # Delivery semantics: at least once
//
// Before the callback starts, the scheduled time is saved as the trigger's
// Started mark; only after the callback returns (and the Run context is still
// live) does the Done mark move past it. If wake dies while a callback runs,
// the restart finds Started after Done and fires that scheduled time again,
// whatever the misfire policy. A callback may therefore run twice for one
// scheduled time; it never runs zero times unless a policy skipped it, and
// every skip is counted (Stats) and logged.
//
// # Daylight saving time
//
// Schedules follow robfig's Next, which works on wall-clock time in the
// schedule's zone. In America/New_York:
//
//   - spring forward (02:00 EST becomes 03:00 EDT): a time inside the
//     missing hour does not exist, so "30 2 * * *" does not fire that day;
//     it fires at 02:30 the day before and the day after.
//   - fall back (02:00 EDT becomes 01:00 EST): the hour 01:00-02:00 happens
//     twice, so "30 1 * * *" fires twice, at 01:30 EDT (05:30 UTC) and at
//     01:30 EST (06:30 UTC). Those are two different instants an hour apart,
//     with two different identities; this is also what Knative's PingSource
//     does, as it uses the same library.
//
// Schedules in UTC (the default) have no such days. The Scheduler never fires
// one scheduled instant twice and never schedules a time at or before the
// previous one, so a schedule cannot loop.
package cron
