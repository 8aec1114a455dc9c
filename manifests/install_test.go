package manifests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"

	api "github.com/wakefn/wake/api/v1"
)

const installDir = "install"

// systemNamespace is where wake's own components run.
const systemNamespace = "wake-system"

// installObject is one document of an install file, decoded.
type installObject struct {
	file string
	obj  runtime.Object
}

func (o installObject) String() string {
	gvk := o.obj.GetObjectKind().GroupVersionKind()
	return fmt.Sprintf("%s: %s %s", o.file, gvk.Kind, name(o.obj))
}

func name(obj runtime.Object) string {
	type named interface{ GetName() string }
	if n, ok := obj.(named); ok {
		return n.GetName()
	}
	return "?"
}

// installScheme knows every kind the install manifests may hold.
func installScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme, policyv1.AddToScheme,
		coordinationv1.AddToScheme, apiextv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// loadInstall decodes every document of every install file strictly into
// its typed object: an unknown field, a duplicate field, a field in the
// wrong case or an unknown kind fails, as `kubectl apply` (strict field
// validation) would.
func loadInstall(t *testing.T) []installObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(installDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no install manifests (%v)", err)
	}
	decoder := serializer.NewCodecFactory(installScheme(t), serializer.EnableStrict).UniversalDeserializer()
	var out []installObject
	for _, f := range files {
		docs := readYAMLDocs(t, f)
		if len(docs) == 0 {
			t.Errorf("%s: no objects", f)
		}
		for i, doc := range docs {
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
				continue
			}
			out = append(out, installObject{file: filepath.Base(f), obj: obj})
		}
	}
	return out
}

func TestInstallManifestsDecodeStrictly(t *testing.T) {
	objs := loadInstall(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.obj.GetObjectKind().GroupVersionKind().Kind]++
	}
	want := map[string]int{
		"Namespace": 1, "CustomResourceDefinition": 3, "ServiceAccount": 2,
		"ClusterRole": 3, "ClusterRoleBinding": 3, "Role": 1, "RoleBinding": 1,
		"Deployment": 2, "Service": 2, "PodDisruptionBudget": 2, "NetworkPolicy": 1,
	}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s objects, want %d", kinds[k], k, n)
		}
	}
}

// TestInstallOrder: kubectl applies a directory's files in name order, and
// a namespaced object fails before its namespace exists, a custom resource
// before its CRD.
func TestInstallOrder(t *testing.T) {
	objs := loadInstall(t)
	if k := objs[0].obj.GetObjectKind().GroupVersionKind().Kind; k != "Namespace" {
		t.Fatalf("first object is a %s, want the Namespace", k)
	}
	lastCRD, firstOther := -1, len(objs)
	for i, o := range objs[1:] {
		if _, ok := o.obj.(*apiextv1.CustomResourceDefinition); ok {
			lastCRD = i + 1
		} else if firstOther == len(objs) {
			firstOther = i + 1
		}
	}
	if lastCRD > firstOther {
		t.Errorf("a CRD (%s) comes after %s: put the CRDs right after the namespace", objs[lastCRD], objs[firstOther])
	}
}

// TestInstallCRDsAreTheCRDs: install/ holds copies of crds/ (kubectl apply
// -f does not follow another directory); they must stay identical.
func TestInstallCRDsAreTheCRDs(t *testing.T) {
	copies := map[string]string{
		"10-crd-functions.yaml": "wake.dev_functions.yaml",
		"11-crd-revisions.yaml": "wake.dev_revisions.yaml",
		"12-crd-triggers.yaml":  "wake.dev_triggers.yaml",
	}
	for cp, orig := range copies {
		a, err := os.ReadFile(filepath.Join(installDir, cp))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("crds", orig))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("install/%s differs from crds/%s: run cp manifests/crds/%s manifests/install/%s", cp, orig, orig, cp)
		}
	}
	files, _ := filepath.Glob(filepath.Join(installDir, "*crd*.yaml"))
	if len(files) != len(copies) {
		t.Errorf("install/ has %d CRD files, want %d", len(files), len(copies))
	}
}

func TestInstallWorkloads(t *testing.T) {
	objs := loadInstall(t)
	accounts := map[string]bool{}
	var deps []*appsv1.Deployment
	for _, o := range objs {
		if ns := namespaceOf(o.obj); ns != "" && ns != systemNamespace {
			t.Errorf("%s is in namespace %s, want %s", o, ns, systemNamespace)
		}
		switch x := o.obj.(type) {
		case *corev1.ServiceAccount:
			accounts[x.Name] = true
		case *appsv1.Deployment:
			deps = append(deps, x)
		}
	}
	want := map[string]string{"wake-controller": "controller", "wake-gateway": "gateway"}
	for _, d := range deps {
		role, ok := want[d.Name]
		if !ok {
			t.Errorf("unexpected Deployment %s", d.Name)
			continue
		}
		delete(want, d.Name)
		checkDeployment(t, d, role, accounts)
	}
	for n := range want {
		t.Errorf("no Deployment %s", n)
	}
}

