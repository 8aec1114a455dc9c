package kube

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/internal/kubetest"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/runtimetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// TestContract runs the runtime contract against a real API server,
// controller manager and scheduler, KWOK making the pods Ready, and the
// test serving testfn's routes on every pod IP in place of its process.
func TestContract(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	pods := &fakeProcesses{client: env.Client, ns: ns, crashed: map[string]bool{}}
	env.ServePods(t, ns, LabelRevision, DefaultPort, pods)
	runtimetest.Run(t, func(t *testing.T, obs runtime.Observer, dr runtime.Drainer) runtime.Runtime {
		rt, err := New(Options{
			Client:        env.Client,
			Observer:      obs,
			Drainer:       dr,
			Namespace:     ns,
			Logger:        zaptest.NewLogger(t),
			RetryInterval: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := rt.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
		return rt
	}, runtimetest.Function{
		Container: api.Container{Image: "registry.invalid/wake/testfn:contract"},
		Namespace: ns,
		Timeout:   time.Minute,
		Crash:     pods.crash,
	})
}

// fakeProcesses plays testfn for every pod of the namespace: "/" and
// "/env" answer from the pod's spec, and crash makes the kubelet's part of
// a container that exits and is restarted, in the pod's status.
type fakeProcesses struct {
	client kubernetes.Interface
	ns     string

	mu      sync.Mutex
	crashed map[string]bool // pod IPs whose "process" is down
}

func (f *fakeProcesses) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	ip, _, _ := net.SplitHostPort(fmt.Sprint(local))
	f.mu.Lock()
	down := f.crashed[ip]
	f.mu.Unlock()
	if down {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	pod, err := f.podAt(r.Context(), ip)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	getenv := func(k string) string {
		for _, e := range pod.Spec.Containers[0].Env {
			if e.Name == k {
				return e.Value
			}
		}
		return ""
	}
	switch r.URL.Path {
	case "/":
		fmt.Fprintf(w, "%s %s\n", getenv("K_REVISION"), getenv("GREETING"))
	case "/env":
		fmt.Fprintln(w, getenv(r.URL.Query().Get("k")))
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeProcesses) podAt(ctx context.Context, ip string) (*corev1.Pod, error) {
	l, err := f.client.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("status.podIP", ip).String()})
	if err != nil {
		return nil, err
	}
	for i := range l.Items {
		if l.Items[i].DeletionTimestamp == nil {
			return &l.Items[i], nil
		}
	}
	return nil, fmt.Errorf("no pod at %s", ip)
}

// crashRestartDelay is how long the crashed container stays down before
// its restart passes the readiness probe.
const crashRestartDelay = time.Second

// crash stops answering on the pod's address and writes what the kubelet
// would of a container that exited with status 3: not ready, restarted
// once, its last state terminated. A second later the restarted container
// is ready and answers again.
func (f *fakeProcesses) crash(ctx context.Context, ep runtime.Endpoint) error {
	host, _, _ := net.SplitHostPort(ep.Addr)
	f.mu.Lock()
	f.crashed[host] = true
	f.mu.Unlock()
	now := metav1.Now()
	err := f.updateStatus(ctx, ep.ID, func(p *corev1.Pod) {
		setReady(p, false, now)
		cs := &p.Status.ContainerStatuses[0]
		var started metav1.Time
		if cs.State.Running != nil {
			started = cs.State.Running.StartedAt
		}
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 3, Reason: "Error", StartedAt: started, FinishedAt: now,
		}}
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		cs.RestartCount++
	})
	if err != nil {
		return err
	}
	go func() {
		time.Sleep(crashRestartDelay)
		f.mu.Lock()
		delete(f.crashed, host)
		f.mu.Unlock()
		_ = f.updateStatus(context.Background(), ep.ID, func(p *corev1.Pod) { setReady(p, true, metav1.Now()) })
	}()
	return nil
}

func (f *fakeProcesses) updateStatus(ctx context.Context, name string, change func(*corev1.Pod)) error {
	pods := f.client.CoreV1().Pods(f.ns)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.Status.ContainerStatuses) == 0 {
			return fmt.Errorf("pod %s has no container status", name)
		}
		change(p)
		_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
}

func setReady(p *corev1.Pod, ready bool, at metav1.Time) {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	for i := range p.Status.Conditions {
		c := &p.Status.Conditions[i]
		if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			c.Status, c.LastTransitionTime = status, at
		}
	}
	for i := range p.Status.ContainerStatuses {
		p.Status.ContainerStatuses[i].Ready = ready
	}
}
