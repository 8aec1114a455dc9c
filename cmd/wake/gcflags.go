package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// gcFlags are wake serve's revision collector settings: Knative's
// config-gc keys, each as --revision-gc-KEY, with its defaults; a
// function's serving.knative.dev/KEY annotation overrides each.
type gcFlags struct {
	createTime, lastActiveTime string
	minNonActive               int
	maxNonActive               string
	interval                   time.Duration
}

func (g *gcFlags) addFlags(f *pflag.FlagSet) {
	d := api.DefaultRevisionGC
	f.StringVar(&g.createTime, "revision-gc-retain-since-create-time", d.RetainSinceCreateTime.String(),
		`a non-active revision younger than this is not collected (Knative's retain-since-create-time), or "disabled"`)
	f.StringVar(&g.lastActiveTime, "revision-gc-retain-since-last-active-time", d.RetainSinceLastActiveTime.String(),
		`a revision routed more recently than this is not collected (Knative's retain-since-last-active-time), or "disabled"`)
	f.IntVar(&g.minNonActive, "revision-gc-min-non-active-revisions", d.MinNonActiveRevisions,
		"non-active revisions each function keeps whatever their age (Knative's min-non-active-revisions)")
	f.StringVar(&g.maxNonActive, "revision-gc-max-non-active-revisions", fmt.Sprint(d.MaxNonActiveRevisions),
		`non-active revisions past which the least recently active go, stale or not (Knative's max-non-active-revisions), or "disabled"`)
	f.DurationVar(&g.interval, "revision-gc-interval", controlplane.DefaultRevisionGCInterval,
		"how often revisions are swept: unrouted ones at zero are retired (kept as metadata only) and stale ones collected")
}

// config returns the settings, or an error naming the flag that is wrong.
func (g *gcFlags) config() (api.RevisionGC, error) {
	var c api.RevisionGC
	var err error
	if c.RetainSinceCreateTime, err = api.ParseGCDuration(g.createTime); err != nil {
		return c, fmt.Errorf("--revision-gc-retain-since-create-time %q: %w", g.createTime, err)
	}
	if c.RetainSinceLastActiveTime, err = api.ParseGCDuration(g.lastActiveTime); err != nil {
		return c, fmt.Errorf("--revision-gc-retain-since-last-active-time %q: %w", g.lastActiveTime, err)
	}
	c.MinNonActiveRevisions = g.minNonActive
	if c.MaxNonActiveRevisions, err = api.ParseGCCount(g.maxNonActive, true); err != nil {
		return c, fmt.Errorf("--revision-gc-max-non-active-revisions %q: %w", g.maxNonActive, err)
	}
	if g.interval <= 0 {
		return c, fmt.Errorf("--revision-gc-interval %v: must be positive", g.interval)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("--revision-gc-%w", err)
	}
	return c, nil
}