func checkDeployment(t *testing.T, d *appsv1.Deployment, role string, accounts map[string]bool) {
	t.Helper()
	errorf := func(format string, args ...any) {
		t.Errorf("Deployment %s: "+format, append([]any{d.Name}, args...)...)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		errorf("want at least 2 replicas")
	}
	sel, err := metaSelector(d.Spec.Selector.MatchLabels)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		errorf("selector %v does not match the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	pod := d.Spec.Template.Spec
	if !accounts[pod.ServiceAccountName] || pod.ServiceAccountName != d.Name {
		errorf("service account %q: want %s, defined in 20-serviceaccounts.yaml", pod.ServiceAccountName, d.Name)
	}
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		errorf("pod must run as non-root with the RuntimeDefault seccomp profile")
	}
	if len(pod.Containers) != 1 {
		errorf("want one container, got %d", len(pod.Containers))
		return
	}
	c := pod.Containers[0]
	if want := []string{"wake", role}; !slices.Equal(c.Command, want) {
		errorf("command %v, want %v", c.Command, want)
	}
	if c.Image == "" {
		errorf("no image")
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		errorf("container must have a read-only root filesystem, no privilege escalation and drop ALL capabilities")
	}
	for what, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || !hasPort(c, p.HTTPGet.Port) {
			errorf("%s probe must GET /healthz on a port of the container", what)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		errorf("want CPU and memory requests and a memory limit")
	}
}

func hasPort(c corev1.Container, port intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if port.Type == intstr.String && p.Name == port.StrVal || port.Type == intstr.Int && p.ContainerPort == port.IntVal {
			return true
		}
	}
	return false
}

// TestInstallServicesAndBudgets: each Service and PodDisruptionBudget
// selects the pods of its Deployment, on the ports the comments promise.
func TestInstallServicesAndBudgets(t *testing.T) {
	objs := loadInstall(t)
	deps := map[string]*appsv1.Deployment{}
	for _, o := range objs {
		if d, ok := o.obj.(*appsv1.Deployment); ok {
			deps[d.Name] = d
		}
	}
	wantPorts := map[string][2]int32{"wake-gateway": {80, 8080}, "wake-controller": {8082, 8082}}
	pdbs := 0
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *corev1.Service:
			d := deps[x.Name]
			if d == nil {
				t.Errorf("%s has no Deployment of its name", o)
				continue
			}
			if !labels.SelectorFromSet(x.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) || len(x.Spec.Selector) == 0 {
				t.Errorf("%s does not select the pods of Deployment %s", o, d.Name)
			}
			want := wantPorts[x.Name]
			if len(x.Spec.Ports) != 1 || x.Spec.Ports[0].Port != want[0] || containerPort(d, x.Spec.Ports[0].TargetPort) != want[1] {
				t.Errorf("%s: want port %d to container port %d, got %+v", o, want[0], want[1], x.Spec.Ports)
			}
		case *policyv1.PodDisruptionBudget:
			pdbs++
			d := deps[x.Name]
			if d == nil {
				t.Errorf("%s has no Deployment of its name", o)
				continue
			}
			sel, err := metaSelector(x.Spec.Selector.MatchLabels)
			if err != nil || len(x.Spec.Selector.MatchLabels) == 0 || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("%s does not select the pods of Deployment %s", o, d.Name)
			}
			if x.Spec.MinAvailable == nil || x.Spec.MinAvailable.IntValue() != 1 {
				t.Errorf("%s: want minAvailable 1", o)
			}
		}
	}
	if pdbs != 2 {
		t.Errorf("%d PodDisruptionBudgets, want one for the controller and one for the gateway", pdbs)
	}
}

func containerPort(d *appsv1.Deployment, target intstr.IntOrString) int32 {
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if target.Type == intstr.String && p.Name == target.StrVal || target.Type == intstr.Int && p.ContainerPort == target.IntVal {
			return p.ContainerPort
		}
	}
	return -1
}

func metaSelector(m map[string]string) (labels.Selector, error) {
	return labels.ValidatedSelectorFromSet(m)
}

func namespaceOf(obj runtime.Object) string {
	type namespaced interface{ GetNamespace() string }
	if n, ok := obj.(namespaced); ok {
		return n.GetNamespace()
	}
	return ""
}

// grants lists "verb group/resource" for each rule of a role.
func grants(rules []rbacv1.PolicyRule) map[string]bool {
	out := map[string]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out[v+" "+g+"/"+res] = true
				}
			}
		}
	}
	return out
}

