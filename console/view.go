package console

import (
	"time"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
)

// What the stream sends, built from the platform's state at one tick.
// Durations are milliseconds, times RFC 3339; a number the console cannot
// know (no data plane here, no request in the window) is null.

// overview is the functions page and the triggers page.
type overview struct {
	Functions []functionView `json:"functions"`
	Triggers  []triggerView  `json:"triggers"`
	// Requests says whether this process sees the requests (it has a data
	// plane): without one, requests/s, latency and cold starts are blank.
	Requests bool `json:"requests"`
}

type functionView struct {
	Namespace     string      `json:"namespace"`
	Name          string      `json:"name"`
	URL           string      `json:"url"`
	stateView                 // what a request meets (state.go)
	LatestReady   string      `json:"latestReady,omitempty"`
	LatestCreated string      `json:"latestCreated,omitempty"`
	Traffic       []shareView `json:"traffic"`
	Instances     int32       `json:"instances"` // ready, over every revision
	Desired       int32       `json:"desired"`
	// Starting says a revision with traffic wants instances and has none
	// ready yet: the page says "starting", not "asleep".
	Starting      bool           `json:"starting,omitempty"`
	window                       // of its revisions together
	LastColdStart *coldStartView `json:"lastColdStart"`
}

// shareView is one target of the split as routed now.
type shareView struct {
	Revision string `json:"revision"`
	Percent  int64  `json:"percent"`
	Tag      string `json:"tag,omitempty"`
	URL      string `json:"url,omitempty"`
	Latest   bool   `json:"latest,omitempty"`
}

type coldStartView struct {
	Revision string    `json:"revision"`
	Instance string    `json:"instance"`
	Time     time.Time `json:"time"`
	Total    float64   `json:"total"`
	Queue    float64   `json:"queue"`
	Start    float64   `json:"start"`
	Ready    float64   `json:"ready"`
	Warmup   float64   `json:"warmup"`
	Create   float64   `json:"create,omitempty"`
}

type triggerView struct {
	Namespace    string             `json:"namespace"`
	Name         string             `json:"name"`
	Kind         string             `json:"kind"` // kafka or cron
	Source       string             `json:"source"`
	Sink         string             `json:"sink"`
	SinkURI      string             `json:"sinkUri,omitempty"`
	Ready        string             `json:"ready"`
	Reason       string             `json:"reason,omitempty"`
	Message      string             `json:"message,omitempty"`
	Delivered    int64              `json:"delivered"`
	Retried      int64              `json:"retried"`
	DeadLettered int64              `json:"deadLettered"`
	Failed       int64              `json:"failed"`
	Skipped      int64              `json:"skipped"`
	RateLimit    *float64           `json:"rateLimit"`
	Pace         *api.TriggerPace   `json:"pace,omitempty"` // a rate wake chose below the limit, and why
	Throttled    int64              `json:"throttled"`
	Lag          []api.PartitionLag `json:"lag,omitempty"`
	NextFire     *time.Time         `json:"nextFire,omitempty"`
	LastFire     *time.Time         `json:"lastFire,omitempty"`
}

// detailView is one function's page.
type detailView struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Missing   bool          `json:"missing,omitempty"`
	Function  *functionView `json:"function,omitempty"`
	// Spec is spec.traffic as the user wrote it, and Targets the split
	// editor's rows of it (editor.go).
	Spec      []api.TrafficTarget `json:"spec"`
	Targets   []targetView        `json:"targets"`
	Revisions []revisionView      `json:"revisions"`
	Logs      bool                `json:"logs"`
}

