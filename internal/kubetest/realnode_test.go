package kubetest_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/wakefn/wake/internal/kubetest"
	"github.com/wakefn/wake/internal/testimage"
)

// Pods pinned to the real node run for real: the kubelet pulls their
// image from the node's registry over plain HTTP, containerd starts them
// in sandboxes on the node's bridge, they become Ready by their readiness
// probe and answer HTTP on their pod IPs from this machine, and kubectl
// logs shows what they printed (the API server reaches the kubelet); deleted, they
// leave no container behind in containerd. The first pod pulls the image,
// the second finds it on the node.
func TestRealNodeRunsAPod(t *testing.T) {
	env := kubetest.Start(t)
	node := env.RealNode(t)
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	image := node.Registry + "/kubetest/testfn:1"
	testimage.Push(t, image, "GREETING=from-a-real-node")
	client := &http.Client{Timeout: 5 * time.Second}
	var ips []string
	for _, name := range []string{"pulls", "cached"} {
		pod := realPod(node, name, image)
		created := time.Now()
		ready := createUntilReady(ctx, t, env, ns, pod)
		t.Logf("pod %s: created → Ready in %v (schedule, %s, sandbox, container, first probe), on %s with IP %s",
			name, time.Since(created).Round(time.Millisecond), pullEvent(ctx, env, ns, name), ready.Spec.NodeName, ready.Status.PodIP)

		if ready.Spec.NodeName != node.Name {
			t.Fatalf("pod %s ran on %q, want the real node %q", name, ready.Spec.NodeName, node.Name)
		}
		_, cidr, _ := net.ParseCIDR(node.PodCIDR)
		if ip := net.ParseIP(ready.Status.PodIP); ip == nil || !cidr.Contains(ip) {
			t.Fatalf("pod %s has IP %q, not in the real node's pod CIDR %s", name, ready.Status.PodIP, node.PodCIDR)
		}
		resp, err := client.Get("http://" + net.JoinHostPort(ready.Status.PodIP, "8080") + "/")
		if err != nil {
			t.Fatalf("GET pod %s from this machine: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "from-a-real-node") {
			t.Fatalf("pod %s answered %s %q, want 200 with its greeting", name, resp.Status, body)
		}
		ips = append(ips, ready.Status.PodIP)

		// The API server reaches the kubelet: kubectl logs shows the
		// requests the container logged.
		if logs := env.Kubectl(t, nil, "logs", "-n", ns, name); !strings.Contains(logs, "request GET /") {
			t.Errorf("kubectl logs %s = %q, want the requests it served", name, logs)
		}
	}

	running, err := node.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(running) != 4 {
		t.Fatalf("containerd holds %q while the two pods run, want their sandboxes and containers", running)
	}

	deleted := time.Now()
	for _, name := range []string{"pulls", "cached"} {
		if err := env.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"pulls", "cached"} {
		for {
			_, err := env.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("pod %s is still there %v after its deletion", name, time.Since(deleted))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	gone := time.Since(deleted)
	for _, ip := range ips {
		if _, err := client.Get("http://" + net.JoinHostPort(ip, "8080") + "/"); err == nil {
			t.Errorf("%s still answers after its pod is gone", ip)
		}
	}
	// The kubelet stops a deleted pod's containers at once and removes
	// them in its container GC, which runs once a minute.
	var left []string
	for {
		if left, err = node.Containers(ctx); err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("containers left in containerd %v after the pods' deletion: %q", time.Since(deleted), left)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("pods deleted → gone from the API in %v, their containers gone from containerd in %v",
		gone.Round(time.Millisecond), time.Since(deleted).Round(time.Millisecond))
}

// realPod is a pod of testfn pinned to the real node, Ready when it
// answers HTTP.
func realPod(node *kubetest.RealNode, name, image string) *corev1.Pod {
	const port = 8080
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "fn",
				Image: image,
				Env: []corev1.EnvVar{
					{Name: "PORT", Value: "8080"},
					{Name: "K_REVISION", Value: name},
					{Name: "TESTFN_LOG_REQUESTS", Value: "1"},
				},
				Ports: []corev1.ContainerPort{{ContainerPort: port}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(port)}},
					PeriodSeconds: 1,
				},
			}},
			TerminationGracePeriodSeconds: ptr.To[int64](5),
		},
	}
	node.Pin(&pod.Spec)
	return pod
}

// createUntilReady creates pod and returns it once it is Ready, failing t
// at once when its image cannot be pulled or its container created.
func createUntilReady(ctx context.Context, t *testing.T, env *kubetest.Env, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	w, err := env.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := env.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("the watch of pod %s ended before it was Ready", pod.Name)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted {
				continue
			}
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff" || w.Reason == "CreateContainerError") {
					t.Fatalf("pod %s, container %s: %s: %s", pod.Name, cs.Name, w.Reason, w.Message)
				}
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return p
				}
			}
		case <-ctx.Done():
			cur, _ := env.Client.CoreV1().Pods(ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
			t.Fatalf("pod %s not Ready: %v; its status: %+v", pod.Name, ctx.Err(), cur.Status)
		}
	}
}

// pullEvent returns what the kubelet said of the pod's image: "Pulled"
// events carry the pull's duration ("Successfully pulled image ... in
// 180ms") or that the image was present already.
func pullEvent(ctx context.Context, env *kubetest.Env, ns, pod string) string {
	evs, err := env.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.name", pod), fields.OneTermEqualSelector("reason", "Pulled")).String(),
	})
	if err != nil || len(evs.Items) == 0 {
		return "image pull"
	}
	return evs.Items[0].Message
}
