package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	api "github.com/wakefn/wake/api/v1"
)

type getOptions struct {
	namespace     string
	allNamespaces bool
	output        string
}

func (o *getOptions) ns() string {
	if o.allNamespaces {
		return ""
	}
	return o.namespace
}

func newGetCommand(c *client) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:       "get functions|revisions|triggers [NAME]",
		Short:     "List functions, revisions or triggers with their status",
		Args:      cobra.RangeArgs(1, 2),
		ValidArgs: []string{"functions", "revisions", "triggers"},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.output {
			case "table", "wide", "json", "yaml":
			default:
				return fmt.Errorf("-o: must be table, wide, json or yaml, got %q", o.output)
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			switch args[0] {
			case "functions", "function", "fn", "ksvc":
				return getFunctions(cmd, c, o, name)
			case "revisions", "revision", "rev":
				return getRevisions(cmd, c, o, name)
			case "triggers", "trigger", "tr":
				return getTriggers(cmd, c, o, name)
			}
			return fmt.Errorf("unknown resource %q: use functions, revisions or triggers", args[0])
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "table, wide (revisions: with the autoscaler's view; triggers: with next fire and retries), json or yaml")
	return cmd
}

func addNamespaceFlag(cmd *cobra.Command, ns *string) {
	cmd.Flags().StringVarP(ns, "namespace", "n", api.DefaultNamespace, "namespace of the function or trigger")
}

func getFunctions(cmd *cobra.Command, c *client, o *getOptions, name string) error {
	list, err := c.functions(cmd.Context(), o.ns())
	if err != nil {
		return err
	}
	if name != "" {
		items := list.Items[:0]
		for _, fn := range list.Items {
			if fn.Name == name {
				items = append(items, fn)
			}
		}
		if len(items) == 0 {
			return fmt.Errorf("function %s not found in namespace %s", name, o.namespace)
		}
		list.Items = items
	}
	if o.output == "json" || o.output == "yaml" {
		return printObject(cmd.OutOrStdout(), o.output, list)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tURL\tLATEST CREATED\tLATEST READY\tREADY\tREASON")
	for _, fn := range list.Items {
		status, reason := readiness(fn.Status.Conditions)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fn.Namespace, fn.Name, fn.Status.URL,
			fn.Status.LatestCreatedRevisionName, fn.Status.LatestReadyRevisionName, status, reason)
	}
	return tw.Flush()
}

// getRevisions lists revisions; NAME selects a revision by its name, or
// all the revisions of a function by the function's.
func getRevisions(cmd *cobra.Command, c *client, o *getOptions, name string) error {
	list, err := c.revisions(cmd.Context(), o.ns())
	if err != nil {
		return err
	}
	if name != "" {
		items := list.Items[:0]
		for _, r := range list.Items {
			if r.Name == name || r.FunctionName() == name {
				items = append(items, r)
			}
		}
		if len(items) == 0 {
			return fmt.Errorf("no revision or function named %s in namespace %s", name, o.namespace)
		}
		list.Items = items
	}
	if o.output == "json" || o.output == "yaml" {
		return printObject(cmd.OutOrStdout(), o.output, list)
	}
	share, err := trafficShares(cmd, c, o.ns())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
	header := "NAMESPACE\tNAME\tFUNCTION\tTRAFFIC\tREADY\tDESIRED\tACTUAL\tAGE\tREASON"
	if o.output == "wide" {
		header = "NAMESPACE\tNAME\tFUNCTION\tTRAFFIC\tREADY\tDESIRED\tACTUAL\tMETRIC\tOBSERVED\tTARGET\tPANIC\tAGE\tREASON\tLAST DECISION"
	}
	fmt.Fprintln(tw, header)
	for _, r := range list.Items {
		status, reason := readiness(r.Status.Conditions)
		traffic := strings.Join(share[r.Key()], ", ")
		if traffic == "" {
			traffic = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t", r.Namespace, r.Name, r.FunctionName(), traffic,
			status, r.Status.DesiredReplicas, r.Status.ActualReplicas)
		if o.output == "wide" {
			fmt.Fprintf(tw, "%s\t", autoscalingColumns(r.Status.Autoscaling))
		}
		fmt.Fprintf(tw, "%s\t%s", age(r.CreationTimestamp.Time), dash(reason))
		if o.output == "wide" {
			last := "-"
			if a := r.Status.Autoscaling; a != nil && a.LastDecision != nil {
				last = a.LastDecision.Reason
			}
			fmt.Fprintf(tw, "\t%s", last)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// trafficShares is each revision's share of its function's traffic, with
// tags ("90%", "10% #canary"). Traffic lives on functions, so they are
// fetched too.
func trafficShares(cmd *cobra.Command, c *client, namespace string) (map[api.RevisionKey][]string, error) {
	fns, err := c.functions(cmd.Context(), namespace)
	if err != nil {
		return nil, err
	}
	share := map[api.RevisionKey][]string{}
	for _, fn := range fns.Items {
		for _, t := range fn.Status.Traffic {
			k := api.RevisionKey{Namespace: fn.Namespace, Name: t.RevisionName}
			s := fmt.Sprintf("%d%%", t.PercentOrZero())
			if t.Tag != "" {
				s += " #" + t.Tag
			}
			share[k] = append(share[k], s)
		}
	}
	return share, nil
}

// autoscalingColumns are -o wide's METRIC, OBSERVED (stable/panic
// averages), TARGET and PANIC, tab-separated.
func autoscalingColumns(a *api.AutoscalingStatus) string {
	if a == nil {
		return "-\t-\t-\t-"
	}
	return fmt.Sprintf("%s\t%.3g/%.3g\t%.3g\t%s", a.Metric, a.ObservedStable, a.ObservedPanic, a.Target, yesNo(a.Panic))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readiness is the Ready condition's status, and the reason and message
// of the first condition that is not True.
func readiness(conds []api.Condition) (string, string) {
	c := api.GetCondition(conds, api.ConditionReady)
	if c == nil {
		return string(api.ConditionUnknown), ""
	}
	status := string(c.Status)
	if c.Status == api.ConditionTrue {
		if c = notTrue(conds); c == nil {
			return status, ""
		}
	}
	reason := c.Reason
	if c.Message != "" {
		msg := strings.ReplaceAll(c.Message, "\n", " ")
		if len(msg) > 120 {
			msg = msg[:117] + "..."
		}
		reason += ": " + msg
	}
	return status, reason
}

func notTrue(conds []api.Condition) *api.Condition {
	for i := range conds {
		if conds[i].Status != api.ConditionTrue {
			return &conds[i]
		}
	}
	return nil
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// printObject writes v as JSON, or as YAML with the same field names.
func printObject(w io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "json" {
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var node yaml.Node
	if err := yaml.Unmarshal(b, &node); err != nil {
		return err
	}
	blockStyle(&node)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	defer enc.Close()
	return enc.Encode(&node)
}

// blockStyle drops the styles a node parsed from JSON has (flow
// collections, double-quoted strings), so that it is written as block
// YAML, with quotes only where a value needs them.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}
