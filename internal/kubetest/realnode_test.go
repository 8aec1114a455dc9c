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

// A pod pinned to the real node runs for real: the kubelet pulls its
// image from the node's registry over plain HTTP, containerd starts it in
// a sandbox on the node's bridge, it becomes Ready by its readiness probe
// and answers HTTP on its pod IP from this machine; deleted, it leaves no
// container behind in containerd.
func TestRealNodeRunsAPod(t *testing.T) {
	env := kubetest.Start(t)
	node := env.RealNode(t)
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	image := node.Registry + "/kubetest/testfn:1"
	testimage.Push(t, image, "GREETING=from-a-real-node")
	const port = 8080
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "real"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "fn",
				Image: image,
				Env: []corev1.EnvVar{
					{Name: "PORT", Value: "8080"},
					{Name: "K_REVISION", Value: "real-00001"},
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

	w, err := env.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "real").String()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	created := time.Now()
	if _, err := env.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ready *corev1.Pod
	for ready == nil {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch of the pod ended before it was Ready")
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted {
				continue
			}
			if podReady(p) {
				ready = p
			}
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff" || w.Reason == "CreateContainerError") {
					t.Fatalf("container %s: %s: %s", cs.Name, w.Reason, w.Message)
				}
			}
		case <-ctx.Done():
			cur, _ := env.Client.CoreV1().Pods(ns).Get(context.Background(), "real", metav1.GetOptions{})
			t.Fatalf("pod not Ready: %v; its status: %+v", ctx.Err(), cur.Status)
		}
	}
	readyIn := time.Since(created)
	t.Logf("pod created → Ready in %v (pulled, sandbox, container, first probe), on %s with IP %s",
		readyIn.Round(time.Millisecond), ready.Spec.NodeName, ready.Status.PodIP)

	if ready.Spec.NodeName != node.Name {
		t.Fatalf("pod ran on %q, want the real node %q", ready.Spec.NodeName, node.Name)
	}
	_, cidr, _ := net.ParseCIDR(node.PodCIDR)
	if ip := net.ParseIP(ready.Status.PodIP); ip == nil || !cidr.Contains(ip) {
		t.Fatalf("pod IP %q is not in the real node's pod CIDR %s", ready.Status.PodIP, node.PodCIDR)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(ready.Status.PodIP, "8080") + "/")
	if err != nil {
		t.Fatalf("GET the pod from this machine: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "from-a-real-node") {
		t.Fatalf("the pod answered %s %q, want 200 with its greeting", resp.Status, body)
	}

	running, err := node.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(running) < 2 {
		t.Fatalf("containerd holds %q while the pod runs, want its sandbox and its container", running)
	}

	deleted := time.Now()
	if err := env.Client.CoreV1().Pods(ns).Delete(ctx, "real", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := env.Client.CoreV1().Pods(ns).Get(ctx, "real", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the pod is still there %v after its deletion", time.Since(deleted))
		}
		time.Sleep(100 * time.Millisecond)
	}
	gone := time.Since(deleted)
	// The kubelet removes a deleted pod's containers in its container GC,
	// which runs once a minute.
	var left []string
	for {
		if left, err = node.Containers(ctx); err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("containers left in containerd %v after the pod's deletion: %q", time.Since(deleted), left)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("pod deleted → gone from the API in %v, its containers gone from containerd in %v",
		gone.Round(time.Millisecond), time.Since(deleted).Round(time.Millisecond))
	if _, err := client.Get("http://" + net.JoinHostPort(ready.Status.PodIP, "8080") + "/"); err == nil {
		t.Errorf("the pod's IP still answers after its containers are gone")
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
