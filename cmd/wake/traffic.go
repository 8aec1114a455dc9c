package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	api "github.com/wakefn/wake/api/v1"
)

// latestName stands for "the latest ready revision" in --to and --tag.
const latestName = "@latest"

func newTrafficCommand(c *client) *cobra.Command {
	var (
		ns   string
		to   []string
		tags []string
	)
	cmd := &cobra.Command{
		Use:   "traffic NAME --to REV=PERCENT ... [--tag REV=TAG ...]",
		Short: "Split a function's traffic across revisions, and tag revisions",
		Long: `Split a function's traffic across revisions, and tag revisions.

--to replaces the whole split (percents must sum to 100); without --to the
current split is kept. --tag gives a revision a tag host TAG-NAME.NAMESPACE.DOMAIN
that always reaches it. @latest names the latest ready revision.

  wake traffic hello --to hello-00001=90 --to @latest=10 --tag @latest=canary`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(to) == 0 && len(tags) == 0 {
				return fmt.Errorf("nothing to change: give --to REV=PERCENT or --tag REV=TAG")
			}
			key := api.FunctionKey{Namespace: ns, Name: args[0]}
			fn, err := c.function(cmd.Context(), key)
			if err != nil {
				return err
			}
			traffic, err := buildTraffic(fn.Spec.Traffic, to, tags)
			if err != nil {
				return err
			}
			fn, err = c.setTraffic(cmd.Context(), key, traffic)
			if err != nil {
				return err
			}
			printTraffic(cmd, fn)
			return nil
		},
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().StringArrayVar(&to, "to", nil, "REV=PERCENT (repeatable); REV may be @latest")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "REV=TAG (repeatable); REV may be @latest")
	return cmd
}

// buildTraffic computes the new spec.traffic from the current one and the
// flags. The server validates the result (sum, tags, revisions).
func buildTraffic(current []api.TrafficTarget, to, tags []string) ([]api.TrafficTarget, error) {
	var out []api.TrafficTarget
	if len(to) == 0 {
		out = append(out, current...)
	}
	for _, s := range to {
		rev, pct, ok := strings.Cut(s, "=")
		n, err := strconv.ParseInt(pct, 10, 64)
		if !ok || rev == "" || err != nil {
			return nil, fmt.Errorf("--to %q: want REV=PERCENT, e.g. hello-00001=90 or @latest=10", s)
		}
		t := target(rev)
		t.Percent = &n
		// Keep the tag the revision had.
		for _, c := range current {
			if c.Tag != "" && sameTarget(c, t) {
				t.Tag = c.Tag
			}
		}
		out = append(out, t)
	}
	for _, s := range tags {
		rev, tag, ok := strings.Cut(s, "=")
		if !ok || rev == "" || tag == "" {
			return nil, fmt.Errorf("--tag %q: want REV=TAG, e.g. @latest=canary", s)
		}
		want := target(rev)
		// A tag names one target: take it off any other first.
		for i := range out {
			if out[i].Tag == tag {
				out[i].Tag = ""
			}
		}
		placed := false
		for i := range out {
			if sameTarget(out[i], want) && out[i].Tag == "" {
				out[i].Tag, placed = tag, true
				break
			}
		}
		if !placed {
			zero := int64(0)
			want.Tag, want.Percent = tag, &zero
			out = append(out, want)
		}
	}
	return out, nil
}

func target(rev string) api.TrafficTarget {
	if rev == latestName {
		yes := true
		return api.TrafficTarget{LatestRevision: &yes}
	}
	return api.TrafficTarget{RevisionName: rev}
}

func sameTarget(a, b api.TrafficTarget) bool {
	latestA := a.LatestRevision != nil && *a.LatestRevision
	latestB := b.LatestRevision != nil && *b.LatestRevision
	return latestA == latestB && a.RevisionName == b.RevisionName
}

func printTraffic(cmd *cobra.Command, fn *api.Function) {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "traffic of %s/%s:\n", fn.Namespace, fn.Name)
	for _, t := range fn.Status.Traffic {
		line := fmt.Sprintf("  %3d%%  %s", t.PercentOrZero(), t.RevisionName)
		if t.LatestRevision != nil && *t.LatestRevision {
			line += " (latest)"
		}
		if t.Tag != "" {
			line += fmt.Sprintf("  tag %s: %s", t.Tag, t.URL)
		}
		fmt.Fprintln(out, line)
	}
}
