package kube

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	api "github.com/wakefn/wake/api/v1"
)

func testRevision() *api.Revision {
	rev := &api.Revision{}
	rev.Namespace, rev.Name = "team", "hello-00002"
	rev.Labels = map[string]string{api.LabelFunction: "hello", api.LabelKnativeService: "hello"}
	timeout := int64(60)
	rev.Spec.TimeoutSeconds = &timeout
	rev.Spec.Containers = []api.Container{{
		Name:  "user-container",
		Image: "ghcr.io/acme/hello:1",
		Args:  []string{"--greet"},
		Env:   []api.EnvVar{{Name: "GREETING", Value: "hi"}, {Name: "PORT", Value: "1"}, {Name: "URL", Value: "http://localhost:$(PORT)"}},
		Ports: []api.ContainerPort{{ContainerPort: 9000}},
		ReadinessProbe: &api.Probe{
			ProbeHandler:  api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/healthz"}},
			PeriodSeconds: 2,
		},
		Resources:       &api.ResourceRequirements{Limits: map[string]resource.Quantity{"memory": resource.MustParse("128Mi")}},
		SecurityContext: &api.SecurityContext{RunAsUser: ptr.To[int64](1000), Capabilities: &api.Capabilities{Drop: []string{"ALL"}}},
	}}
	return rev
}

func TestBuildDeployment(t *testing.T) {
	rev := testRevision()
	rev.UID = types.UID("1234")
	d, err := buildDeployment(rev, RevisionOwnerRef(rev), 3)
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{
		"wake.dev/function": "hello", "serving.knative.dev/service": "hello",
		"wake.dev/revision": "hello-00002", "serving.knative.dev/revision": "hello-00002",
		"app.kubernetes.io/managed-by": "wake",
	}
	if diff := cmp.Diff(wantLabels, d.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLabels, d.Spec.Template.Labels); diff != "" {
		t.Errorf("pod labels (-want +got):\n%s", diff)
	}
	if d.Namespace != "team" || d.Name != "hello-00002" || *d.Spec.Replicas != 0 {
		t.Errorf("got %s/%s at %d replicas, want team/hello-00002 at 0", d.Namespace, d.Name, *d.Spec.Replicas)
	}
	if o := d.OwnerReferences; len(o) != 1 || o[0].Kind != "Revision" || o[0].UID != "1234" || !*o[0].Controller {
		t.Errorf("owner references %+v, want the Revision's", o)
	}
	pod := d.Spec.Template.Spec
	if *pod.TerminationGracePeriodSeconds != 60 || *pod.EnableServiceLinks {
		t.Errorf("grace %d, service links %v; want 60, false", *pod.TerminationGracePeriodSeconds, *pod.EnableServiceLinks)
	}
	c := pod.Containers[0]
	wantEnv := []corev1.EnvVar{
		{Name: "PORT", Value: "9000"}, {Name: "K_SERVICE", Value: "hello"}, {Name: "K_CONFIGURATION", Value: "hello"},
		{Name: "K_REVISION", Value: "hello-00002"}, {Name: "GREETING", Value: "hi"}, {Name: "URL", Value: "http://localhost:$(PORT)"},
	}
	if diff := cmp.Diff(wantEnv, c.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if c.Image != "ghcr.io/acme/hello:1" || c.Ports[0].ContainerPort != 9000 || c.Args[0] != "--greet" {
		t.Errorf("container %+v", c)
	}
	wantProbe := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(9000)}},
		PeriodSeconds: 2,
	}
	if diff := cmp.Diff(wantProbe, c.ReadinessProbe); diff != "" {
		t.Errorf("readiness probe (-want +got):\n%s", diff)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop.Sleep.Seconds != 3 {
		t.Errorf("lifecycle %+v, want a preStop sleep of 3s", c.Lifecycle)
	}
	if q := c.Resources.Limits[corev1.ResourceMemory]; q.String() != "128Mi" {
		t.Errorf("memory limit %s, want 128Mi", q.String())
	}
	if sc := c.SecurityContext; sc == nil || *sc.RunAsUser != 1000 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("securityContext %+v, want the manifest's", sc)
	}
}

func TestBuildDeploymentDefaults(t *testing.T) {
	rev := testRevision()
	c := &rev.Spec.Containers[0]
	c.Ports, c.ReadinessProbe, c.Resources = nil, nil, nil
	rev.Spec.TimeoutSeconds = nil
	d, err := buildDeployment(rev, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctr := d.Spec.Template.Spec.Containers[0]
	want := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}
	if diff := cmp.Diff(want, ctr.ReadinessProbe); diff != "" {
		t.Errorf("default readiness probe (-want +got):\n%s", diff)
	}
	if ctr.Ports[0].ContainerPort != 8080 || ctr.Lifecycle != nil || len(d.OwnerReferences) != 0 {
		t.Errorf("port %d, lifecycle %v, owners %v; want 8080, none, none", ctr.Ports[0].ContainerPort, ctr.Lifecycle, d.OwnerReferences)
	}
	if g := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != api.DefaultTimeoutSeconds {
		t.Errorf("grace %d, want %d", g, api.DefaultTimeoutSeconds)
	}
}

func TestBuildDeploymentNeedsImage(t *testing.T) {
	rev := testRevision()
	rev.Spec.Containers[0].Image = ""
	_, err := buildDeployment(rev, nil, 0)
	if err == nil || !strings.Contains(err.Error(), "spec.containers[0].image") {
		t.Errorf("err = %v, want one naming spec.containers[0].image", err)
	}
}

func TestBuildService(t *testing.T) {
	rev := testRevision()
	s := buildService(rev, nil)
	if s.Spec.Selector[LabelRevision] != "hello-00002" || len(s.Spec.Selector) != 1 {
		t.Errorf("selector %v", s.Spec.Selector)
	}
	p := s.Spec.Ports[0]
	if p.Port != 9000 || p.TargetPort.IntVal != 9000 || s.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("port %+v, clusterIP %q", p, s.Spec.ClusterIP)
	}
	rev.Spec.Containers[0].Ports[0].Name = api.PortNameH2C
	if p := buildService(rev, nil).Spec.Ports[0]; p.AppProtocol == nil || *p.AppProtocol != "kubernetes.io/h2c" {
		t.Errorf("h2c port %+v, want appProtocol kubernetes.io/h2c", p)
	}
}

func TestRevisionOwnerRefNeedsUID(t *testing.T) {
	if ref := RevisionOwnerRef(testRevision()); ref != nil {
		t.Errorf("owner reference %+v for a revision with no UID", ref)
	}
}
