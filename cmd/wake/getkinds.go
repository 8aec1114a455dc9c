package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// The kinds wake get shows: how the command line names each, how its
// objects are fetched and matched by name, and its table.

// resourceType is one kind of object wake get lists.
type resourceType struct {
	plural string   // functions: the name the command line uses first
	kind   string   // Function
	names  []string // what else the command line may call it
	what   string   // what a name given on the command line names, for errors

	// list fetches a page of the objects of a namespace ("" for all),
	// with their apiVersion and kind set, and the page's metadata (its
	// continue token).
	list func(ctx context.Context, c *client, namespace string, p pageQuery) ([]metav1.Object, metav1.ListMeta, error)
	// matches says whether a name given on the command line selects obj.
	matches func(obj metav1.Object, name string) bool
	// typedList is the list -o json prints for objects of this kind,
	// with meta (where a page stopped).
	typedList func(objs []metav1.Object, meta metav1.ListMeta) any
	// columns are the table's header after NAMESPACE and NAME, and rows
	// its cells after them, an object a row. namespace is the one listed.
	columns func(wide bool) []string
	rows    func(ctx context.Context, c *client, namespace string, objs []metav1.Object, wide bool) ([][]string, error)
}

var resourceTypes = []*resourceType{functionType, revisionType, triggerType}

// lookupType finds a resource type by any of its names, kubectl's
// group-qualified ones (functions.wake.dev, function.wake.dev) too, so
// that what -o name prints can be given back.
func lookupType(name string) (*resourceType, error) {
	n := strings.TrimSuffix(strings.ToLower(name), "."+api.Group)
	for _, t := range resourceTypes {
		if n == t.plural || n == strings.ToLower(t.kind) {
			return t, nil
		}
		for _, alias := range t.names {
			if n == alias {
				return t, nil
			}
		}
	}
	return nil, fmt.Errorf("unknown resource type %q: use functions, revisions or triggers", name)
}

// table is the header and rows of objs; showKind names them as
// function.wake.dev/hello, for a listing of several kinds.
func (t *resourceType) table(ctx context.Context, c *client, o *getOptions, objs []metav1.Object, showKind bool) (header []string, rows [][]string, err error) {
	wide := o.format.kind == "wide"
	cells, err := t.rows(ctx, c, o.ns(), objs, wide)
	if err != nil {
		return nil, nil, err
	}
	header = append([]string{"NAME"}, t.columns(wide)...)
	if o.allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	for i, obj := range objs {
		name := obj.GetName()
		if showKind {
			name = qualifiedName(t.kind, name)
		}
		row := []string{name}
		if o.allNamespaces {
			row = []string{obj.GetNamespace(), name}
		}
		rows = append(rows, append(row, cells[i]...))
	}
	return header, rows, nil
}

func byName(obj metav1.Object, name string) bool { return obj.GetName() == name }

var functionType = &resourceType{
	plural: api.ResourceFunctions, kind: api.KindFunction, names: []string{"fn", "ksvc"}, what: "function",
	list: func(ctx context.Context, c *client, namespace string, p pageQuery) ([]metav1.Object, metav1.ListMeta, error) {
		l, err := c.functions(ctx, namespace, p)
		if err != nil {
			return nil, metav1.ListMeta{}, err
		}
		objs := make([]metav1.Object, len(l.Items))
		for i := range l.Items {
			l.Items[i].APIVersion, l.Items[i].Kind = api.APIVersion, api.KindFunction
			objs[i] = &l.Items[i]
		}
		return objs, l.ListMeta, nil
	},
	matches: byName,
	typedList: func(objs []metav1.Object, meta metav1.ListMeta) any {
		l := &api.FunctionList{TypeMeta: metav1.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindFunctionList}, ListMeta: meta, Items: []api.Function{}}
		for _, obj := range objs {
			l.Items = append(l.Items, *obj.(*api.Function))
		}
		return l
	},
	columns: func(bool) []string {
		return []string{"URL", "LATEST CREATED", "LATEST READY", "READY", "REASON"}
	},
	rows: func(_ context.Context, _ *client, _ string, objs []metav1.Object, _ bool) ([][]string, error) {
		rows := make([][]string, len(objs))
		for i, obj := range objs {
			fn := obj.(*api.Function)
			status, reason := readiness(fn.Status.Conditions)
			rows[i] = []string{fn.Status.URL, fn.Status.LatestCreatedRevisionName, fn.Status.LatestReadyRevisionName, status, reason}
		}
		return rows, nil
	},
}

