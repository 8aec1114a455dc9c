package manifests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/internal/kubetest"
)

// The tests of this file run against a real kube-apiserver
// (internal/kubetest); without its binaries they skip.

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// applyCRDs applies crds/ to the API server and waits until each is
// Established (served).
func applyCRDs(t *testing.T, env *kubetest.Env, dyn dynamic.Interface) {
	t.Helper()
	ctx := context.Background()
	for _, tc := range crdCases {
		docs := readYAMLDocs(t, filepath.Join("crds", tc.file))
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(docs[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := dyn.Resource(crdGVR).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "wake-manifests-test", Force: true}); err != nil {
			t.Fatalf("applying %s: %v", tc.file, err)
		}
		env.Eventually(t, 30*time.Second, u.GetName()+" Established", func() bool {
			got, err := dyn.Resource(crdGVR).Get(ctx, u.GetName(), metav1.GetOptions{})
			if err != nil {
				return false
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true
				}
			}
			return false
		})
	}
}

func gvr(plural string) schema.GroupVersionResource {
	return api.SchemeGroupVersion.WithResource(plural)
}

// TestCRDsOnAPIServer applies the CRDs to a real API server, creates every
// manifest wake accepts and reads it back unchanged (nothing pruned),
// sees mistakes refused with the CRD's messages, writes status through the
// subresource and checks kubectl's columns.
func TestCRDsOnAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	applyCRDs(t, env, dyn)
	ns := env.Namespace(t)
	ctx := context.Background()
	strict := metav1.CreateOptions{FieldValidation: "Strict"}

	t.Run("wake's manifests round-trip", func(t *testing.T) {
		for _, f := range []string{"../api/v1/testdata/function.yaml", "../api/v1/testdata/trigger.yaml", "../examples/hello/hello.yaml"} {
			ns := env.Namespace(t) // each file's names are its own
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := api.Decode(f, data)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				var sent runtime.Object = d.Function
				plural := api.ResourceFunctions
				if d.Function == nil {
					sent, plural = d.Trigger, api.ResourceTriggers
				}
				u := &unstructured.Unstructured{Object: toMap(t, sent)}
				u.SetNamespace(ns)
				got, err := dyn.Resource(gvr(plural)).Namespace(ns).Create(ctx, u, strict)
				if err != nil {
					t.Errorf("%s:%d: the API server refuses it: %v", f, d.Line, err)
					continue
				}
				// What comes back is what was sent: no field pruned.
				for _, k := range []string{"spec"} {
					if diff := cmp.Diff(u.Object[k], got.Object[k]); diff != "" {
						t.Errorf("%s:%d: %s changed on the way through the API server (-sent +stored):\n%s", f, d.Line, k, diff)
					}
				}
			}
		}
	})

	t.Run("mistakes are refused with the CRD's message", func(t *testing.T) {
		for _, tc := range []struct {
			plural, manifest, want string
		}{
			{api.ResourceFunctions, fn(container) + "  traffic: [{latestRevision: true, percent: 50}, {revisionName: hello-00001, percent: 40}]\n", "percents must sum to 100"},
			{api.ResourceFunctions, fn("      containerConcurrency: 2000\n" + container), "spec.template.spec.containerConcurrency: Invalid value: 2000: spec.template.spec.containerConcurrency in body should be less than or equal to 1000"},
			{api.ResourceFunctions, fn("      containers: [{image: a, env: [{name: PORT, value: '1'}]}]\n"), "name is reserved"},
			{api.ResourceTriggers, trigHead + cron + kafka + sink, "a trigger has exactly one source, kafka or cron"},
		} {
			u := &unstructured.Unstructured{Object: yamlToMap(t, tc.manifest)}
			u.SetNamespace(ns)
			u.SetName(u.GetName() + "-bad")
			if tc.plural == api.ResourceFunctions {
				u.SetName("bad")
			}
			_, err := dyn.Resource(gvr(tc.plural)).Namespace(ns).Create(ctx, u, strict)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want Invalid containing %q, got %v", tc.want, err)
			}
		}
	})

	t.Run("a revision is immutable", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: yamlToMap(t, "apiVersion: wake.dev/v1\nkind: Revision\nmetadata: {name: hello-00001}\nspec:\n  containers: [{image: a}]\n")}
		u.SetNamespace(ns)
		rev, err := dyn.Resource(gvr(api.ResourceRevisions)).Namespace(ns).Create(ctx, u, strict)
		if err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedSlice(rev.Object, []any{map[string]any{"image": "b"}}, "spec", "containers")
		_, err = dyn.Resource(gvr(api.ResourceRevisions)).Namespace(ns).Update(ctx, rev, metav1.UpdateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "a revision is immutable") {
			t.Errorf("changing a revision's spec: want Invalid, got %v", err)
		}
	})

	t.Run("status subresource and columns", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: yamlToMap(t, fn(container))}
		u.SetNamespace(ns)
		u.SetName("columns")
		created, err := dyn.Resource(gvr(api.ResourceFunctions)).Namespace(ns).Create(ctx, u, strict)
		if err != nil {
			t.Fatal(err)
		}
		// A status in the main resource is ignored...
		_ = unstructured.SetNestedField(created.Object, "http://ignored", "status", "url")
		created, err = dyn.Resource(gvr(api.ResourceFunctions)).Namespace(ns).Update(ctx, created, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if url, _, _ := unstructured.NestedString(created.Object, "status", "url"); url != "" {
			t.Errorf("status written through the main resource: url %q", url)
		}
		// ...and written through the subresource.
		var f api.Function
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(created.Object, &f); err != nil {
			t.Fatal(err)
		}
		f.Status = api.FunctionStatus{
			URL: "http://columns." + ns + ".example.com", LatestCreatedRevisionName: "columns-00001", LatestReadyRevisionName: "columns-00001",
			Conditions: []api.Condition{{Type: api.ConditionReady, Status: api.ConditionTrue, LastTransitionTime: metav1.Now()}},
		}
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dyn.Resource(gvr(api.ResourceFunctions)).Namespace(ns).UpdateStatus(ctx, &unstructured.Unstructured{Object: obj}, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("writing status: %v", err)
		}
		kubectl := kubetest.Kubectl()
		if kubectl == "" {
			t.Skip("no kubectl from hack/kube-testenv.sh: columns not checked")
		}
		out, err := exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "-n", ns, "get", "fn", "columns").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl get fn: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME URL LATESTCREATED LATESTREADY READY REASON AGE" ||
			!strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "columns http://columns."+ns+".example.com columns-00001 columns-00001 True ") {
			t.Errorf("kubectl get fn:\n%s", out)
		}
	})
}

