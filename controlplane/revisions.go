package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
)

// This file holds the rules that turn functions into revisions and routes.
// They are pure: the embedded control plane and the Kubernetes controller
// apply the same ones.

// revisionChange is what applying a function does to its revisions.
type revisionChange struct {
	// created is the new revision, nil when the template did not change.
	created *api.Revision
}

// templateChanged tells whether applying next over prev needs a new
// revision. Only spec.template counts: a change to traffic alone does not.
func templateChanged(prev, next *api.Function) bool {
	return prev == nil || !equality.Semantic.DeepEqual(prev.Spec.Template, next.Spec.Template)
}

// templateChangedSince tells whether fn's template differs from the one
// its latest revision was made from, by the hash that revision carries.
// It is templateChanged for Kubernetes mode, where the function as last
// seen may already hold the user's new template.
func templateChangedSince(existing []*api.Revision, fn *api.Function) bool {
	if len(existing) == 0 {
		return true
	}
	return existing[len(existing)-1].Labels[api.LabelTemplateHash] != templateHash(fn)
}

// templateHash is a short, stable hash of a function's template: its
// JSON, whose field order is fixed and whose maps are sorted.
func templateHash(fn *api.Function) string {
	b, err := json.Marshal(fn.Spec.Template)
	if err != nil { // a template that validated always marshals
		panic(fmt.Sprintf("marshalling the template of %s: %v", fn.Key(), err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// planRevision returns the revision that applying fn creates, if any, given
// whether its template changed (unnamed templates get a revision only
// then), its existing revisions, and the
// owners of every revision name in the namespace. An explicit revision
// name that already exists with another template is an error: revisions
// are immutable; so is one that belongs to another function.
//
// initialScale is the instances the revision will start with (its
// annotation over the server's default): at 0 it is ready at once.
func planRevision(changed bool, fn *api.Function, existing []*api.Revision, owners map[string]string, initialScale func(*api.Revision) int, now metav1.Time) (revisionChange, *field.Error) {
	name := fn.Spec.Template.Name
	if owner, ok := owners[name]; name != "" && ok && owner != fn.Name {
		return revisionChange{}, field.Invalid(field.NewPath("spec", "template", "metadata", "name"), name,
			fmt.Sprintf("is a revision of function %s; choose another name", owner))
	}
	if name != "" {
		for _, r := range existing {
			if r.Name != name {
				continue
			}
			if equality.Semantic.DeepEqual(r.Spec, fn.Spec.Template.Spec) &&
				equality.Semantic.DeepEqual(templateAnnotations(r), nilIfEmpty(fn.Spec.Template.Annotations)) {
				return revisionChange{}, nil
			}
			return revisionChange{}, field.Invalid(field.NewPath("spec", "template", "metadata", "name"), name,
				"a revision of that name already exists with another template; revisions are immutable, so name the new one differently")
		}
	} else if !changed {
		return revisionChange{}, nil
	}
	if name == "" {
		// Another function may own NAME-0000N by an explicit name: skip it.
		n := nextRevisionNumber(fn.Name, existing)
		for _, taken := owners[api.RevisionName(fn.Name, n)]; taken; _, taken = owners[api.RevisionName(fn.Name, n)] {
			n++
		}
		name = api.RevisionName(fn.Name, n)
	}
	rev := &api.Revision{
		TypeMeta: metav1.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindRevision},
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			Namespace:         fn.Namespace,
			CreationTimestamp: now,
			Labels:            map[string]string{},
			Annotations:       nilIfEmpty(fn.Spec.Template.Annotations),
		},
		Spec: *fn.Spec.Template.Spec.DeepCopy(),
	}
	for k, v := range fn.Spec.Template.Labels {
		rev.Labels[k] = v
	}
	rev.Labels[api.LabelFunction] = fn.Name
	rev.Labels[api.LabelKnativeService] = fn.Name
	rev.Labels[api.LabelGeneration] = strconv.FormatInt(fn.Generation, 10)
	rev.Labels[api.LabelTemplateHash] = templateHash(fn)
	ready := api.Condition{
		Type: api.ConditionReady, Status: api.ConditionUnknown, Reason: "Deploying",
		Message: "waiting for the first instance to become ready",
	}
	if initialScale(rev) == 0 {
		// As in Knative: nothing starts until the first request, so there
		// is nothing to wait for.
		ready = api.Condition{Type: api.ConditionReady, Status: api.ConditionTrue,
			Message: "initial-scale is 0: the first request starts an instance"}
	}
	rev.Status.Conditions = api.SetCondition(nil, ready, now)
	return revisionChange{created: rev}, nil
}

// templateAnnotations are a revision's annotations as its template had
// them: without the routing state the collector records on it.
func templateAnnotations(r *api.Revision) map[string]string {
	if _, ok := r.Annotations[AnnotationRoutingStateModified]; !ok {
		return r.Annotations
	}
	out := make(map[string]string, len(r.Annotations))
	for k, v := range r.Annotations {
		if k != AnnotationRoutingStateModified {
			out[k] = v
		}
	}
	return nilIfEmpty(out)
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// nextRevisionNumber is one more than the highest NAME-NNNNN among the
// existing revisions, so numbers never repeat while the function lives.
func nextRevisionNumber(fn string, existing []*api.Revision) int64 {
	var n int64
	for _, r := range existing {
		digits, ok := strings.CutPrefix(r.Name, fn+"-")
		if !ok {
			continue
		}
		if v, err := strconv.ParseInt(digits, 10, 64); err == nil && v > n {
			n = v
		}
	}
	return n + 1
}

// sortRevisions orders a function's revisions oldest first: by the
// generation that created them, then by name.
func sortRevisions(revs []*api.Revision) {
	sort.Slice(revs, func(i, j int) bool {
		gi, _ := strconv.ParseInt(revs[i].Labels[api.LabelGeneration], 10, 64)
		gj, _ := strconv.ParseInt(revs[j].Labels[api.LabelGeneration], 10, 64)
		if gi != gj {
			return gi < gj
		}
		return revs[i].Name < revs[j].Name
	})
}

// checkTrafficRevisions reports traffic targets naming a revision that
// neither exists nor is created by this apply.
func checkTrafficRevisions(fn *api.Function, revs []*api.Revision) field.ErrorList {
	known := map[string]bool{}
	var names []string
	for _, r := range revs {
		known[r.Name] = true
		names = append(names, r.Name)
	}
	var errs field.ErrorList
	for i, t := range fn.Spec.Traffic {
		if t.RevisionName == "" || known[t.RevisionName] {
			continue
		}
		have := "it has no revision yet"
		if len(names) > 0 {
			have = "it has " + strings.Join(names, ", ")
		}
		e := field.NotFound(field.NewPath("spec", "traffic").Index(i).Child("revisionName"), t.RevisionName)
		e.Detail = fmt.Sprintf("%s is not a revision of %s: %s", t.RevisionName, fn.Name, have)
		errs = append(errs, e)
	}
	return errs
}

// latest returns the newest revision created, and the newest that is
// ready; when none has been ready yet, the newest created stands for it so
// the first requests are held for it rather than refused.
func latest(revs []*api.Revision) (created, ready *api.Revision) {
	for _, r := range revs { // oldest first
		created = r
		if api.IsReady(r.Status.Conditions) {
			ready = r
		}
	}
	return created, ready
}

// resolveTraffic turns a function's traffic spec into concrete revisions:
// its route for the router and its status.traffic. A rollout (nil for
// none) divides the latest revision's share between its stable revision
// and the canary. urlOf gives a tagged target's URL from its host's
// function key (TAG-NAME); nil leaves URLs out.
func resolveTraffic(fn *api.Function, revs []*api.Revision, ro *api.RolloutStatus, urlOf func(api.FunctionKey) string) (router.Route, []api.TrafficTarget) {
	route := router.Route{Function: fn.Key(), Sticky: fn.Annotations[AnnotationStickySessions] != "false"}
	created, ready := latest(revs)
	if ready == nil {
		ready = created
	}
	var status []api.TrafficTarget
	for _, t := range fn.Spec.Traffic {
		name := t.RevisionName
		pct := t.PercentOrZero()
		if t.LatestRevision != nil && *t.LatestRevision {
			if ready == nil {
				continue
			}
			name = ready.Name
			if split, ok := splitOf(ro, ready.Name); ok {
				// The stable revision's part, then the canary's below.
				canary := (pct*split.percent + 99) / 100
				if pct-canary > 0 {
					f := false
					route.Targets = append(route.Targets, router.Target{Revision: split.stable, Percent: int(pct - canary)})
					stablePct := pct - canary
					status = append(status, api.TrafficTarget{RevisionName: split.stable, LatestRevision: &f, Percent: &stablePct})
				}
				if split.active {
					route.Aliases = map[string]string{"canary": split.canary, "stable": split.stable}
				}
				pct = canary
				if pct == 0 && t.Tag == "" {
					continue
				}
			}
		}
		route.Targets = append(route.Targets, router.Target{Revision: name, Percent: int(pct), Tag: t.Tag})
		st := api.TrafficTarget{Tag: t.Tag, RevisionName: name, LatestRevision: t.LatestRevision, Percent: &pct}
		if t.Tag != "" && urlOf != nil {
			st.URL = urlOf(api.FunctionKey{Namespace: fn.Namespace, Name: t.Tag + "-" + fn.Name})
		}
		status = append(status, st)
	}
	return route, status
}

// resolvePaths makes a local command's relative paths absolute against
// dir, the manifest's directory, so that `command: [./hello]` works from
// wherever `wake apply` runs. A bare name ("python3") is left for PATH.
// With no workingDir, instances run in dir. An image-only container's
// paths are the image's, and are left alone.
func resolvePaths(fn *api.Function, dir string) {
	if dir == "" {
		return
	}
	for i := range fn.Spec.Template.Spec.Containers {
		c := &fn.Spec.Template.Spec.Containers[i]
		if len(c.Command) == 0 && c.Image != "" {
			continue
		}
		if len(c.Command) > 0 && strings.Contains(c.Command[0], "/") && !filepath.IsAbs(c.Command[0]) {
			c.Command[0] = filepath.Join(dir, c.Command[0])
		}
		switch {
		case c.WorkingDir == "":
			c.WorkingDir = dir
		case !filepath.IsAbs(c.WorkingDir):
			c.WorkingDir = filepath.Join(dir, c.WorkingDir)
		}
	}
}

// AnnotationStickySessions, set to "false" on a function, stops the
// wake-revision cookie that keeps a client on one revision while its
// traffic is split.
const AnnotationStickySessions = "wake.dev/sticky-sessions"

// ConditionContainerHealthy reports, for a revision that has served, that
// its instances keep failing. Its Ready condition stays True: a revision
// once ready does not lose its traffic to an older one because an
// instance crashed (Knative's rule too); requests meanwhile get a 503
// naming the failure.
const ConditionContainerHealthy = "ContainerHealthy"

// ConditionWarmedUp reports a revision's warm-up (spec.warmup or the
// wake.dev/warmup annotation): False, with reason WarmupFailed and the
// request that failed, while the latest warm-up failed, whatever its
// onFailure policy; True once a later one passed. A revision whose
// warm-ups never failed does not have it.
const ConditionWarmedUp = "WarmedUp"

// ConditionImagePulled reports an image revision's image: True once it
// is resolved, pinned and unpacked here (its message names the digest),
// False with the reason (ImageNotFound, ImagePullUnauthorized,
// RegistryUnavailable, ContainersUnavailable, ...) while it cannot be
// had. Revisions that run a command do not have it.
const ConditionImagePulled = "ImagePulled"

// observe returns a revision's conditions after a runtime report, or nil
// when nothing changed, and whether Ready changed. Before it first becomes
// ready, a failure makes Ready False with the runtime's reason, and a
// start taking its time puts its progress in Ready's message. After, a
// failure shows in ContainerHealthy only. A failed warm-up shows in
// WarmedUp either way.
func observe(conds []api.Condition, s runtime.State, now metav1.Time) ([]api.Condition, bool) {
	ready := api.GetCondition(conds, api.ConditionReady)
	wasReady := ready != nil && ready.Status == api.ConditionTrue
	var want []api.Condition
	switch {
	case s.Warmup != nil:
		want = append(want, api.Condition{Type: ConditionWarmedUp, Status: api.ConditionFalse,
			Reason: s.Warmup.Reason, Message: s.Warmup.Message})
	case len(s.Ready) > 0 && api.GetCondition(conds, ConditionWarmedUp) != nil:
		// The runtime clears Warmup only when a warm-up passes, and an
		// instance that failed its warm-up is in Ready only with Warmup set.
		want = append(want, api.Condition{Type: ConditionWarmedUp, Status: api.ConditionTrue})
	}
	if im := s.Image; im != nil {
		switch {
		case im.Pulled:
			want = append(want, api.Condition{Type: ConditionImagePulled, Status: api.ConditionTrue,
				Message: fmt.Sprintf("%s resolved to %s (%s)", im.Ref, im.Digest, describeSize(im.Size))})
		case im.Reason != "":
			want = append(want, api.Condition{Type: ConditionImagePulled, Status: api.ConditionFalse,
				Reason: im.Reason, Message: im.Message})
		}
	}
	switch {
	case len(s.Ready) > 0:
		want = append(want, api.Condition{Type: api.ConditionReady, Status: api.ConditionTrue})
		if api.GetCondition(conds, ConditionContainerHealthy) != nil {
			want = append(want, api.Condition{Type: ConditionContainerHealthy, Status: api.ConditionTrue})
		}
	case s.Failure != nil && wasReady:
		want = append(want, api.Condition{Type: ConditionContainerHealthy, Status: api.ConditionFalse,
			Reason: s.Failure.Reason, Message: s.Failure.Message})
	case s.Failure != nil:
		want = append(want, api.Condition{Type: api.ConditionReady, Status: api.ConditionFalse,
			Reason: s.Failure.Reason, Message: s.Failure.Message})
	case !wasReady && (s.Progress != "" || ready != nil && ready.Status == api.ConditionUnknown && ready.Message != ""):
		// A first start taking its time says what it waits for.
		want = append(want, api.Condition{Type: api.ConditionReady, Status: api.ConditionUnknown,
			Reason: "Deploying", Message: s.Progress})
	}
	if len(want) == 0 {
		return nil, false // scaled to zero, or starting: as it was
	}
	changed := false
	out := append([]api.Condition(nil), conds...)
	for _, w := range want {
		old := api.GetCondition(out, w.Type)
		if old != nil && old.Status == w.Status && old.Reason == w.Reason && old.Message == w.Message {
			continue
		}
		changed = true
		out = api.SetCondition(out, w, now)
	}
	if !changed {
		return nil, false
	}
	newReady := api.GetCondition(out, api.ConditionReady)
	return out, ready == nil || newReady.Status != ready.Status
}

// describeSize says a size in bytes for people: "12.3 MB".
func describeSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
