package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		Get:       getServed,
	})
}

// getServed is an HTTP GET of path on ep that waits up to a second for a
// refused connection to be accepted: KWOK marks a pod Ready without
// waiting for anything to listen, so the test's stand-in for its process
// may bind the pod's address just after the runtime reported it ready,
// where a real kubelet's readiness probe would have waited for it.
func getServed(ctx context.Context, ep runtime.Endpoint, path string) (string, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ep.Addr+path, nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if errors.Is(err, syscall.ECONNREFUSED) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return string(b), err
	}
}

// fakeProcesses plays testfn for every pod of the namespace: "/" and
// "/env" answer from the pod's spec, and crash makes the kubelet's part of
// a container that exits and is restarted, in the pod's status.
type fakeProcesses struct {
	client kubernetes.Interface
	ns     string

	mu      sync.Mutex
	crashed map[string]bool // pods whose "process" is down
}

func (f *fakeProcesses) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := kubetest.PodOf(r)
	f.mu.Lock()
	down := f.crashed[key.Name]
	f.mu.Unlock()
	if !ok || down {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	pod, err := f.client.CoreV1().Pods(key.Namespace).Get(r.Context(), key.Name, metav1.GetOptions{})
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

// crashRestartDelay is how long the crashed container stays down before
// its restart passes the readiness probe.
const crashRestartDelay = time.Second

// crash stops answering on the pod's address and writes what the kubelet
// would of a container that exited with status 3: not ready, restarted
// once, its last state terminated. A second later the restarted container
// is ready and answers again.
func (f *fakeProcesses) crash(ctx context.Context, ep runtime.Endpoint) error {
	f.mu.Lock()
	f.crashed[ep.ID] = true
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
		delete(f.crashed, ep.ID)
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
