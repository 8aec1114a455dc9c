package main

import (
	"context"
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
		Use:   "describe function|revision|trigger NAME | describe TYPE/NAME",
		Short: "Show a function (traffic, rollout), a revision (status, autoscaling settings, the autoscaler's recent decisions, cold starts) or a trigger (source, sink, delivery, counters, lag) in detail",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			typ, name, err := typeAndName(args)
			if err != nil {
				return fmt.Errorf("%w: wake describe function|revision|trigger NAME", err)
			}
			// Tables pad a line's last cells when they are empty: no line
			// of wake describe ends in spaces.
			out := &trimWriter{w: cmd.OutOrStdout()}
			if err := describe(cmd.Context(), out, c, namespace, typ, name); err != nil {
				return err
			}
			return out.Flush()
		},
	}
	addNamespaceFlag(cmd, &namespace)
	return cmd
}

// describe writes the object of type typ named name.
func describe(ctx context.Context, out io.Writer, c *client, namespace string, typ *resourceType, name string) error {
	switch typ {
	case functionType:
		fn, err := c.function(ctx, api.FunctionKey{Namespace: namespace, Name: name})
		if err != nil {
			return err
		}
		return describeFunction(out, fn)
	case revisionType:
		key := api.RevisionKey{Namespace: namespace, Name: name}
		rev, err := c.revisionWithDecisions(ctx, key)
		if err != nil {
			return err
		}
		share, err := trafficShares(ctx, c, namespace)
		if err != nil {
			return err
		}
		return describeRevision(out, rev, share[key])
	}
	t, err := c.trigger(ctx, api.TriggerKey{Namespace: namespace, Name: name})
	if err != nil {
		return err
	}
	return describeTrigger(out, t)
}

// typeAndName reads TYPE NAME or TYPE/NAME, as wake describe and delete
// take one object. Knative's "service" names a function too.
func typeAndName(args []string) (*resourceType, string, error) {
	typ, name := args[0], ""
	if len(args) == 2 {
		name = args[1]
	} else {
		var ok bool
		if typ, name, ok = strings.Cut(args[0], "/"); !ok {
			return nil, "", fmt.Errorf("%q: name a type and an object (TYPE NAME or TYPE/NAME)", args[0])
		}
	}
	if name == "" || strings.Contains(name, "/") {
		return nil, "", fmt.Errorf("%q: want a name, as in function hello or function/hello", strings.Join(args, " "))
	}
	if typ == "service" || typ == "services" {
		return functionType, name, nil
	}
	t, err := lookupType(typ)
	return t, name, err
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
				fmt.Fprintf(w, "Args:\t%s\n", shellJoin(ct.Args))
			}
		} else {
			fmt.Fprintf(w, "Command:\t%s\n", dash(shellJoin(append(append([]string{}, ct.Command...), ct.Args...))))
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
		fmt.Fprintf(w, "  To zero:\t%s\n", toZero(s))
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

// toZero says when a revision goes to zero instances, if ever.
func toZero(s *api.AutoscalingSettings) string {
	switch {
	case !s.ScaleToZero:
		return "disabled (enable-scale-to-zero is false)"
	case s.MinScale > 0:
		return fmt.Sprintf("never (min-scale %d)", s.MinScale)
	case s.EffectiveMinScale > 0:
		return fmt.Sprintf("not while the min-scale schedule holds %d; else after %v idle", s.EffectiveMinScale, s.ScaleToZeroAfter.Duration)
	}
	return fmt.Sprintf("after %v idle", s.ScaleToZeroAfter.Duration)
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

// shellJoin writes a command as a shell would need it typed: words
// with nothing a shell reads specially as they are, others in single
// quotes (python3 app.py, sh -c 'echo hi').
func shellJoin(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = shellQuote(w)
	}
	return strings.Join(quoted, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