// revisionType: a name selects a revision by its name, or all the
// revisions of a function by the function's.
var revisionType = &resourceType{
	plural: api.ResourceRevisions, kind: api.KindRevision, names: []string{"rev"}, what: "revision or function",
	list: func(ctx context.Context, c *client, namespace string, p pageQuery) ([]metav1.Object, metav1.ListMeta, error) {
		l, err := c.revisions(ctx, namespace, p)
		if err != nil {
			return nil, metav1.ListMeta{}, err
		}
		objs := make([]metav1.Object, len(l.Items))
		for i := range l.Items {
			l.Items[i].APIVersion, l.Items[i].Kind = api.APIVersion, api.KindRevision
			objs[i] = &l.Items[i]
		}
		return objs, l.ListMeta, nil
	},
	matches: func(obj metav1.Object, name string) bool {
		return obj.GetName() == name || obj.(*api.Revision).FunctionName() == name
	},
	typedList: func(objs []metav1.Object, meta metav1.ListMeta) any {
		l := &api.RevisionList{TypeMeta: metav1.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindRevisionList}, ListMeta: meta, Items: []api.Revision{}}
		for _, obj := range objs {
			l.Items = append(l.Items, *obj.(*api.Revision))
		}
		return l
	},
	columns: func(wide bool) []string {
		if wide {
			return []string{"FUNCTION", "TRAFFIC", "READY", "DESIRED", "ACTUAL", "METRIC", "OBSERVED", "TARGET", "PANIC", "AGE", "REASON", "GC", "LAST DECISION"}
		}
		return []string{"FUNCTION", "TRAFFIC", "READY", "DESIRED", "ACTUAL", "AGE", "REASON", "GC"}
	},
	rows: func(ctx context.Context, c *client, namespace string, objs []metav1.Object, wide bool) ([][]string, error) {
		share, err := trafficShares(ctx, c, namespace)
		if err != nil {
			return nil, err
		}
		rows := make([][]string, len(objs))
		for i, obj := range objs {
			r := obj.(*api.Revision)
			status, reason := readiness(r.Status.Conditions)
			row := []string{r.FunctionName(), dash(strings.Join(share[r.Key()], ", ")), status,
				fmt.Sprint(r.Status.DesiredReplicas), fmt.Sprint(r.Status.ActualReplicas)}
			if wide {
				row = append(row, autoscalingColumns(r.Status.Autoscaling)...)
			}
			row = append(row, age(r.CreationTimestamp.Time), dash(reason), gcColumn(r.Annotations[controlplane.AnnotationGC], time.Now()))
			if wide {
				last := "-"
				if a := r.Status.Autoscaling; a != nil && a.LastDecision != nil {
					last = a.LastDecision.Reason
				}
				row = append(row, last)
			}
			rows[i] = row
		}
		return rows, nil
	},
}

// gcColumn says when the revision collector will delete a revision, from
// what wake serve says of it (controlplane.AnnotationGC): "-" while it is
// active (routed, tagged, the latest, pinned by a rollout or holding
// instances), "in 46h" once non-active, "next sweep" when due, "kept
// (min)" while min-non-active-revisions keeps it although stale, and
// "never" for no-gc or with both retain settings disabled.
func gcColumn(v string, now time.Time) string {
	switch kept, ok := strings.CutPrefix(v, "kept: "); {
	case v == "":
		return "-"
	case ok && kept == "min-non-active-revisions":
		return "kept (min)"
	case ok && (kept == "no-gc" || kept == "retain settings disabled"):
		return "never"
	case ok:
		return "-"
	case v == "next sweep":
		return v
	}
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return v
	}
	d := at.Sub(now)
	if d <= 0 {
		return "next sweep"
	}
	return "in " + age(time.Now().Add(-d))
}

// autoscalingColumns are -o wide's METRIC, OBSERVED (stable/panic
// averages), TARGET and PANIC.
func autoscalingColumns(a *api.AutoscalingStatus) []string {
	if a == nil {
		return []string{"-", "-", "-", "-"}
	}
	return []string{a.Metric, fmt.Sprintf("%.3g/%.3g", a.ObservedStable, a.ObservedPanic), fmt.Sprintf("%.3g", a.Target), yesNo(a.Panic)}
}

// trafficShares is each revision's share of its function's traffic, with
// tags ("90%", "10% #canary"). Traffic lives on functions, so they are
// fetched too.
func trafficShares(ctx context.Context, c *client, namespace string) (map[api.RevisionKey][]string, error) {
	fns, _, err := listObjects(ctx, c, functionType, namespace, pageQuery{}, defaultChunkSize)
	if err != nil {
		return nil, err
	}
	share := map[api.RevisionKey][]string{}
	for _, obj := range fns {
		fn := obj.(*api.Function)
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

var triggerType = &resourceType{
	plural: api.ResourceTriggers, kind: api.KindTrigger, names: []string{"tr"}, what: "trigger",
	list: func(ctx context.Context, c *client, namespace string, p pageQuery) ([]metav1.Object, metav1.ListMeta, error) {
		l, err := c.triggers(ctx, namespace, p)
		if err != nil {
			return nil, metav1.ListMeta{}, err
		}
		objs := make([]metav1.Object, len(l.Items))
		for i := range l.Items {
			l.Items[i].APIVersion, l.Items[i].Kind = api.APIVersion, api.KindTrigger
			objs[i] = &l.Items[i]
		}
		return objs, l.ListMeta, nil
	},
	matches: byName,
	typedList: func(objs []metav1.Object, meta metav1.ListMeta) any {
		l := &api.TriggerList{TypeMeta: metav1.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindTriggerList}, ListMeta: meta, Items: []api.Trigger{}}
		for _, obj := range objs {
			l.Items = append(l.Items, *obj.(*api.Trigger))
		}
		return l
	},
	columns: func(wide bool) []string {
		c := []string{"SOURCE", "SINK", "READY", "RATE", "DELIVERED", "DEAD-LETTERED", "FAILED", "LAG", "AGE"}
		if wide {
			c = append(c, "NEXT FIRE", "RETRIED")
		}
		return c
	},
	rows: func(_ context.Context, _ *client, _ string, objs []metav1.Object, wide bool) ([][]string, error) {
		rows := make([][]string, len(objs))
		for i, obj := range objs {
			t := obj.(*api.Trigger)
			ready, _ := readiness(t.Status.Conditions)
			row := []string{t.SourceSummary(), t.Spec.Sink.String(), ready, rateColumn(t),
				fmt.Sprint(t.Status.Delivered), fmt.Sprint(t.Status.DeadLettered), fmt.Sprint(t.Status.Failed),
				lagColumn(t), age(t.CreationTimestamp.Time)}
			if wide {
				next := "-"
				if n := t.Status.NextFireTime; n != nil {
					next = n.Local().Format(time.RFC3339)
				}
				row = append(row, next, fmt.Sprint(t.Status.Retried))
			}
			rows[i] = row
		}
		return rows, nil
	},
}
