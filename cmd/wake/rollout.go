package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

func newRolloutCommand(c *client) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Watch and steer a function's progressive rollout",
		Long: `Watch and steer a function's progressive rollout.

A function whose metadata sets serving.knative.dev/rollout-duration moves its
traffic to a new revision in steps once the revision is ready and warmed up;
each step compares the new revision's 5xx rate and p95 latency with the
revision it replaces, and a breach sends all traffic back.

  wake rollout status hello     where it is, and every step's analysis
  wake rollout pause hello      hold the current split
  wake rollout resume hello     go on (after a rollback or abort: start over)
  wake rollout abort hello      send all traffic back to the stable revision`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return fmt.Errorf("unknown command %q: wake rollout status|pause|resume|abort NAME", args[0])
		},
	}
	var ns string
	status := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a function's rollout: phase, split, next step and the analysis of each step",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := c.rollout(cmd.Context(), http.MethodGet, api.FunctionKey{Namespace: ns, Name: args[0]}, "")
			if err != nil {
				return err
			}
			printRollout(cmd.OutOrStdout(), st, time.Now())
			return nil
		},
	}
	addNamespaceFlag(status, &ns)
	cmd.AddCommand(status)
	for _, a := range []struct {
		action controlplane.RolloutAction
		short  string
	}{
		{controlplane.RolloutPause, "Hold a rollout at its current split"},
		{controlplane.RolloutResume, "Resume a paused rollout, or start a rolled-back or aborted one over"},
		{controlplane.RolloutAbort, "Send all of a rollout's traffic back to the stable revision"},
	} {
		var ns string
		sub := &cobra.Command{
			Use:   string(a.action) + " NAME",
			Short: a.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				st, err := c.rollout(cmd.Context(), http.MethodPost, api.FunctionKey{Namespace: ns, Name: args[0]}, a.action)
				if err != nil {
					return err
				}
				_, _, pct := split(st)
				fmt.Fprintf(cmd.OutOrStdout(), "function %s: rollout %s, %d%% on %s: %s\n", args[0], st.Phase, pct, st.Canary, st.Message)
				return nil
			},
		}
		addNamespaceFlag(sub, &ns)
		cmd.AddCommand(sub)
	}
	return cmd
}

// rollout reads a function's rollout (action "") or acts on it.
func (c *client) rollout(ctx context.Context, method string, key api.FunctionKey, action controlplane.RolloutAction) (*api.RolloutStatus, error) {
	path := "/namespaces/" + key.Namespace + "/functions/" + key.Name + "/rollout"
	if action != "" {
		path += "/" + string(action)
	}
	out := &api.RolloutStatus{}
	return out, c.do(ctx, method, path, nil, nil, out)
}

// split is how the latest revision's share divides under st now.
func split(st *api.RolloutStatus) (stable, canary int64, canaryPercent int64) {
	switch st.Phase {
	case api.RolloutProgressing, api.RolloutPaused:
		return 100 - st.CanaryPercent, st.CanaryPercent, st.CanaryPercent
	case api.RolloutSucceeded, api.RolloutSuperseded:
		return 0, 100, 100
	}
	return 100, 0, 0
}

func printRollout(w io.Writer, st *api.RolloutStatus, now time.Time) {
	stable, canary, _ := split(st)
	fmt.Fprintf(w, "Phase:     %s (%s)\n", st.Phase, st.Reason)
	fmt.Fprintf(w, "Message:   %s\n", st.Message)
	fmt.Fprintf(w, "Stable:    %s  %d%%\n", st.Stable, stable)
	fmt.Fprintf(w, "Canary:    %s  %d%%\n", st.Canary, canary)
	fmt.Fprintf(w, "Steps:     step %d, %d%% every %v\n", st.Step, st.StepPercent, st.StepDuration.Duration)
	fmt.Fprintf(w, "Started:   %s\n", ago(st.StartTime.Time, now))
	if st.NextStepTime != nil {
		fmt.Fprintf(w, "Next step: in %v\n", st.NextStepTime.Sub(now).Round(time.Second))
	}
	if st.EndTime != nil {
		fmt.Fprintf(w, "Ended:     %s\n", ago(st.EndTime.Time, now))
	}
	if len(st.Analyses) == 0 {
		return
	}
	fmt.Fprintln(w, "Analyses:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tWHEN\tVERDICT\tCANARY REQ\tCANARY 5XX\tCANARY P95\tSTABLE REQ\tSTABLE 5XX\tSTABLE P95\tMESSAGE")
	for _, a := range st.Analyses {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%.1f%%\t%v\t%d\t%.1f%%\t%v\t%s\n", a.Step, ago(a.Time.Time, now), a.Verdict,
			a.Canary.Requests, 100*a.Canary.ErrorRate, a.Canary.P95.Round(10*time.Microsecond),
			a.Stable.Requests, 100*a.Stable.ErrorRate, a.Stable.P95.Round(10*time.Microsecond), a.Message)
	}
	tw.Flush()
}

func ago(t, now time.Time) string {
	return strings.TrimSpace(fmt.Sprintf("%s (%v ago)", t.Local().Format(time.RFC3339), now.Sub(t).Round(time.Second)))
}

// describeFunction prints a function: its URL, revisions, traffic as it
// is routed now, and its rollout.
func describeFunction(out io.Writer, fn *api.Function) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	status, reason := readiness(fn.Status.Conditions)
	fmt.Fprintf(w, "Name:\t%s\n", fn.Name)
	fmt.Fprintf(w, "Namespace:\t%s\n", fn.Namespace)
	fmt.Fprintf(w, "URL:\t%s\n", fn.Status.URL)
	fmt.Fprintf(w, "Ready:\t%s\t%s\n", status, reason)
	fmt.Fprintf(w, "Latest created:\t%s\n", dash(fn.Status.LatestCreatedRevisionName))
	fmt.Fprintf(w, "Latest ready:\t%s\n", dash(fn.Status.LatestReadyRevisionName))
	fmt.Fprintln(w, "Traffic:")
	for _, t := range fn.Status.Traffic {
		pct := int64(0)
		if t.Percent != nil {
			pct = *t.Percent
		}
		line := fmt.Sprintf("  %d%%\t%s", pct, t.RevisionName)
		if t.LatestRevision != nil && *t.LatestRevision {
			line += " (latest)"
		}
		if t.Tag != "" {
			line += "  tag " + t.Tag + " " + t.URL
		}
		fmt.Fprintln(w, line)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if st := fn.Status.Rollout; st != nil {
		fmt.Fprintln(out, "\nRollout:")
		printRollout(out, st, time.Now())
	}
	return nil
}
