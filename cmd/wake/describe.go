package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
)

func newDescribeCommand(c *client) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "describe function|revision|trigger NAME",
		Short: "Show a function (traffic, rollout), a revision (status, autoscaling settings, the autoscaler's recent decisions, cold starts) or a trigger (source, sink, delivery, counters, lag) in detail",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "function", "functions", "fn", "service", "ksvc":
				fn, err := c.function(cmd.Context(), api.FunctionKey{Namespace: namespace, Name: args[1]})
				if err != nil {
					return err
				}
				return describeFunction(cmd.OutOrStdout(), fn)
			case "revision", "revisions", "rev":
			case "trigger", "triggers", "tr":
				t, err := c.trigger(cmd.Context(), api.TriggerKey{Namespace: namespace, Name: args[1]})
				if err != nil {
					return err
				}
				return describeTrigger(cmd.OutOrStdout(), t)
			default:
				return fmt.Errorf("unknown resource %q: wake describe function|revision|trigger NAME", args[0])
			}
			key := api.RevisionKey{Namespace: namespace, Name: args[1]}
			rev, err := c.revisionWithDecisions(cmd.Context(), key)
			if err != nil {
				return err
			}
			share, err := trafficShares(cmd, c, namespace)
			if err != nil {
				return err
			}
			return describeRevision(cmd.OutOrStdout(), rev, share[key])
		},
	}
	addNamespaceFlag(cmd, &namespace)
	return cmd
}

