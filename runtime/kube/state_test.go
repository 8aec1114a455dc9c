package kube

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/wakefn/wake/runtime"
)

var t0 = time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)

func pod(name string, created int, ready bool) *corev1.Pod {
	p := &corev1.Pod{}
	p.Name, p.UID = name, types.UID("uid-"+name)
	p.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(created) * time.Second))
	p.Status.Phase = corev1.PodRunning
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(t0.Add(time.Duration(created+2) * time.Second))}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "user-container", Ready: ready,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0.Add(time.Duration(created+1) * time.Second))}},
	}}
	return p
}

type sliceEP struct {
	pod, ip string
	ready   bool
}

func slice(eps ...sliceEP) *discoveryv1.EndpointSlice {
	port := int32(8080)
	s := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Port: &port}}}
	for _, e := range eps {
		ready, term := e.ready, false
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Terminating: &term},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: e.pod},
		})
	}
	return s
}

func ids(s runtime.State) []string {
	var out []string
	for _, ep := range s.Ready {
		out = append(out, ep.ID+"@"+ep.Addr)
	}
	return out
}

func TestTrackerReady(t *testing.T) {
	tr := newTracker()
	a, b, c := pod("a", 0, true), pod("b", 1, true), pod("c", 2, false)
	s, _ := tr.compute(3, []*corev1.Pod{a, b, c}, []*discoveryv1.EndpointSlice{
		slice(sliceEP{"b", "127.0.100.2", true}, sliceEP{"c", "127.0.100.3", false}),
		slice(sliceEP{"a", "127.0.100.1", true}),
	}, t0)
	if got := ids(s); len(got) != 2 || got[0] != "a@127.0.100.1:8080" || got[1] != "b@127.0.100.2:8080" || s.Starting != 1 || s.Desired != 3 {
		t.Fatalf("State %v starting %d desired %d; want a, b ready, c starting, 3 desired", got, s.Starting, s.Desired)
	}
	st := s.Ready[0].Started
	if !st.Scheduled.Equal(t0) || !st.Forked.Equal(t0.Add(time.Second)) || !st.Ready.Equal(t0.Add(2*time.Second)) || st.WarmedUp != st.Ready || st.Up != st.Ready {
		t.Errorf("start times %+v", st)
	}

	// c becomes ready: it comes last even though b is now withdrawn and a
	// pod deleted, and a's Endpoint is the same value as before.
	first := s.Ready[0]
	c = pod("c", 2, true)
	b = pod("b", 1, true)
	now := metav1.NewTime(t0)
	b.DeletionTimestamp = &now
	tr.withdrawn["a"] = false
	s, _ = tr.compute(3, []*corev1.Pod{a, b, c}, []*discoveryv1.EndpointSlice{
		slice(sliceEP{"a", "127.0.100.1", true}, sliceEP{"b", "127.0.100.2", true}, sliceEP{"c", "127.0.100.3", true}),
	}, t0)
	if got := ids(s); len(got) != 2 || got[1] != "c@127.0.100.3:8080" || s.Ready[0] != first || s.Starting != 0 {
		t.Fatalf("State %v starting %d; want a (unchanged), c; none starting", got, s.Starting)
	}

	tr.withdrawn["c"] = true
	s, _ = tr.compute(2, []*corev1.Pod{a, c}, []*discoveryv1.EndpointSlice{
		slice(sliceEP{"a", "127.0.100.1", true}, sliceEP{"c", "127.0.100.3", true}),
	}, t0)
	if got := ids(s); len(got) != 1 || got[0] != "a@127.0.100.1:8080" || s.Starting != 0 {
		t.Fatalf("State %v starting %d; want only a once c is withdrawn, not counted as starting", got, s.Starting)
	}
}

