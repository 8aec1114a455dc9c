package kubetest_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wakefn/wake/internal/kubetest"
)

// A test gets the shared control plane, a namespace of its own, and
// stands in for the processes of its pods. (Compiled, not run: it needs
// the binaries of hack/kube-testenv.sh and a *testing.T.)
func Example() {
	var t *testing.T // the test's own

	env := kubetest.Start(t)
	ns := env.Namespace(t)

	env.Kubectl(t, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  replicas: 1
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec: {containers: [{name: fn, image: never-pulled}]}
`), "apply", "-n", ns, "-f", "-")

	// Every pod labelled app=hello answers on POD_IP:8080 while it exists.
	env.ServePods(t, ns, "app=hello", 8080, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pod, _ := kubetest.PodOf(r)
		fmt.Fprintln(w, "hello from", pod.Name)
	}))

	d, err := env.Client.AppsV1().Deployments(ns).Get(context.Background(), "hello", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(d.Name)

	// What a component does while the API server restarts.
	env.RestartAPIServer(t)
}
