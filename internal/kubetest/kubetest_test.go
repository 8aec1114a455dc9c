package kubetest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/wakefn/wake/internal/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// readyEndpoints returns the addresses of the ready endpoints of svc's
// EndpointSlices.
func readyEndpoints(t *testing.T, env *kubetest.Env, ns, svc string) []string {
	t.Helper()
	slices, err := env.Client.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc,
	})
	if err != nil {
		t.Logf("listing EndpointSlices: %v", err)
		return nil
	}
	var addrs []string
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				addrs = append(addrs, ep.Addresses...)
			}
		}
	}
	return addrs
}

// The smoke test of the whole harness: a Deployment's pods become Running
// and Ready with IPs of the local pod CIDR, their EndpointSlice lists them, ServePods
// answers on them, scaling to 0 empties the slice, and the API server
// comes back after a restart.
func TestControlPlane(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "hello"}
	const port = 8080

	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "fn",
					Image: "example.invalid/hello:never-pulled",
					Ports: []corev1.ContainerPort{{ContainerPort: port}},
				}}},
			},
		},
	}
	began := time.Now()
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(port)}},
		},
	}
	if _, err := env.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if out := env.Kubectl(t, nil, "get", "-n", ns, "deployment", "hello", "-o", "name"); strings.TrimSpace(out) != "deployment.apps/hello" {
		t.Errorf("kubectl get deployment: %q", out)
	}

	servers := env.ServePods(t, ns, "app=hello", port, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pod, _ := kubetest.PodOf(r)
		fmt.Fprintf(w, "hello from %s (%s)", r.Host, pod.Name)
	}))

	_, podNet, _ := net.ParseCIDR(env.PodCIDR)
	env.Eventually(t, 60*time.Second, "2 pods Running and Ready", func() bool {
		pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=hello"})
		if err != nil {
			return false
		}
		ready := 0
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
				continue
			}
			if !podNet.Contains(net.ParseIP(p.Status.PodIP)) {
				t.Fatalf("pod %s has IP %s, outside the pod CIDR %s", p.Name, p.Status.PodIP, env.PodCIDR)
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == 2
	})
	t.Logf("2 pods ready %v after the Deployment was created", time.Since(began).Round(time.Millisecond))

	var addrs []string
	env.Eventually(t, 30*time.Second, "2 ready endpoints in the EndpointSlice", func() bool {
		addrs = readyEndpoints(t, env, ns, "hello")
		return len(addrs) == 2
	})
	t.Logf("endpoints %v ready %v after the Deployment was created", addrs, time.Since(began).Round(time.Millisecond))

	env.Eventually(t, 10*time.Second, "ServePods serving both pods", func() bool {
		return len(servers.Addrs()) == 2
	})
	for _, a := range addrs {
		if !podNet.Contains(net.ParseIP(a)) {
			t.Fatalf("endpoint %s outside the pod CIDR %s", a, env.PodCIDR)
		}
		resp, err := http.Get("http://" + net.JoinHostPort(a, fmt.Sprint(port)) + "/")
		if err != nil {
			t.Fatalf("GET pod %s: %v", a, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "hello from "+a) || !strings.Contains(string(body), "(hello-") {
			t.Fatalf("pod %s answered %s %q", a, resp.Status, body)
		}
	}

	// Scale to zero through the scale subresource, as runtime/kube does.
	scale, err := env.Client.AppsV1().Deployments(ns).GetScale(ctx, "hello", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 0
	if _, err := env.Client.AppsV1().Deployments(ns).UpdateScale(ctx, "hello", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	env.Eventually(t, 30*time.Second, "no ready endpoints after scaling to 0", func() bool {
		return len(readyEndpoints(t, env, ns, "hello")) == 0
	})
	env.Eventually(t, 30*time.Second, "pods gone and their servers stopped", func() bool {
		pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=hello"})
		return err == nil && len(pods.Items) == 0 && len(servers.Addrs()) == 0
	})
	t.Logf("scaled to 0 in %v", time.Since(began).Round(time.Millisecond))

	env.RestartAPIServer(t)
	if _, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "hello", metav1.GetOptions{}); err != nil {
		t.Fatalf("after the restart: %v", err)
	}

	// The controllers reconnect too: scaling up again works end to end.
	scale, err = env.Client.AppsV1().Deployments(ns).GetScale(ctx, "hello", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 1
	if _, err := env.Client.AppsV1().Deployments(ns).UpdateScale(ctx, "hello", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	env.Eventually(t, 60*time.Second, "1 ready endpoint after the restart", func() bool {
		return len(readyEndpoints(t, env, ns, "hello")) == 1
	})
	t.Logf("scaled to 1 after the restart in %v", time.Since(began).Round(time.Millisecond))
}

// A second test shares the control plane and gets a namespace of its own.
func TestNamespaceIsolation(t *testing.T) {
	env := kubetest.Start(t)
	a, b := env.Namespace(t), env.Namespace(t)
	if a == b {
		t.Fatalf("two namespaces named %s", a)
	}
	if !strings.HasPrefix(a, "testnamespaceisolation-") {
		t.Errorf("namespace %s not named after the test", a)
	}
}
