package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	api "github.com/wakefn/wake/api/v1"
)

// getOptions are wake get's flags, as kubectl get spells them.
type getOptions struct {
	namespace     string
	allNamespaces bool
	output        string
	noHeaders     bool
	selector      string
	watch         bool
	watchEvents   bool
	limit         int    // --limit: at most this many objects; 0 means all
	continueToken string // --continue: from where an earlier --limit stopped
	chunkSize     int    // --chunk-size: objects an admin API call; 0 means all in one

	format outputFormat    // -o, parsed
	labels labels.Selector // -l, parsed; nil without -l
}

func (o *getOptions) ns() string {
	if o.allNamespaces {
		return ""
	}
	return o.namespace
}

// complete parses the flags that need it.
func (o *getOptions) complete() error {
	var err error
	if o.format, err = parseOutput(o.output); err != nil {
		return err
	}
	if o.selector != "" {
		if o.labels, err = labels.Parse(o.selector); err != nil {
			return fmt.Errorf("-l %q: %v", o.selector, err)
		}
	}
	return nil
}

func newGetCommand(c *client) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get TYPE[,TYPE...] [NAME...] | get TYPE/NAME...",
		Short: "List functions, revisions or triggers with their status",
		Long: `List functions, revisions or triggers with their status.

TYPE is functions (function, fn, ksvc), revisions (revision, rev) or
triggers (trigger, tr), or several joined by commas. A revision's NAME may
also be its function's: all of that function's revisions.`,
		Example: `  wake get functions
  wake get function/hello -o yaml
  wake get functions,revisions -A
  wake get revisions -l serving.knative.dev/service=hello -o name
  wake get functions -o jsonpath='{.items[*].status.url}'
  wake get functions --limit 100 --continue TOKEN
  wake get revisions hello -w`,
		ValidArgs: []string{"functions", "revisions", "triggers"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("wake get needs a resource type: functions, revisions or triggers (wake get functions)")
			}
			if err := o.complete(); err != nil {
				return err
			}
			reqs, err := parseGetArgs(args)
			if err != nil {
				return err
			}
			if o.labels != nil && anyNames(reqs) {
				return errors.New("-l: name objects or select them by label, not both")
			}
			if err := o.checkPaging(reqs); err != nil {
				return err
			}
			if o.watch {
				if len(reqs) != 1 {
					return errors.New("-w: watch one resource type at a time")
				}
				ticker := time.NewTicker(watchInterval)
				defer ticker.Stop()
				return watchGet(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), c, o, reqs[0], ticker.C)
			}
			return runGet(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), c, o, reqs)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	f := cmd.Flags()
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list across all namespaces, with a NAMESPACE column")
	f.StringVarP(&o.output, "output", "o", "table",
		"table, wide (revisions: with the autoscaler's view; triggers: with next fire and retries), json, yaml, name or jsonpath=TEMPLATE")
	f.BoolVar(&o.noHeaders, "no-headers", false, "print tables without their header")
	f.StringVarP(&o.selector, "selector", "l", "", "only objects whose labels match, e.g. -l 'app=shop,tier!=test'")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, print each object again when it changes, until interrupted")
	f.BoolVar(&o.watchEvents, "output-watch-events", false, "with -w, say what happened to each object: ADDED, MODIFIED or DELETED")
	f.IntVar(&o.limit, "limit", 0, "list at most this many objects, and say on stderr how to read on (--continue)")
	f.StringVar(&o.continueToken, "continue", "", "list from where an earlier --limit stopped (the token it printed)")
	f.IntVar(&o.chunkSize, "chunk-size", defaultChunkSize, "read lists from wake serve this many objects a call; 0 reads each in one call")
	return cmd
}

func addNamespaceFlag(cmd *cobra.Command, ns *string) {
	cmd.Flags().StringVarP(ns, "namespace", "n", api.DefaultNamespace, "namespace of the function or trigger")
}

// getRequest is what one resource type of the command line asks for:
// the objects of these names, or all of them.
type getRequest struct {
	typ   *resourceType
	names []string
}

func anyNames(reqs []getRequest) bool {
	for _, r := range reqs {
		if len(r.names) > 0 {
			return true
		}
	}
	return false
}

// parseGetArgs reads wake get's arguments as kubectl does: TYPE[,TYPE...]
// [NAME...], or TYPE/NAME... (one or more, of any types, and nothing
// else).
func parseGetArgs(args []string) ([]getRequest, error) {
	var reqs []getRequest
	add := func(t *resourceType, name string) {
		for i := range reqs {
			if reqs[i].typ == t {
				if name != "" {
					reqs[i].names = append(reqs[i].names, name)
				}
				return
			}
		}
		r := getRequest{typ: t}
		if name != "" {
			r.names = []string{name}
		}
		reqs = append(reqs, r)
	}
	slashed := 0
	for _, a := range args {
		if strings.Contains(a, "/") {
			slashed++
		}
	}
	if slashed > 0 {
		if slashed != len(args) {
			return nil, fmt.Errorf("%q: with TYPE/NAME, name no type beside it: wake get function/hello revision/hello-00001, or wake get functions hello",
				strings.Join(args, " "))
		}
		for _, a := range args {
			typ, name, _ := strings.Cut(a, "/")
			t, err := lookupType(typ)
			if err != nil {
				return nil, err
			}
			if name == "" || strings.Contains(name, "/") {
				return nil, fmt.Errorf("%q: want TYPE/NAME, e.g. function/hello", a)
			}
			add(t, name)
		}
		return reqs, nil
	}
	types := strings.Split(args[0], ",")
	for _, typ := range types {
		t, err := lookupType(typ)
		if err != nil {
			return nil, err
		}
		add(t, "")
	}
	if len(args) > 1 {
		if len(reqs) > 1 {
			return nil, fmt.Errorf("names need one resource type, not %s: wake get functions hello, or wake get function/hello revision/hello-00001", args[0])
		}
		reqs[0].names = args[1:]
	}
	return reqs, nil
}