// TestInstallRBAC checks least privilege both ways: each role has what its
// component needs, nothing is granted by wildcard, the gateway writes
// nothing, and the bindings bind what exists.
func TestInstallRBAC(t *testing.T) {
	objs := loadInstall(t)
	roles := map[string][]rbacv1.PolicyRule{}
	var bindings []struct {
		ref      rbacv1.RoleRef
		subjects []rbacv1.Subject
		where    string
	}
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *rbacv1.ClusterRole:
			roles["ClusterRole/"+x.Name] = x.Rules
		case *rbacv1.Role:
			roles["Role/"+x.Name] = x.Rules
		case *rbacv1.ClusterRoleBinding:
			bindings = append(bindings, struct {
				ref      rbacv1.RoleRef
				subjects []rbacv1.Subject
				where    string
			}{x.RoleRef, x.Subjects, o.String()})
		case *rbacv1.RoleBinding:
			bindings = append(bindings, struct {
				ref      rbacv1.RoleRef
				subjects []rbacv1.Subject
				where    string
			}{x.RoleRef, x.Subjects, o.String()})
		}
	}
	for name, rules := range roles {
		for _, r := range rules {
			for _, s := range [][]string{r.Verbs, r.Resources, r.APIGroups, r.ResourceNames} {
				if slices.Contains(s, "*") {
					t.Errorf("%s grants by wildcard: %+v", name, r)
				}
			}
		}
	}
	for _, b := range bindings {
		if _, ok := roles[b.ref.Kind+"/"+b.ref.Name]; !ok {
			t.Errorf("%s binds %s %s, which the manifests do not define", b.where, b.ref.Kind, b.ref.Name)
		}
		for _, s := range b.subjects {
			if s.Kind != rbacv1.ServiceAccountKind || s.Namespace != systemNamespace || s.Name != b.ref.Name && !strings.HasPrefix(b.ref.Name, s.Name+"-") {
				t.Errorf("%s binds %s %s/%s: want the component's own service account", b.where, s.Kind, s.Namespace, s.Name)
			}
		}
	}

	controller := grants(roles["ClusterRole/wake-controller"])
	for _, want := range []string{
		"watch wake.dev/functions", "watch wake.dev/revisions", "create wake.dev/revisions", "delete wake.dev/revisions", "watch wake.dev/triggers",
		"update wake.dev/functions/status", "update wake.dev/revisions/status", "update wake.dev/triggers/status",
		"create apps/deployments", "delete apps/deployments", "update apps/deployments/scale", "get apps/deployments/scale",
		"watch /pods", "create /services", "watch discovery.k8s.io/endpointslices", "create /events",
	} {
		if !controller[want] {
			t.Errorf("the controller's ClusterRole lacks %q", want)
		}
	}
	for _, never := range []string{"update wake.dev/functions", "create wake.dev/functions", "delete wake.dev/functions",
		"create /pods", "delete /pods", "get /secrets", "list /secrets", "create discovery.k8s.io/endpointslices"} {
		if controller[never] {
			t.Errorf("the controller's ClusterRole grants %q, which it has no use for", never)
		}
	}
	// Secrets only for Kafka triggers' secret references, one by name:
	// never listed or watched.
	if got := keys(grants(roles["ClusterRole/wake-controller-secrets"])); !slices.Equal(got, []string{"get /secrets"}) {
		t.Errorf("the controller's secrets role grants %v, want only get /secrets", got)
	}
	lease := grants(roles["Role/wake-controller-leader-election"])
	if !lease["create coordination.k8s.io/leases"] || !lease["update coordination.k8s.io/leases"] || !lease["get coordination.k8s.io/leases"] {
		t.Errorf("the leader-election Role must get, create and update leases: %v", keys(lease))
	}

	gateway := grants(roles["ClusterRole/wake-gateway"])
	for _, want := range []string{"watch wake.dev/functions", "watch wake.dev/revisions", "watch discovery.k8s.io/endpointslices"} {
		if !gateway[want] {
			t.Errorf("the gateway's ClusterRole lacks %q", want)
		}
	}
	for g := range gateway {
		verb, _, _ := strings.Cut(g, " ")
		if verb != "get" && verb != "list" && verb != "watch" {
			t.Errorf("the gateway's ClusterRole grants %q: the gateway writes nothing to the API", g)
		}
	}
	// The API's resource names, so a typo in a rule (functon) fails here.
	for name, rules := range roles {
		for g := range grants(rules) {
			_, gr, _ := strings.Cut(g, " ")
			if strings.HasPrefix(gr, api.Group+"/") {
				res, _, _ := strings.Cut(strings.TrimPrefix(gr, api.Group+"/"), "/")
				if res != api.ResourceFunctions && res != api.ResourceRevisions && res != api.ResourceTriggers {
					t.Errorf("%s names %s, which no wake CRD serves", name, gr)
				}
			}
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