type revisionView struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Ready   string    `json:"ready"` // as revisionState says
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Percent int64     `json:"percent"`
	Tags    []string  `json:"tags,omitempty"`
	Desired int32     `json:"desired"`
	Actual  int32     `json:"actual"`
	window
	Autoscaling *api.AutoscalingStatus `json:"autoscaling,omitempty"`
	// ColdStarts are the latest wake-ups from zero, newest first.
	ColdStarts []coldStartView `json:"coldStarts"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func readyOf(conds []api.Condition) (status, reason, message string) {
	if c := api.GetCondition(conds, api.ConditionReady); c != nil {
		return string(c.Status), c.Reason, c.Message
	}
	return string(api.ConditionUnknown), "", ""
}

func coldStart(rev string, c activator.ColdStart) coldStartView {
	return coldStartView{Revision: rev, Instance: c.Instance, Time: c.Time, Total: ms(c.Total),
		Queue: ms(c.Queue), Start: ms(c.Start), Ready: ms(c.Ready), Warmup: ms(c.Warmup), Create: ms(c.Create)}
}

// functionOf builds a function's line of the overview from its status and
// its revisions' (revs, as Platform.Revisions returns them).
func (h *hub) functionOf(fn *api.Function, revs []*api.Revision) functionView {
	v := functionView{
		Namespace: fn.Namespace, Name: fn.Name, URL: fn.Status.URL,
		LatestReady: fn.Status.LatestReadyRevisionName, LatestCreated: fn.Status.LatestCreatedRevisionName,
		Traffic: []shareView{},
	}
	v.stateView = functionState(fn, revs)
	for _, t := range fn.Status.Traffic {
		v.Traffic = append(v.Traffic, shareView{Revision: t.RevisionName, Percent: t.PercentOrZero(), Tag: t.Tag, URL: t.URL,
			Latest: t.LatestRevision != nil && *t.LatestRevision})
	}
	routed := map[string]bool{}
	for _, t := range fn.Status.Traffic {
		routed[t.RevisionName] = routed[t.RevisionName] || t.PercentOrZero() > 0
	}
	keys := make([]api.RevisionKey, 0, len(revs))
	for _, r := range revs {
		v.Instances += r.Status.ActualReplicas
		v.Desired += r.Status.DesiredReplicas
		v.Starting = v.Starting || routed[r.Name] && r.Status.DesiredReplicas > 0 && r.Status.ActualReplicas == 0
		keys = append(keys, r.Key())
	}
	if h.c.opts.Data != nil {
		v.window = h.rates.of(keys...)
		for _, k := range keys {
			cs := h.c.opts.Data.ColdStarts(k)
			if n := len(cs); n > 0 && (v.LastColdStart == nil || cs[n-1].Time.After(v.LastColdStart.Time)) {
				last := coldStart(k.Name, cs[n-1])
				v.LastColdStart = &last
			}
		}
	}
	return v
}

func triggerOf(t *api.Trigger) triggerView {
	v := triggerView{
		Namespace: t.Namespace, Name: t.Name, Source: t.SourceSummary(), Sink: t.Spec.Sink.String(), SinkURI: t.Status.SinkURI,
		Delivered: t.Status.Delivered, Retried: t.Status.Retried, DeadLettered: t.Status.DeadLettered,
		Failed: t.Status.Failed, Skipped: t.Status.Skipped, RateLimit: t.RateLimitInForce(), Lag: t.Status.Lag,
		Pace: t.Status.Pace, Throttled: t.Status.Throttled,
		Kind: t.SourceKind(),
	}
	v.Ready, v.Reason, v.Message = readyOf(t.Status.Conditions)
	if n := t.Status.NextFireTime; n != nil {
		v.NextFire = &n.Time
	}
	if l := t.Status.LastFireTime; l != nil {
		v.LastFire = &l.Time
	}
	return v
}

// detailOf builds a function's page: every revision, newest first, with
// its share of the split, the autoscaler's decisions and its cold starts;
// and, apart, each revision's autoscaling trace for the charts, which a
// stream sends a point at a time rather than with every frame.
func (h *hub) detailOf(key api.FunctionKey, fns map[api.FunctionKey]*api.Function, byFn map[api.FunctionKey][]*api.Revision) (detailView, map[string][]api.ScalingPoint) {
	d := detailView{Namespace: key.Namespace, Name: key.Name, Logs: h.c.opts.Logs != nil}
	traces := map[string][]api.ScalingPoint{}
	fn, ok := fns[key]
	if !ok {
		d.Missing = true
		return d, traces
	}
	fv := h.functionOf(fn, byFn[key])
	d.Function, d.Spec, d.Targets = &fv, fn.Spec.Traffic, editorTargets(fn, byFn[key])
	if d.Spec == nil {
		d.Spec = []api.TrafficTarget{}
	}
	share, tags := trafficOf(fn)
	revs := byFn[key]
	d.Revisions = make([]revisionView, 0, len(revs))
	for i := len(revs) - 1; i >= 0; i-- {
		// With the decisions: the list's revisions carry only the last.
		r, err := h.c.opts.Platform.Revision(revs[i].Key(), true)
		if err != nil {
			continue // deleted since the list was read
		}
		if as := r.Status.Autoscaling; as != nil {
			traces[r.Name], as.Trace = as.Trace, nil
		}
		rv := revisionView{Name: r.Name, Created: r.CreationTimestamp.Time, Percent: share[r.Name], Tags: tags[r.Name],
			Desired: r.Status.DesiredReplicas, Actual: r.Status.ActualReplicas, Autoscaling: r.Status.Autoscaling,
			ColdStarts: []coldStartView{}}
		rv.Ready, rv.Reason, rv.Message = revisionState(r.Status.Conditions)
		if h.c.opts.Data != nil {
			rv.window = h.rates.of(r.Key())
			cs := h.c.opts.Data.ColdStarts(r.Key())
			for j := len(cs) - 1; j >= 0; j-- {
				rv.ColdStarts = append(rv.ColdStarts, coldStart(r.Name, cs[j]))
			}
		}
		d.Revisions = append(d.Revisions, rv)
	}
	return d, traces
}

// groupRevisions files revisions under their functions, in the order
// listed (Platform.Revisions lists them oldest first).
func groupRevisions(revs []*api.Revision) map[api.FunctionKey][]*api.Revision {
	out := map[api.FunctionKey][]*api.Revision{}
	for _, r := range revs {
		k := api.FunctionKey{Namespace: r.Namespace, Name: r.FunctionName()}
		out[k] = append(out[k], r)
	}
	return out
}