// TestInstallOnAPIServer applies manifests/install/ with kubectl, as a user
// does, and waits for the pods of both Deployments: the API server
// validates every object, and the namespace's "restricted" Pod Security
// admission lets the pods in.
func TestInstallOnAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	kubectl := kubetest.Kubectl()
	if kubectl == "" {
		t.Skip("no kubectl from hack/kube-testenv.sh")
	}
	out, err := exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "apply", "-f", installDir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply -f manifests/install/: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "PodSecurity") {
		t.Errorf("the pods would violate the namespace's Pod Security level:\n%s", out)
	}
	t.Cleanup(func() {
		_ = exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "delete", "--wait=false", "-f", filepath.Join(installDir, "00-namespace.yaml")).Run()
	})
	ctx := context.Background()
	env.Eventually(t, 60*time.Second, "4 wake pods in wake-system", func() bool {
		pods, err := env.Client.CoreV1().Pods(systemNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=wake"})
		return err == nil && len(pods.Items) == 4
	})
	// Least privilege, as the API server's authorizer sees it.
	for _, c := range []struct {
		as, verb, resource string
		want               string
	}{
		{"wake-gateway", "list", "functions.wake.dev", "yes"},
		{"wake-gateway", "watch", "endpointslices.discovery.k8s.io", "yes"},
		{"wake-gateway", "update", "functions.wake.dev", "no"},
		{"wake-gateway", "list", "secrets", "no"},
		{"wake-controller", "create", "revisions.wake.dev", "yes"},
		{"wake-controller", "update", "deployments.apps/scale", "yes"},
		{"wake-controller", "update", "functions.wake.dev", "no"},
		{"wake-controller", "get", "secrets", "yes"}, // by name, for Kafka triggers
		{"wake-controller", "list", "secrets", "no"},
	} {
		args := []string{"--kubeconfig", env.Kubeconfig, "auth", "can-i", c.verb, c.resource, "-A", "--as", "system:serviceaccount:wake-system:" + c.as}
		if strings.Contains(c.resource, "/") {
			res, sub, _ := strings.Cut(c.resource, "/")
			args = []string{"--kubeconfig", env.Kubeconfig, "auth", "can-i", c.verb, res, "--subresource", sub, "-A", "--as", "system:serviceaccount:wake-system:" + c.as}
		}
		out, _ := exec.Command(kubectl, args...).CombinedOutput()
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("%s can %s %s: %q, want %q", c.as, c.verb, c.resource, got, c.want)
		}
	}
}
