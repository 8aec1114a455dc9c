package kube

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/wakefn/wake/runtime"
)

// tracker turns what the informers show of one revision (its pods and its
// EndpointSlices) into runtime States. It remembers what a pure function of
// the objects cannot know: the order instances became ready, their
// Endpoint values (shared, never modified once reported), the pods the
// runtime withdrew itself to drain them, and the latest failure. It is
// owned by the revision's loop and not safe for concurrent use.
type tracker struct {
	seq       uint64                      // computations so far
	order     []string                    // ready pods, in the order they became ready
	eps       map[string]runtime.Endpoint // by pod name, while ready
	readySeq  map[string]uint64           // computation a ready pod (re)entered Ready at
	everReady map[string]bool             // pod UIDs ever reported ready
	withdrawn map[string]bool             // pod names taken out of Ready to be stopped
	seen      map[string]bool             // failure signals already reported
	failure   *runtime.Failure
	failSeq   uint64 // computation failure was set at
}

func newTracker() *tracker {
	return &tracker{
		eps:       map[string]runtime.Endpoint{},
		readySeq:  map[string]uint64{},
		everReady: map[string]bool{},
		withdrawn: map[string]bool{},
		seen:      map[string]bool{},
	}
}

// compute returns the State of the revision's pods and slices with desired
// instances asked for. again says a failure was set in the same
// computation as an instance became ready: it was reported once, and the
// next computation clears it, so the caller should compute once more.
func (t *tracker) compute(desired int, pods []*corev1.Pod, eslices []*discoveryv1.EndpointSlice, now time.Time) (s runtime.State, again bool) {
	t.seq++
	byName := make(map[string]*corev1.Pod, len(pods))
	for _, p := range pods {
		byName[p.Name] = p
	}
	addrs := readyAddrs(eslices)

	// Ready: in a slice as ready, the pod known, Ready, not deleted, and
	// not withdrawn by the runtime.
	ready := map[string]string{}
	for name, addr := range addrs {
		p := byName[name]
		if p == nil || p.DeletionTimestamp != nil || t.withdrawn[name] || !podReady(p) {
			continue
		}
		ready[name] = addr
	}
	var order []string
	for _, name := range t.order {
		if addr, ok := ready[name]; ok && t.eps[name].Addr == addr {
			order = append(order, name)
			delete(ready, name)
		} else {
			delete(t.eps, name)
			delete(t.readySeq, name)
		}
	}
	var fresh []string
	for name := range ready {
		fresh = append(fresh, name)
	}
	slices.SortFunc(fresh, func(a, b string) int {
		if c := byName[a].CreationTimestamp.Compare(byName[b].CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, name := range fresh {
		p := byName[name]
		t.eps[name] = runtime.Endpoint{ID: name, Addr: ready[name], Started: startTimes(p)}
		t.readySeq[name] = t.seq
		t.everReady[string(p.UID)] = true
		order = append(order, name)
	}
	t.order = order
	for _, name := range order {
		s.Ready = append(s.Ready, t.eps[name])
	}

	for _, p := range pods {
		if p.DeletionTimestamp != nil || t.withdrawn[p.Name] || terminal(p) {
			continue
		}
		if _, ok := t.eps[p.Name]; !ok {
			s.Starting++
		}
	}
	for name := range t.withdrawn {
		if byName[name] == nil {
			delete(t.withdrawn, name)
		}
	}

	// Failure: the newest signal not reported yet; cleared by an instance
	// that became ready since it was set.
	live := map[string]bool{}
	for _, p := range pods {
		live[string(p.UID)] = true
		for _, sig := range failures(p, t.everReady[string(p.UID)], now) {
			if t.seen[sig.key] {
				continue
			}
			t.seen[sig.key] = true
			if t.failure == nil || !sig.f.At.Before(t.failure.At) || t.failSeq < t.seq {
				f := sig.f
				t.failure, t.failSeq = &f, t.seq
			}
		}
	}
	for k := range t.seen {
		if uid, _, _ := strings.Cut(k, "/"); !live[uid] {
			delete(t.seen, k)
		}
	}
	for uid := range t.everReady {
		if !live[uid] {
			delete(t.everReady, uid)
		}
	}
	if t.failure != nil {
		for _, name := range order {
			if t.readySeq[name] < t.failSeq {
				continue
			}
			if t.failSeq < t.seq {
				t.failure = nil
			} else {
				again = true
			}
			break
		}
	}
	s.Desired = desired
	s.Failure = t.failure
	return s, again
}

// readyAddrs maps the pods the slices list as ready (and not terminating)
// to their host:port.
func readyAddrs(eslices []*discoveryv1.EndpointSlice) map[string]string {
	out := map[string]string{}
	for _, sl := range eslices {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var port int32
		for _, p := range sl.Ports {
			if p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range sl.Endpoints {
			c := ep.Conditions
			if c.Ready != nil && !*c.Ready || c.Terminating != nil && *c.Terminating {
				continue
			}
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || len(ep.Addresses) == 0 {
				continue
			}
			out[ep.TargetRef.Name] = net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port)))
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	c := condition(p, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func condition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// startTimes are a ready pod's phases from its timestamps, which the API
// server and the kubelet keep to the second: Scheduled is the pod's
// creation (the ReplicaSet acting on a Scale), Forked its container's
// start, Up, Ready and WarmedUp the Ready condition's transition. The
// kubelet records no time for the first answered probe, so the start
// phase (Forked..Up) holds the whole wait for readiness, and warm-up is
// not run in Kubernetes mode.
func startTimes(p *corev1.Pod) *runtime.StartTimes {
	st := &runtime.StartTimes{Scheduled: p.CreationTimestamp.Time}
	st.Forked = st.Scheduled
	for _, cs := range p.Status.ContainerStatuses {
		if r := cs.State.Running; r != nil && r.StartedAt.After(st.Forked) {
			st.Forked = r.StartedAt.Time
		}
	}
	st.Ready = st.Forked
	if c := condition(p, corev1.PodReady); c != nil && c.LastTransitionTime.After(st.Ready) {
		st.Ready = c.LastTransitionTime.Time
	}
	st.Up, st.WarmedUp = st.Ready, st.Ready
	return st
}

type signal struct {
	key string // pod UID / what failed; reported once
	f   runtime.Failure
}

// startFailures are the waiting reasons of a container that cannot be
// started: the image cannot be pulled, or the container not created.
var startFailures = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// Kubelet's restart backoff: 10s, doubled at each crash, at most 5m.
const (
	crashBackoffBase = 10 * time.Second
	crashBackoffMax  = 5 * time.Minute
)

// failures are what a pod's status says went wrong. ready says the pod was
// reported ready before, to tell a crash from an exit before readiness.
func failures(p *corev1.Pod, ready bool, now time.Time) []signal {
	uid := string(p.UID)
	var out []signal
	if c := condition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
		out = append(out, signal{uid + "/unschedulable", runtime.Failure{
			Reason: runtime.ReasonStartFailed, Message: "pod " + p.Name + " cannot be scheduled: " + c.Message, At: now,
		}})
	}
	if p.Status.Phase == corev1.PodFailed {
		out = append(out, signal{uid + "/failed", runtime.Failure{
			Reason: runtime.ReasonCrashed, Message: fmt.Sprintf("pod %s failed: %s %s", p.Name, p.Status.Reason, p.Status.Message), At: now,
		}})
	}
	for _, cs := range p.Status.ContainerStatuses {
		restarts := int(cs.RestartCount)
		if w := cs.State.Waiting; w != nil {
			switch {
			case startFailures[w.Reason]:
				out = append(out, signal{uid + "/" + w.Reason, runtime.Failure{
					Reason: runtime.ReasonStartFailed, Message: fmt.Sprintf("pod %s: %s: %s", p.Name, w.Reason, w.Message), At: now, Restarts: restarts,
				}})
				continue
			case w.Reason == "CrashLoopBackOff":
				f := runtime.Failure{Reason: runtime.ReasonCrashLoopBackOff, At: now, Restarts: restarts,
					Message: fmt.Sprintf("pod %s: back-off after %d restarts%s", p.Name, restarts, exitText(cs.LastTerminationState.Terminated))}
				if term := cs.LastTerminationState.Terminated; term != nil && !term.FinishedAt.IsZero() {
					f.At = term.FinishedAt.Time
				}
				f.RetryAt = f.At.Add(crashBackoff(restarts))
				out = append(out, signal{fmt.Sprintf("%s/backoff/%d", uid, restarts), f})
				continue
			}
		}
		if term := cs.LastTerminationState.Terminated; term != nil && restarts > 0 {
			reason := runtime.ReasonExitedBeforeReady
			if ready {
				reason = runtime.ReasonCrashed
			}
			f := runtime.Failure{Reason: reason, At: now, Restarts: restarts,
				Message: fmt.Sprintf("pod %s: container %s exited%s", p.Name, cs.Name, exitText(term))}
			if !term.FinishedAt.IsZero() {
				f.At = term.FinishedAt.Time
			}
			out = append(out, signal{fmt.Sprintf("%s/exit/%d", uid, restarts), f})
		}
	}
	return out
}

func exitText(t *corev1.ContainerStateTerminated) string {
	if t == nil {
		return ""
	}
	s := fmt.Sprintf(" with status %d", t.ExitCode)
	if t.Reason != "" {
		s += " (" + t.Reason + ")"
	}
	if m := strings.TrimSpace(t.Message); m != "" {
		s += ": " + m
	}
	return s
}

func crashBackoff(restarts int) time.Duration {
	d := crashBackoffBase
	for i := 1; i < restarts && d < crashBackoffMax; i++ {
		d *= 2
	}
	return min(d, crashBackoffMax)
}