// fetch returns the objects r asks for that -l selects, in the order of
// r's names, the names that matched nothing, and where a --limit stopped.
func (r getRequest) fetch(ctx context.Context, c *client, o *getOptions) (objs []metav1.Object, missing []string, meta metav1.ListMeta, err error) {
	all, meta, err := listObjects(ctx, c, r.typ, o.ns(), pageQuery{limit: o.limit, cont: o.continueToken, selector: o.selector}, o.chunkSize)
	if err != nil {
		return nil, nil, meta, err
	}
	if len(r.names) == 0 {
		objs = all
	} else {
		taken := map[metav1.Object]bool{}
		for _, name := range r.names {
			found := false
			for _, obj := range all {
				if r.typ.matches(obj, name) {
					found = true
					if !taken[obj] {
						taken[obj] = true
						objs = append(objs, obj)
					}
				}
			}
			if !found {
				missing = append(missing, name)
			}
		}
	}
	if o.labels != nil { // wake serve selected already; a server older than paging did not
		selected := objs[:0]
		for _, obj := range objs {
			if o.labels.Matches(labels.Set(obj.GetLabels())) {
				selected = append(selected, obj)
			}
		}
		objs = selected
	}
	return objs, missing, meta, nil
}

// notFound says that name matched nothing.
func (r getRequest) notFound(name string, o *getOptions) error {
	if o.allNamespaces {
		return fmt.Errorf("no %s named %s in any namespace", r.typ.what, name)
	}
	return fmt.Errorf("no %s named %s in namespace %s", r.typ.what, name, o.namespace)
}

// getResult is what one request found.
type getResult struct {
	typ  *resourceType
	objs []metav1.Object
	meta metav1.ListMeta // where a --limit stopped
}

func runGet(ctx context.Context, out, errOut io.Writer, c *client, o *getOptions, reqs []getRequest) error {
	var results []getResult
	var notFound []error
	for _, r := range reqs {
		objs, missing, meta, err := r.fetch(ctx, c, o)
		if err != nil {
			return err
		}
		results = append(results, getResult{typ: r.typ, objs: objs, meta: meta})
		for _, name := range missing {
			notFound = append(notFound, r.notFound(name, o))
		}
	}
	// One object named, and found by that name: kubectl prints it, not
	// a list of one. (A function's name given for revisions is a list.)
	single := len(reqs) == 1 && len(reqs[0].names) == 1
	if single && len(notFound) > 0 {
		return notFound[0]
	}
	single = single && len(results[0].objs) == 1 && results[0].objs[0].GetName() == reqs[0].names[0]
	printed, err := printGet(ctx, out, c, o, results, single)
	if err != nil {
		return err
	}
	if len(notFound) > 0 {
		return errors.Join(notFound...)
	}
	sayMore(errOut, results[0].meta)
	if !printed && o.format.tabular() {
		// kubectl's words, on stderr: a script reading stdout sees nothing.
		if o.allNamespaces {
			fmt.Fprintln(errOut, "No resources found")
		} else {
			fmt.Fprintf(errOut, "No resources found in %s namespace.\n", o.namespace)
		}
	}
	return nil
}

// printGet prints what wake get found in the format of -o, and says
// whether a table or name printed anything.
func printGet(ctx context.Context, out io.Writer, c *client, o *getOptions, results []getResult, single bool) (bool, error) {
	printed := false
	switch {
	case o.format.kind == "name":
		for _, res := range results {
			for _, obj := range res.objs {
				fmt.Fprintln(out, qualifiedName(res.typ.kind, obj.GetName()))
				printed = true
			}
		}
		return printed, nil
	case !o.format.tabular():
		return true, o.format.printValue(out, valueOf(results, single))
	}
	for _, res := range results {
		if len(res.objs) == 0 {
			continue
		}
		if printed && !o.noHeaders {
			fmt.Fprintln(out) // kubectl's blank line between the tables of several types
		}
		header, rows, err := res.typ.table(ctx, c, o, res.objs, len(results) > 1)
		if err != nil {
			return printed, err
		}
		t := &table{w: out}
		t.fit(rows...)
		if !o.noHeaders {
			t.fit(header)
			if err := t.write(header); err != nil {
				return printed, err
			}
		}
		if err := t.write(rows...); err != nil {
			return printed, err
		}
		printed = true
	}
	return printed, nil
}

// genericList is kubectl's List, for objects of several kinds.
type genericList struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      []any  `json:"items"`
}

// valueOf is what -o json, yaml and jsonpath print: the object when one
// was named, else a list (FunctionList, RevisionList, TriggerList), or a
// v1 List for several types.
func valueOf(results []getResult, single bool) any {
	if single {
		return results[0].objs[0]
	}
	if len(results) == 1 {
		return results[0].typ.typedList(results[0].objs, results[0].meta)
	}
	l := genericList{APIVersion: "v1", Kind: "List", Items: []any{}}
	for _, res := range results {
		for _, obj := range res.objs {
			l.Items = append(l.Items, obj)
		}
	}
	return l
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
