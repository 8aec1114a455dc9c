package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	api "github.com/wakefn/wake/api/v1"
)

// latestName stands for "the latest ready revision" in --to and --tag.
const latestName = "@latest"

func newTrafficCommand(c *client) *cobra.Command {
	var (
		ns    string
		to    []string
		tags  []string
		untag []string
	)
	cmd := &cobra.Command{
		Use:   "traffic NAME --to REV=PERCENT ... [--tag REV=TAG ...] [--untag TAG ...]",
		Short: "Split a function's traffic across revisions, and tag revisions",
		Long: `Split a function's traffic across revisions, and tag revisions.

--to replaces the whole split (percents must sum to 100); without --to the
current split is kept. A tagged revision left out of --to keeps its tag at
0%, so its tag host still reaches it; --untag TAG drops the tag (and the
revision, at 0%). --tag gives a revision a tag host TAG-NAME.NAMESPACE.DOMAIN
that always reaches it. @latest names the latest ready revision.

  wake traffic hello --to hello-00001=90 --to @latest=10 --tag @latest=canary
  wake traffic hello --to hello-00001=100     # roll back; canary stays tagged
  wake traffic hello --untag canary`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(to) == 0 && len(tags) == 0 && len(untag) == 0 {
				return fmt.Errorf("nothing to change: give --to REV=PERCENT, --tag REV=TAG or --untag TAG")
			}
			key := api.FunctionKey{Namespace: ns, Name: args[0]}
			before, err := c.function(cmd.Context(), key)
			if err != nil {
				return err
			}
			traffic, err := buildTraffic(before.Spec.Traffic, to, tags, untag)
			if err != nil {
				return err
			}
			after, err := c.setTraffic(cmd.Context(), key, traffic)
			if err != nil {
				return err
			}
			printTraffic(cmd.OutOrStdout(), before, after)
			return nil
		},
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().StringArrayVar(&to, "to", nil, "REV=PERCENT (repeatable); REV may be @latest")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "REV=TAG (repeatable); REV may be @latest")
	cmd.Flags().StringArrayVar(&untag, "untag", nil, "TAG to drop (repeatable)")
	return cmd
}

// buildTraffic computes the new spec.traffic from the current one and the
// flags. The server validates the result (sum, tags, revisions).
func buildTraffic(current []api.TrafficTarget, to, tags, untag []string) ([]api.TrafficTarget, error) {
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
			if c.Tag != "" && sameTarget(c, t) && !hasTag(out, c.Tag) {
				t.Tag = c.Tag
			}
		}
		out = append(out, t)
	}
	// A tag the new split left out stays, at 0%, as kn keeps it: its host
	// goes on reaching its revision until --untag.
	for _, c := range current {
		if c.Tag != "" && !hasTag(out, c.Tag) {
			zero := int64(0)
			c.Percent = &zero
			out = append(out, c)
		}
	}
	for _, tag := range untag {
		if !hasTag(out, tag) {
			return nil, fmt.Errorf("--untag %s: no revision has that tag (%s)", tag, tagList(current))
		}
		kept := out[:0]
		for _, t := range out {
			if t.Tag == tag {
				t.Tag = ""
				if t.Percent != nil && *t.Percent == 0 {
					continue // a target is only there for its tag or its share
				}
			}
			kept = append(kept, t)
		}
		out = kept
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
	// A target that lost its tag to another and has no share is dropped.
	kept := out[:0]
	for _, t := range out {
		if t.Tag != "" || t.Percent == nil || *t.Percent != 0 {
			kept = append(kept, t)
		}
	}
	return kept, nil
}

func hasTag(targets []api.TrafficTarget, tag string) bool {
	for _, t := range targets {
		if t.Tag == tag {
			return true
		}
	}
	return false
}

func tagList(targets []api.TrafficTarget) string {
	var tags []string
	for _, t := range targets {
		if t.Tag != "" {
			tags = append(tags, t.Tag)
		}
	}
	if len(tags) == 0 {
		return "it has none"
	}
	return "tags: " + strings.Join(tags, ", ")
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

// share is what one revision gets of a function's traffic, from its
// status.
type share struct {
	percent int64
	latest  bool
	tags    []string
	urls    []string
}

func sharesOf(fn *api.Function) (map[string]*share, []string) {
	shares := map[string]*share{}
	var order []string
	for _, t := range fn.Status.Traffic {
		s := shares[t.RevisionName]
		if s == nil {
			s = &share{}
			shares[t.RevisionName] = s
			order = append(order, t.RevisionName)
		}
		s.percent += t.PercentOrZero()
		s.latest = s.latest || (t.LatestRevision != nil && *t.LatestRevision)
		if t.Tag != "" {
			s.tags = append(s.tags, t.Tag)
			s.urls = append(s.urls, t.URL)
		}
	}
	return shares, order
}

// printTraffic prints the split after a change, one line a revision, with
// what changed: "hello-00002 (tag canary): 10% → 0%", then its tags' URLs.
func printTraffic(out io.Writer, before, after *api.Function) {
	was, wasOrder := sharesOf(before)
	now, order := sharesOf(after)
	for _, name := range wasOrder {
		if now[name] == nil {
			now[name] = &share{}
			order = append(order, name)
		}
	}
	fmt.Fprintf(out, "traffic of %s/%s:\n", after.Namespace, after.Name)
	for _, name := range order {
		n, w := now[name], was[name]
		if w == nil {
			w = &share{}
		}
		var notes []string
		if n.latest {
			notes = append(notes, "latest")
		}
		for _, tag := range n.tags {
			notes = append(notes, "tag "+tag)
		}
		for _, tag := range w.tags {
			if !slices.Contains(n.tags, tag) {
				notes = append(notes, "untagged "+tag)
			}
		}
		line := "  " + name
		if len(notes) > 0 {
			line += " (" + strings.Join(notes, ", ") + ")"
		}
		if n.percent == w.percent {
			line += fmt.Sprintf(": %d%%", n.percent)
		} else {
			line += fmt.Sprintf(": %d%% → %d%%", w.percent, n.percent)
		}
		for _, u := range n.urls {
			line += "  " + u
		}
		fmt.Fprintln(out, line)
	}
}
