package kube_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wakefn/wake/internal/kubetest"
)

// function is a Function manifest: image tag v, and traffic YAML ("" for
// all to the latest revision).
func function(v, traffic string) []byte { return functionWith("", v, traffic) }

// functionWith is function with the function's own annotations, as
// YAML lines indented by four spaces.
func functionWith(annotations, v, traffic string) []byte {
	if annotations != "" {
		annotations = "  annotations:\n" + annotations
	}
	return []byte(fmt.Sprintf(`apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
%sspec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/initial-scale: "0"
        autoscaling.knative.dev/window: "6s"
    spec:
      containers:
        - image: registry.example/hello:%s
          ports: [{containerPort: 8080}]
%s`, annotations, v, traffic))
}

// revisionOf is the revision a pod of it belongs to: its name less the
// ReplicaSet and pod suffixes the Deployment adds.
func revisionOf(pod string) string {
	parts := strings.Split(pod, "-")
	if len(parts) < 3 {
		return pod
	}
	return strings.Join(parts[:len(parts)-2], "-")
}

// TestKubernetesMode walks the path a user takes: kubectl apply, a
// request that wakes the function, scale to zero, a canary split, the
// loss of the leading controller and an API server restart, all through
// wake's own processes against a real control plane.
func TestKubernetesMode(t *testing.T) {
	env := kubetest.Start(t)
	c := startCluster(t, env)
	ctx := context.Background()

	// The test stands in for every pod of the function.
	var events atomic.Int64 // CloudEvents the function received
	env.ServePods(t, c.ns, "wake.dev/function=hello", 8080, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pod, _ := kubetest.PodOf(r)
		if r.Method == http.MethodPost && r.Header.Get("Ce-Type") != "" {
			events.Add(1)
		}
		rev := revisionOf(pod.Name)
		if rev == "hello-00003" { // the broken canary of the rollout below
			w.WriteHeader(http.StatusInternalServerError)
		}
		fmt.Fprint(w, rev)
	}))

	env.Kubectl(t, function("1", ""), "apply", "-n", c.ns, "-f", "-")
	deployment := func(name string) int32 {
		d, err := env.Client.AppsV1().Deployments(c.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || d.Spec.Replicas == nil {
			return -1
		}
		return *d.Spec.Replicas
	}
	env.Eventually(t, 30*time.Second, "revision hello-00001 with its Deployment at 0 replicas", func() bool {
		return deployment("hello-00001") == 0
	})
	env.Eventually(t, 30*time.Second, "the function's status says its URL and latest revision", func() bool {
		out := env.Kubectl(t, nil, "get", "-n", c.ns, "functions", "hello", "-o",
			"jsonpath={.status.url} {.status.latestCreatedRevisionName} {.status.traffic[0].revisionName}")
		return out == "http://hello."+c.ns+"."+domain+" hello-00001 hello-00001"
	})
	t.Logf("kubectl get functions:\n%s", env.Kubectl(t, nil, "get", "-n", c.ns, "functions"))

	t.Run("a request wakes the function from zero", func(t *testing.T) {
		began := time.Now()
		code, body, err := c.get(t, "hello", 60*time.Second)
		if err != nil || code != http.StatusOK || body != "hello-00001" {
			t.Fatalf("GET = %d %q, %v; want 200 from hello-00001", code, body, err)
		}
		t.Logf("the first request was answered after %v (scale to 1, pod Ready, EndpointSlice, gateway)", time.Since(began).Round(time.Millisecond))
		if n := deployment("hello-00001"); n != 1 {
			t.Errorf("hello-00001 has %d replicas while serving, want 1", n)
		}
	})

	t.Run("idle, it goes back to zero", func(t *testing.T) {
		began := time.Now()
		env.Eventually(t, 60*time.Second, "hello-00001 back at 0 replicas", func() bool { return deployment("hello-00001") == 0 })
		t.Logf("at zero %v after the last request", time.Since(began).Round(time.Second))
	})

	t.Run("the report port takes only the shared token, and follows its rotation", func(t *testing.T) {
		c.checkReportAuth(t, "hello-00001", func() int32 { return deployment("hello-00001") })
	})

	t.Run("a canary gets its 10 percent", func(t *testing.T) {
		env.Kubectl(t, function("2", `  traffic:
    - revisionName: hello-00001
      percent: 90
    - latestRevision: true
      percent: 10
`), "apply", "-n", c.ns, "-f", "-")
		env.Eventually(t, 30*time.Second, "hello-00002 in the function's traffic", func() bool {
			out := env.Kubectl(t, nil, "get", "-n", c.ns, "functions", "hello", "-o", "jsonpath={.status.traffic[*].revisionName}")
			return out == "hello-00001 hello-00002"
		})
		counts := map[string]int{}
		const n = 400
		for range n {
			code, body, err := c.get(t, "hello", 60*time.Second)
			if err != nil || code != http.StatusOK {
				t.Fatalf("GET = %d %q, %v", code, body, err)
			}
			counts[body]++
		}
		t.Logf("%d requests: %v", n, counts)
		if got := counts["hello-00002"]; got < n*4/100 || got > n*18/100 {
			t.Errorf("hello-00002 got %d of %d requests, want about 10%%", got, n)
		}
		if counts["hello-00001"]+counts["hello-00002"] != n {
			t.Errorf("answers from other revisions: %v", counts)
		}
	})

	t.Run("one controller leads, the other takes over when it dies", func(t *testing.T) {
		holder := func() string {
			l, err := env.Client.CoordinationV1().Leases(c.ns).Get(ctx, "wake-controller", metav1.GetOptions{})
			if err != nil || l.Spec.HolderIdentity == nil {
				return ""
			}
			id, _, _ := strings.Cut(*l.Spec.HolderIdentity, " ")
			return id
		}
		leading := func() []string {
			var ids []string
			for id, p := range c.controllers {
				out := p.output()
				if strings.LastIndex(out, "leading: taking over") > strings.LastIndex(out, "no longer leading") {
					ids = append(ids, id)
				}
			}
			return ids
		}
		if ids := leading(); len(ids) != 1 || ids[0] != holder() {
			t.Fatalf("leading: %v, lease held by %q; want exactly the holder", ids, holder())
		}
		// Steady traffic across the failover: the new leader must take
		// the running instances as they are, not scale them down and
		// start again.
		load := c.steady(t, "hello")
		env.Eventually(t, 30*time.Second, "hello-00001 serving", func() bool { return deployment("hello-00001") >= 1 })
		// A pod the controller means to stop is first marked with a low
		// deletion cost; none of the serving revision's may be.
		marked := map[string]bool{}
		watchPods := func() {
			pods, err := env.Client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: "wake.dev/revision=hello-00001"})
			if err != nil {
				return
			}
			for _, p := range pods.Items {
				if p.Annotations["controller.kubernetes.io/pod-deletion-cost"] != "" {
					marked[p.Name] = true
				}
			}
		}
		old := holder()
		c.controllers[old].stop(syscall.SIGKILL, time.Second)
		killed := time.Now()
		lowest := deployment("hello-00001")
		env.Eventually(t, 30*time.Second, "another controller leads", func() bool {
			lowest = min(lowest, deployment("hello-00001"))
			watchPods()
			h := holder()
			ids := leading()
			return h != old && h != "" && len(ids) == 2 && (ids[0] == h || ids[1] == h) // the dead one's log still says leading
		})
		t.Logf("%s took over %v after %s was killed", holder(), time.Since(killed).Round(time.Millisecond), old)
		for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			lowest = min(lowest, deployment("hello-00001"))
			watchPods()
		}
		sent, failed := load.stop()
		t.Logf("across the failover: %d requests, %d failed; hello-00001 had at least %d replicas", sent, failed, lowest)
		if lowest < 1 || failed > 0 || len(marked) > 0 {
			t.Errorf("the failover scaled a serving revision to %d replicas and marked pods %v to stop; %d of %d requests failed",
				lowest, marked, failed, sent)
		}
		// The new leader scales: both revisions go to zero when idle,
		// and a request wakes them again through it.
		env.Eventually(t, 60*time.Second, "both revisions at zero under the new leader", func() bool {
			return deployment("hello-00001") == 0 && deployment("hello-00002") == 0
		})
		code, body, err := c.get(t, "hello", 60*time.Second)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET after failover = %d %q, %v", code, body, err)
		}
	})

	t.Run("the gateway keeps serving through an API server restart", func(t *testing.T) {
		env.Kubectl(t, function("2", `  traffic:
    - latestRevision: true
      percent: 100
`), "apply", "-n", c.ns, "-f", "-")
		env.Eventually(t, 30*time.Second, "all traffic on hello-00002", func() bool {
			_, body, _ := c.get(t, "hello", 60*time.Second)
			return body == "hello-00002"
		})
		load := c.steady(t, "hello")
		env.RestartAPIServer(t)
		// A change after the restart reaches the gateway: its informers
		// watch again.
		env.Kubectl(t, function("2", `  traffic:
    - revisionName: hello-00001
      percent: 100
`), "apply", "-n", c.ns, "-f", "-")
		env.Eventually(t, 60*time.Second, "all traffic back on hello-00001 after the restart", func() bool {
			_, body, _ := c.get(t, "hello", 60*time.Second)
			return body == "hello-00001"
		})
		sent, failed := load.stop()
		t.Logf("%d requests during and after the restart, %d failed", sent, failed)
		if failed > 0 {
			t.Errorf("%d of %d requests failed across the API server restart", failed, sent)
		}
	})

	t.Run("a cron trigger delivers through the gateway", func(t *testing.T) {
		env.Kubectl(t, []byte(`apiVersion: wake.dev/v1
kind: Trigger
metadata:
  name: tick
spec:
  cron:
    schedule: "*/2 * * * * *"
  sink:
    function: hello
`), "apply", "-n", c.ns, "-f", "-")
		env.Eventually(t, 30*time.Second, "3 events delivered to the function", func() bool { return events.Load() >= 3 })
		env.Eventually(t, 30*time.Second, "the trigger's status counts its deliveries", func() bool {
			out := env.Kubectl(t, nil, "get", "-n", c.ns, "triggers", "tick", "-o",
				"jsonpath={.status.conditions[?(@.type=='Ready')].status} {.status.delivered}")
			var ready string
			var delivered int
			fmt.Sscanf(out, "%s %d", &ready, &delivered)
			return ready == "True" && delivered >= 1
		})
		env.Kubectl(t, nil, "delete", "-n", c.ns, "trigger", "tick")
		time.Sleep(3 * time.Second) // a fire already under way may still land
		after := events.Load()
		time.Sleep(5 * time.Second)
		if n := events.Load() - after; n > 0 {
			t.Errorf("%d events delivered after the trigger was deleted", n)
		}
	})

	t.Run("a failing canary is rolled back on what the gateway saw", func(t *testing.T) {
		env.Kubectl(t, functionWith(`    serving.knative.dev/rollout-duration: "12s"
    wake.dev/rollout-min-step: "4s"
    wake.dev/rollout-min-requests: "10"
`, "3", `  traffic:
    - latestRevision: true
      percent: 100
`), "apply", "-n", c.ns, "-f", "-")
		phase := func() string {
			return env.Kubectl(t, nil, "get", "-n", c.ns, "functions", "hello", "-o", "jsonpath={.status.rollout.phase}")
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var codes sync.Map // status code → *atomic.Int64
		for range 6 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					code, _, err := c.get(t, "hello", 30*time.Second)
					if err != nil {
						code = -1
					}
					n, _ := codes.LoadOrStore(code, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				}
			})
		}
		env.Eventually(t, 90*time.Second, "the rollout of hello-00003 rolled back", func() bool { return phase() == "RolledBack" })
		close(stop)
		wg.Wait()
		msg := env.Kubectl(t, nil, "get", "-n", c.ns, "functions", "hello", "-o", "jsonpath={.status.rollout.message}")
		t.Logf("rollout: %s", msg)
		codes.Range(func(k, v any) bool { t.Logf("status %v: %d requests", k, v.(*atomic.Int64).Load()); return true })
		count := func(code int) int64 {
			if n, ok := codes.Load(code); ok {
				return n.(*atomic.Int64).Load()
			}
			return 0
		}
		if bad, all := count(http.StatusInternalServerError), count(http.StatusOK)+count(http.StatusInternalServerError); bad*100 > all*3 {
			t.Errorf("the broken canary answered %d of %d requests; at its 1%% step it should have had about 1%%", bad, all)
		}
		if !strings.Contains(msg, "error rate") {
			t.Errorf("rollout message %q, want the canary's error rate", msg)
		}
		if _, body, _ := c.get(t, "hello", 30*time.Second); body != "hello-00002" {
			t.Errorf("after the rollback, requests reach %q, want the stable hello-00002", body)
		}
	})
}
