package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/autoscaler/sim"
)

// annotationPrefix is what --annotations adds to a key given without one.
const annotationPrefix = "autoscaling.knative.dev/"

func newAutoscalerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "autoscaler",
		Short: "Tools for the autoscaler that need no server: simulate it on a trace",
	}
	cmd.AddCommand(newSimulateCommand())
	return cmd
}

type simulateOptions struct {
	trace                string
	annotations          map[string]string
	containerConcurrency int64
	startup              []time.Duration
	serviceTime          time.Duration
	set                  []string
	after                time.Duration
	warm                 int
	clientTimeout        time.Duration
	newRevision          bool
	all                  bool
	plot                 string
	output               string
}

func newSimulateCommand() *cobra.Command {
	o := &simulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate --trace FILE [--annotations k=v,...] [--container-concurrency N] [--startup 1s] [--set key=value ...]",
		Short: "Replay a request trace through the autoscaler on a simulated clock",
		Long: `Replay a request trace through the autoscaler's real decision code on a
simulated clock, with instances that take --startup to become ready, and
print the decisions it made and what they cost: time queued, instance-seconds,
time at zero, scale events, time in panic.

A trace is CSV with a header naming its kind ('#' starts a comment):

  second,concurrency   requests in flight over each second
  second,rps           requests arriving per second (concurrency = rps × --service-time)
  start,duration       a request log: one row per request, in seconds

In the first two, each row is the load over one second from its offset;
seconds with no row have no load, and the trace ends a second after its
last row. Examples are in autoscaler/testdata/traces.

By default the load is what the trace says, whatever was served before.
With --client-timeout the queue carries over instead: requests wait first
come first served until an instance has a free slot, or until they have
waited that long and their client gives up; the summary then counts the
requests lost and gives the p50 and p99 latency. Use it with --startup to
see what a spike costs before deploying, e.g. one warm instance, 5s starts
and 300 requests/s of 100ms for 20s:

  wake autoscaler simulate --trace autoscaler/testdata/traces/burst.csv \
      --container-concurrency 10 --warm 1 --startup 5s --client-timeout 10s

--annotations take the revision's autoscaling.knative.dev/* annotations,
with or without that prefix; --set takes server-wide defaults, the keys of
Knative's config-autoscaler (` + strings.Join(autoscaler.ConfigKeys, ", ") + `).

  wake autoscaler simulate --trace spike.csv --container-concurrency 10 --plot spike.svg
  wake autoscaler simulate --trace ramp.csv --annotations target=20,window=30s --set max-scale-down-rate=4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSimulate(cmd.OutOrStdout(), cmd.InOrStdin(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.trace, "trace", "", "trace file (CSV), or - for standard input (required)")
	f.StringToStringVar(&o.annotations, "annotations", nil,
		"the revision's autoscaling annotations, KEY=VALUE,... (e.g. target=10,window=30s); repeatable")
	f.Int64Var(&o.containerConcurrency, "container-concurrency", 0,
		"most requests one instance takes at once; the rest queue (0: no limit)")
	f.DurationSliceVar(&o.startup, "startup", []time.Duration{sim.DefaultStartup},
		"time from asking for an instance to it being ready, in steps of 100ms; a list (1s,4s) is used in turn, instance by instance")
	f.DurationVar(&o.serviceTime, "service-time", sim.DefaultServiceTime,
		"how long one request takes: turns rps into concurrency and back (not used for a request log)")
	f.StringArrayVar(&o.set, "set", nil, "server-wide autoscaler default KEY=VALUE (repeatable), e.g. stable-window=30s")
	f.DurationVar(&o.after, "after", 0, "keep simulating this long after the trace ends, with no load, to see the scale-down")
	f.IntVar(&o.warm, "warm", 0, "instances an existing revision has ready at the start, when more than min-scale")
	f.DurationVar(&o.clientTimeout, "client-timeout", 0,
		"carry the queue over: requests wait until served or until they have waited this long (lost); 0: load is what the trace says")
	f.BoolVar(&o.newRevision, "new-revision", false,
		"simulate a revision just created (starts at initial-scale) instead of one at rest at min-scale")
	f.BoolVar(&o.all, "all", false, "list every decision, not only those that changed the count or the panic mode")
	f.StringVar(&o.plot, "plot", "", "also draw load, queue and instances over time into this .svg or .png file")
	f.StringVarP(&o.output, "output", "o", "table", "table or json")
	return cmd
}

func runSimulate(out io.Writer, stdin io.Reader, o *simulateOptions) error {
	if o.trace == "" {
		return errors.New("--trace: required: the trace to replay (a CSV file, or - for standard input)")
	}
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("-o: must be table or json, got %q", o.output)
	}
	if o.serviceTime <= 0 {
		return fmt.Errorf("--service-time %v: must be positive", o.serviceTime)
	}
	if o.containerConcurrency < 0 || o.containerConcurrency > api.MaxContainerConcurrency {
		return fmt.Errorf("--container-concurrency %d: must be in [0, %d] (0: no limit)",
			o.containerConcurrency, api.MaxContainerConcurrency)
	}
	for _, s := range o.startup {
		if s < 0 || s%sim.Tick != 0 {
			return fmt.Errorf("--startup %v: must be 0 or more, in steps of %v", s, sim.Tick)
		}
	}
	if o.plot != "" {
		if _, err := sim.PlotFormatOf(o.plot); err != nil {
			return fmt.Errorf("--%w", err)
		}
	}
	if o.after < 0 {
		return fmt.Errorf("--after %v: must be 0 or more", o.after)
	}
	if o.warm < 0 || o.warm > api.MaxScaleLimit || (o.warm > 0 && o.newRevision) {
		return fmt.Errorf("--warm %d: must be in [0, %d], and 0 with --new-revision", o.warm, api.MaxScaleLimit)
	}
	if o.clientTimeout < 0 || o.clientTimeout%sim.Tick != 0 {
		return fmt.Errorf("--client-timeout %v: must be 0 (off) or more, in steps of %v", o.clientTimeout, sim.Tick)
	}
	cfg, err := simulateConfig(o.set)
	if err != nil {
		return err
	}
	scaling, err := simulateScaling(o.annotations, o.containerConcurrency)
	if err != nil {
		return err
	}
	tr, err := readTrace(o.trace, stdin, sim.ReadOptions{ServiceTime: o.serviceTime})
	if err != nil {
		return err
	}
	res, err := sim.Run(tr, sim.Options{Config: &cfg, Scaling: scaling, Startup: o.startup,
		NewRevision: o.newRevision, After: o.after, AllDecisions: o.all, Warm: o.warm, ClientTimeout: o.clientTimeout})
	if err != nil {
		return err
	}
	if o.plot != "" {
		if err := sim.WritePlotFile(o.plot, res); err != nil {
			return err
		}
	}
	if o.output == "json" {
		return sim.WriteJSON(out, res)
	}
	return sim.WriteReport(out, res)
}

func readTrace(path string, stdin io.Reader, opts sim.ReadOptions) (*sim.Trace, error) {
	if path == "-" {
		return sim.Read(stdin, "<stdin>", opts)
	}
	return sim.ReadFile(path, opts)
}

// simulateConfig applies --set KEY=VALUE over the defaults, in the order
// given, naming the flag in every problem.
func simulateConfig(set []string) (autoscaler.Config, error) {
	cfg := autoscaler.DefaultConfig()
	var problems []string
	for _, kv := range set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			problems = append(problems, fmt.Sprintf("--set %q: want KEY=VALUE, e.g. stable-window=30s", kv))
			continue
		}
		if err := cfg.Set(strings.TrimSpace(k), v); err != nil {
			problems = append(problems, fmt.Sprintf("--set %s: %v", kv, err))
		}
	}
	if len(problems) == 0 {
		if err := cfg.Validate(); err != nil {
			problems = append(problems, fmt.Sprintf("--set: %v", err))
		}
	}
	if len(problems) > 0 {
		return cfg, fmt.Errorf("autoscaler configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return cfg, nil
}

// simulateScaling reads --annotations as a manifest's annotations are read,
// so the errors are the same, and also rejects keys the autoscaler does not
// read: in a manifest an unknown annotation is someone else's, here it can
// only be a typo.
func simulateScaling(given map[string]string, containerConcurrency int64) (api.Scaling, error) {
	path := field.NewPath("--annotations")
	annotations := make(map[string]string, len(given))
	keys := make([]string, 0, len(given))
	for k := range given {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var problems []string
	for _, k := range keys {
		full := strings.TrimSpace(k)
		if !strings.Contains(full, "/") {
			full = annotationPrefix + full
		}
		if _, dup := annotations[full]; dup {
			problems = append(problems, fmt.Sprintf("--annotations: %s is given twice (with and without its prefix)", full))
			continue
		}
		annotations[full] = given[k]
		if !readsAnnotation(full, given[k]) {
			problems = append(problems, fmt.Sprintf("--annotations: %s: not an annotation the autoscaler reads", full))
		}
	}
	s, errs := api.ParseScaling(annotations, containerConcurrency, path)
	for _, e := range api.NewErrors(errs) {
		problems = append(problems, e.String())
	}
	if len(problems) > 0 {
		return s, fmt.Errorf("annotations:\n  %s", strings.Join(problems, "\n  "))
	}
	return s, nil
}

// readsAnnotation reports whether ParseScaling reads key: alone, it either
// sets something or finds fault with the value. Asking the parser keeps
// this in step with it, legacy spellings included.
func readsAnnotation(key, value string) bool {
	if key == api.AnnotationClass {
		return true // valid only as the one class there is, which sets nothing
	}
	s, errs := api.ParseScaling(map[string]string{key: value}, 0, field.NewPath("annotations"))
	return len(errs) > 0 || !reflect.DeepEqual(s, api.Scaling{})
}
