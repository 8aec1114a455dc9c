package kube_test

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/kube"
)

// discard is an Observer that ignores States.
type discard struct{}

func (discard) Update(rev api.RevisionKey, s runtime.State) {}

// Deploy makes a revision's Deployment, at 0 replicas until Scale, and
// its Service; a Revision read from the API server (with a UID) owns them.
func ExampleNew() {
	client := fake.NewClientset() // in the controller, kubernetes.NewForConfig
	rt, err := kube.New(kube.Options{Client: client, Observer: discard{}, OwnerRef: kube.RevisionOwnerRef})
	if err != nil {
		panic(err)
	}
	defer rt.Shutdown(context.Background())

	rev := &api.Revision{}
	rev.Namespace, rev.Name, rev.UID = "team", "hello-00001", "6f1c"
	rev.Labels = map[string]string{api.LabelFunction: "hello"}
	rev.Spec.Containers = []api.Container{{Image: "ghcr.io/acme/hello:1"}}
	if err := rt.Deploy(context.Background(), rev); err != nil {
		panic(err)
	}

	d, _ := client.AppsV1().Deployments("team").Get(context.Background(), "hello-00001", metav1.GetOptions{})
	c := d.Spec.Template.Spec.Containers[0]
	fmt.Println(d.Name, "replicas:", *d.Spec.Replicas, "owner:", d.OwnerReferences[0].Kind)
	fmt.Println("port:", c.Ports[0].ContainerPort, "probe: tcp", c.ReadinessProbe.TCPSocket.Port.IntValue())
	for _, e := range c.Env {
		fmt.Printf("%s=%s\n", e.Name, e.Value)
	}
	s, _ := client.CoreV1().Services("team").Get(context.Background(), "hello-00001", metav1.GetOptions{})
	fmt.Println("service selects", s.Spec.Selector)
	// Output:
	// hello-00001 replicas: 0 owner: Revision
	// port: 8080 probe: tcp 8080
	// PORT=8080
	// K_SERVICE=hello
	// K_CONFIGURATION=hello
	// K_REVISION=hello-00001
	// service selects map[wake.dev/revision:hello-00001]
}