func describeRevision(out io.Writer, r *api.Revision, traffic []string) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	status, reason := readiness(r.Status.Conditions)
	fmt.Fprintf(w, "Name:\t%s\n", r.Name)
	fmt.Fprintf(w, "Namespace:\t%s\n", r.Namespace)
	fmt.Fprintf(w, "Function:\t%s\n", r.FunctionName())
	fmt.Fprintf(w, "Created:\t%s (%s ago)\n", r.CreationTimestamp.Format(time.RFC3339), age(r.CreationTimestamp.Time))
	fmt.Fprintf(w, "Ready:\t%s\t%s\n", status, reason)
	for _, c := range r.Status.Conditions {
		if c.Type != api.ConditionReady { // WarmedUp, ContainerHealthy
			fmt.Fprintf(w, "%s:\t%s\t%s\n", c.Type, c.Status, strings.TrimSpace(c.Reason+" "+c.Message))
		}
	}
	if t := r.Status.LastTermination; t != nil {
		fmt.Fprintf(w, "Last termination:\t%s %s (%s ago)\t%s\n", t.Reason, t.Time.Format(time.RFC3339), age(t.Time.Time), firstLine(t.Message))
	}
	fmt.Fprintf(w, "Traffic:\t%s\n", dash(strings.Join(traffic, ", ")))
	fmt.Fprintf(w, "Instances:\tdesired %d, ready %d\n", r.Status.DesiredReplicas, r.Status.ActualReplicas)
	if len(r.Spec.Containers) > 0 {
		ct := r.Spec.Containers[0]
		if ct.Image != "" && len(ct.Command) == 0 {
			fmt.Fprintf(w, "Image:\t%s\n", ct.Image)
			fmt.Fprintf(w, "Digest:\t%s\n", dash(r.Status.ImageDigest))
			if len(ct.Args) > 0 {
				fmt.Fprintf(w, "Args:\t%s\n", strings.Join(ct.Args, " "))
			}
		} else {
			fmt.Fprintf(w, "Command:\t%s\n", dash(strings.Join(append(append([]string{}, ct.Command...), ct.Args...), " ")))
		}
		if res := ct.Resources; res != nil {
			fmt.Fprintf(w, "Limits:\t%s\n", dash(quantities(res.Limits)))
			fmt.Fprintf(w, "Requests:\t%s\n", dash(quantities(res.Requests)))
		}
	}
	cc := "unlimited"
	if n := r.Spec.ConcurrencyLimit(); n > 0 {
		cc = fmt.Sprint(n)
	}
	fmt.Fprintf(w, "Concurrency:\t%s per instance\n", cc)
	a := r.Status.Autoscaling
	if a == nil {
		fmt.Fprintln(w, "Autoscaling:\tnot managed")
		if err := w.Flush(); err != nil {
			return err
		}
		return describeColdStarts(out, r.Status.ColdStarts)
	}
	fmt.Fprintln(w, "Autoscaling:")
	if s := a.Settings; s != nil {
		fmt.Fprintf(w, "  Metric:\t%s, aiming at %.4g per instance (target %.4g × %.3g%% utilization)\n",
			a.Metric, a.Target, s.TargetPerInstance, 100*a.Target/s.TargetPerInstance)
		fmt.Fprintf(w, "  Windows:\tstable %v, panic %v, panic at %.4g%% of ready\n", s.StableWindow.Duration, s.PanicWindow.Duration, s.PanicThresholdPercentage)
		fmt.Fprintf(w, "  Scale:\tmin %d, max %d, initial %d, activation %d\n", s.MinScale, s.MaxScale, s.InitialScale, s.ActivationScale)
		if s.MinScaleSchedule != "" {
			entries := strings.FieldsFunc(s.MinScaleSchedule, func(r rune) bool { return r == ';' || r == '\n' })
			for i := range entries {
				entries[i] = strings.TrimSpace(entries[i])
			}
			fmt.Fprintf(w, "  Min schedule:\t%s (min now %d)\n", strings.Join(entries, "; "), s.EffectiveMinScale)
		}
		fmt.Fprintf(w, "  Rates:\tup to ×%.4g, down to ÷%.4g per decision; scale-down delay %v\n", s.MaxScaleUpRate, s.MaxScaleDownRate, s.ScaleDownDelay.Duration)
		if s.ScaleToZero {
			fmt.Fprintf(w, "  To zero:\tafter %v idle\n", s.ScaleToZeroAfter.Duration)
		} else {
			fmt.Fprintln(w, "  To zero:\tdisabled (enable-scale-to-zero is false)")
		}
	}
	fmt.Fprintf(w, "  Observed:\tstable %.4g, panic %.4g; panic mode %s\n", a.ObservedStable, a.ObservedPanic, yesNo(a.Panic))
	if d := a.LastDecision; d != nil {
		fmt.Fprintf(w, "  Last decision:\t%s  %s\n", d.Time.Local().Format("15:04:05"), d.Reason)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(a.Decisions) == 0 {
		fmt.Fprintln(out, "\nNo decision has changed the count yet.")
	} else {
		fmt.Fprintln(out, "\nRecent decisions (changes of count or panic mode, oldest first):")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  TIME\tFROM\tTO\tREADY\tPANIC\tREASON")
		for _, d := range a.Decisions {
			fmt.Fprintf(w, "  %s\t%d\t%d\t%d\t%s\t%s\n", d.Time.Local().Format("15:04:05.000"), d.From, d.To, d.Ready, yesNo(d.Panic), d.Reason)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return describeColdStarts(out, r.Status.ColdStarts)
}

// describeColdStarts prints a revision's latest wake-ups from zero: how
// the first request's wait divided into wake's phases (see Server-Timing
// in the README).
func describeColdStarts(out io.Writer, cs []api.ColdStart) error {
	if len(cs) == 0 {
		_, err := fmt.Fprintln(out, "\nNo cold start recorded since wake started.")
		return err
	}
	fmt.Fprintln(out, "\nCold starts (the first request of each wake-up from zero, oldest first):")
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	ms := func(d metav1.Duration) string {
		return fmt.Sprintf("%.1fms", float64(d.Duration)/float64(time.Millisecond))
	}
	containers := false
	for _, c := range cs {
		containers = containers || c.Create != nil
	}
	if containers {
		fmt.Fprintln(w, "  TIME\tINSTANCE\tQUEUE\tCREATE\tSTART\tREADY\tWARMUP\tTOTAL")
	} else {
		fmt.Fprintln(w, "  TIME\tINSTANCE\tQUEUE\tSTART\tREADY\tWARMUP\tTOTAL")
	}
	for _, c := range cs {
		create := ""
		if containers {
			d := metav1.Duration{}
			if c.Create != nil {
				d = *c.Create
			}
			create = ms(d) + "\t"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s%s\t%s\t%s\t%s\n", c.Time.Local().Format("15:04:05.000"), c.Instance,
			ms(c.Queue), create, ms(c.Start), ms(c.Ready), ms(c.Warmup), ms(c.Total))
	}
	return w.Flush()
}

// quantities lists resource quantities as "cpu=500m, memory=128Mi".
func quantities(m map[string]resource.Quantity) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		q := m[k]
		parts = append(parts, k+"="+q.String())
	}
	return strings.Join(parts, ", ")
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