func TestTrackerCrashReportedThenCleared(t *testing.T) {
	tr := newTracker()
	sl := []*discoveryv1.EndpointSlice{slice(sliceEP{"a", "127.0.100.1", true})}
	a := pod("a", 0, true)
	if s, _ := tr.compute(1, []*corev1.Pod{a}, sl, t0); len(s.Ready) != 1 || s.Failure != nil {
		t.Fatalf("State %+v, want a ready, no failure", s)
	}
	crashed := pod("a", 0, true) // restarted and ready again, seen in one go
	cs := &crashed.Status.ContainerStatuses[0]
	cs.RestartCount = 1
	cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 3, FinishedAt: metav1.NewTime(t0.Add(5 * time.Second))}
	crashed.Status.Conditions[0].Status = corev1.ConditionFalse
	s, again := tr.compute(1, []*corev1.Pod{crashed}, sl, t0)
	if s.Failure == nil || s.Failure.Reason != runtime.ReasonCrashed || s.Failure.Restarts != 1 || len(s.Ready) != 0 || again {
		t.Fatalf("State %+v again %v, want a Crashed failure, a out of Ready", s, again)
	}
	crashed.Status.Conditions[0].Status = corev1.ConditionTrue
	s, again = tr.compute(1, []*corev1.Pod{crashed}, sl, t0)
	if s.Failure != nil || len(s.Ready) != 1 || again {
		t.Fatalf("State %+v again %v, want a ready again and the failure cleared", s, again)
	}

	// A crash and the restart's readiness seen in one computation: the
	// failure is reported once, then cleared by the next.
	tr = newTracker()
	tr.compute(1, []*corev1.Pod{a}, sl, t0)
	crashed = crashed.DeepCopy()
	crashed.Status.ContainerStatuses[0].RestartCount = 2
	tr.order = nil // it left Ready in between, unseen
	s, again = tr.compute(1, []*corev1.Pod{crashed}, sl, t0)
	if s.Failure == nil || !again {
		t.Fatalf("State %+v again %v, want the failure reported and another computation asked", s, again)
	}
	if s, _ = tr.compute(1, []*corev1.Pod{crashed}, sl, t0); s.Failure != nil {
		t.Fatalf("State %+v, want the failure cleared", s)
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name    string
		status  corev1.ContainerStatus
		ready   bool
		want    string
		retryIn time.Duration
	}{
		{name: "image pull", status: corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "not found"}}}, want: runtime.ReasonStartFailed},
		{name: "crash loop", status: corev1.ContainerStatus{RestartCount: 3,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: metav1.NewTime(t0)}}},
			want: runtime.ReasonCrashLoopBackOff, retryIn: 40 * time.Second},
		{name: "exit before ready", status: corev1.ContainerStatus{RestartCount: 1,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}, want: runtime.ReasonExitedBeforeReady},
		{name: "crash", ready: true, status: corev1.ContainerStatus{RestartCount: 1,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}, want: runtime.ReasonCrashed},
		{name: "healthy", status: corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pod("a", 0, false)
			p.Status.ContainerStatuses = []corev1.ContainerStatus{tt.status}
			sigs := failures(p, tt.ready, t0)
			if tt.want == "" {
				if len(sigs) != 0 {
					t.Fatalf("failures %+v, want none", sigs)
				}
				return
			}
			if len(sigs) != 1 || sigs[0].f.Reason != tt.want {
				t.Fatalf("failures %+v, want one %s", sigs, tt.want)
			}
			if tt.retryIn != 0 && !sigs[0].f.RetryAt.Equal(t0.Add(tt.retryIn)) {
				t.Errorf("RetryAt %v, want %v", sigs[0].f.RetryAt, t0.Add(tt.retryIn))
			}
		})
	}
}

func TestPickVictims(t *testing.T) {
	a, b, c, d := pod("a", 0, true), pod("b", 1, true), pod("c", 2, false), pod("d", 3, false)
	order := []string{"b", "a"} // a became ready after b
	names := func(ps []*corev1.Pod) (out []string) {
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	tests := []struct {
		n    int
		want []string
	}{
		{0, nil},
		{1, []string{"d"}},
		{3, []string{"d", "c", "a"}},
		{9, []string{"d", "c", "a", "b"}},
	}
	for _, tt := range tests {
		got := names(pickVictims([]*corev1.Pod{a, b, c, d}, order, tt.n))
		if len(got) != len(tt.want) {
			t.Errorf("pickVictims(%d) = %v, want %v", tt.n, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("pickVictims(%d) = %v, want %v", tt.n, got, tt.want)
				break
			}
		}
	}
}
