package v1

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// cmpOpts compare the apimachinery types that have unexported fields.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }),
	cmp.Comparer(func(a, b metav1.Time) bool { return a.Equal(&b) }),
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decode runs Decode and returns its documents, summed up as
// "INDEX@LINE NAMESPACE/NAME", and its errors, rendered.
func decode(t *testing.T, source string, data []byte) (docs []*Document, summary, errs []string) {
	t.Helper()
	docs, err := Decode(source, data)
	for _, d := range docs {
		s := fmt.Sprintf("%d@%d %s/%s", d.Index, d.Line, d.Function.Namespace, d.Function.Name)
		if d.Incomplete {
			s += " (incomplete)"
		}
		summary = append(summary, s)
	}
	if err != nil {
		var list Errors
		if !errors.As(err, &list) {
			t.Fatalf("Decode returned a %T, want Errors", err)
		}
		for _, e := range list {
			errs = append(errs, e.String())
		}
	}
	return docs, summary, errs
}

// TestDecodeFunction checks every field of a full manifest lands where it
// belongs, including the apimachinery types and YAML scalars written for
// string fields (value: 8080).
func TestDecodeFunction(t *testing.T) {
	docs, _, errs := decode(t, "function.yaml", readFile(t, "function.yaml"))
	if errs != nil || len(docs) != 1 {
		t.Fatalf("Decode: %d documents, errors %q", len(docs), errs)
	}
	want := &Function{
		TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: KindFunction},
		ObjectMeta: metav1.ObjectMeta{
			Name: "hello", Namespace: "team-a",
			Labels:      map[string]string{"app": "hello"},
			Annotations: map[string]string{"owner": "team-a"},
		},
		Spec: FunctionSpec{
			Template: RevisionTemplate{
				ObjectMeta: metav1.ObjectMeta{Name: "hello-v2", Annotations: map[string]string{
					AnnotationMinScale: "1", AnnotationMaxScale: "10", AnnotationTarget: "50", AnnotationWindow: "30s",
				}},
				Spec: RevisionSpec{
					ContainerConcurrency:        ptr[int64](100),
					TimeoutSeconds:              ptr[int64](60),
					ResponseStartTimeoutSeconds: ptr[int64](10),
					IdleTimeoutSeconds:          ptr[int64](30),
					Containers: []Container{{
						Name:       "hello",
						Image:      "ghcr.io/knative/helloworld-go:latest",
						Command:    []string{"./bin/hello"},
						Args:       []string{"--verbose"},
						WorkingDir: "/srv/hello",
						Env:        []EnvVar{{Name: "TARGET", Value: "World"}, {Name: "PORT_HINT", Value: "8080"}},
						Ports:      []ContainerPort{{Name: "h2c", ContainerPort: 8080}},
						Resources: &ResourceRequirements{
							Limits:   map[string]resource.Quantity{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("128Mi")},
							Requests: map[string]resource.Quantity{"cpu": resource.MustParse("250m")},
						},
						ReadinessProbe: &Probe{
							ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{
								Path: "/healthz", Port: intstr.FromInt32(8080),
								HTTPHeaders: []HTTPHeader{{Name: "X-Probe", Value: "wake"}},
							}},
							PeriodSeconds: 5,
						},
						LivenessProbe: &Probe{ProbeHandler: ProbeHandler{TCPSocket: &TCPSocketAction{Port: intstr.FromString("h2c")}}},
					}},
				},
			},
			Traffic: []TrafficTarget{
				{RevisionName: "hello-v1", Percent: ptr[int64](90)},
				{LatestRevision: ptr(true), Percent: ptr[int64](10), Tag: "canary"},
			},
		},
	}
	if diff := cmp.Diff(want, docs[0].Function, cmpOpts); diff != "" {
		t.Errorf("decoded function mismatch (-want +got):\n%s", diff)
	}
}

// TestDecodeKnativeService decodes Knative's helloworld-go exactly as its
// docs print it: it becomes a Function.
func TestDecodeKnativeService(t *testing.T) {
	docs, _, errs := decode(t, "helloworld-go.yaml", readFile(t, "helloworld-go.yaml"))
	if errs != nil || len(docs) != 1 {
		t.Fatalf("Decode: %d documents, errors %q", len(docs), errs)
	}
	want := &Function{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: KindFunction},
		ObjectMeta: metav1.ObjectMeta{Name: "helloworld-go", Namespace: "default"},
		Spec: FunctionSpec{Template: RevisionTemplate{Spec: RevisionSpec{Containers: []Container{{
			Image: "docker.io/{username}/helloworld-go",
			Env:   []EnvVar{{Name: "TARGET", Value: "Go Sample v1"}},
		}}}}},
	}
	if diff := cmp.Diff(want, docs[0].Function, cmpOpts); diff != "" {
		t.Errorf("decoded function mismatch (-want +got):\n%s", diff)
	}
}

const minimal = `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: NAME
spec:
  template:
    spec:
      containers:
        - command: [./run]
`

func fn(name string) string { return strings.Replace(minimal, "NAME", name, 1) }

// meta starts a manifest whose metadata is open for more fields.
const meta = "apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n  name: a\n"

// aliasBomb is the "billion laughs": ten levels of ten aliases, under a
// field whose type takes any JSON (so the walker would follow it all).
func aliasBomb() string {
	var b strings.Builder
	b.WriteString(meta + "  managedFields:\n    - fieldsV1:\n        l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		p := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "        l%d: &l%d [%s]\n", i, i, strings.Repeat(p+", ", 9)+p)
	}
	return b.String()
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		file     string // in testdata, or
		input    string
		wantDocs []string // INDEX@LINE NAMESPACE/NAME
		wantErrs []string
	}{
		{name: "knative helloworld-go", file: "helloworld-go.yaml", wantDocs: []string{"0@1 default/helloworld-go"}},
		{name: "json", file: "function.json", wantDocs: []string{"0@1 /hello"}},
		{
			name: "multi-document with empty documents", file: "multi.yaml",
			wantDocs: []string{"0@3 /first", "1@16 /second"},
		},
		{
			name: "kubectl list with status", file: "list.yaml",
			wantDocs: []string{"0@3 default/hello", "1@56 /world"},
		},
		{
			name: "json list, as kubectl get -o json prints it",
			input: `{
    "apiVersion": "v1",
    "items": [
        {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "a"}},
        {"apiVersion": "wake.dev/v1", "kind": "Function", "metadata": {"name": "b"}}
    ],
    "kind": "List",
    "metadata": {"resourceVersion": ""}
}`,
			wantDocs: []string{"0@4 /a", "1@5 /b"},
		},
		{
			name: "json problems have lines too",
			input: `{
  "apiVersion": "wake.dev/v1",
  "kind": "Function",
  "metadata": {
    "nmae": "hello",
    "labels": {"app": ["x"]}
  }
}`,
			wantErrs: []string{
				`in.yaml:5: metadata.nmae: unknown field; did you mean "name"?`,
				`in.yaml:6: metadata.labels[app]: must be a string, got a list`,
			},
			wantDocs: []string{"0@1 / (incomplete)"},
		},
		{name: "empty input", input: ""},
		{name: "only comments and markers", input: "# nothing\n---\n---\n...\n"},
		{name: "null document", input: "--- ~\n"},
		{
			name:     "json objects one after another",
			input:    `{"apiVersion":"wake.dev/v1","kind":"Function","metadata":{"name":"a"}}` + "\n" + `{"apiVersion":"wake.dev/v1","kind":"Function","metadata":{"name":"b {"}}`,
			wantDocs: []string{"0@1 /a", "1@2 /b {"},
		},
		{
			name:     "function list items take the list's kind",
			input:    "apiVersion: wake.dev/v1\nkind: FunctionList\nitems:\n- metadata: {name: a}\n- metadata: {name: b}\n",
			wantDocs: []string{"0@4 /a", "1@5 /b"},
		},
		{
			name:     "null means absent",
			input:    "apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n  name: a\n  labels: ~\nspec:\n  traffic: null\n",
			wantDocs: []string{"0@1 /a"},
		},
		{
			name:     "merge keys",
			input:    "base: &base\n  apiVersion: wake.dev/v1\n  kind: Function\n---\n<<: *base\nmetadata: {name: merged}\n",
			wantErrs: []string{"in.yaml:1: apiVersion and kind are required: wake accepts wake.dev/v1 Function, serving.knative.dev/v1 Service, wake.dev/v1 Trigger, sources.knative.dev/v1 PingSource and sources.knative.dev/v1beta1 KafkaSource"},
			wantDocs: []string{"1@5 /merged"},
		},
		{
			name:     "disabled knative fields are accepted",
			input:    fn("a") + "      enableServiceLinks: false\n      volumes: []\n",
			wantDocs: []string{"0@1 /a"},
		},
		{
			name: "unknown fields at every depth", file: "unknown.yaml",
			wantErrs: []string{
				`unknown.yaml:5: metadata.lables: unknown field; did you mean "labels"?`,
				`unknown.yaml:10: spec.template.spec.containerconcurrency: unknown field; did you mean "containerConcurrency"?`,
				`unknown.yaml:13: spec.template.spec.containers[0].imagee: unknown field; did you mean "image"?`,
				`unknown.yaml:16: spec.template.spec.containers[0].env[0].valueFrom: is not supported by wake`,
				`unknown.yaml:19: spec.template.spec.containers[0].readinessProbe.exec: is not supported by wake`,
				`unknown.yaml:21: spec.template.spec.volumes: is not supported by wake`,
				`unknown.yaml:23: spec.trafic: unknown field; did you mean "traffic"?`,
				`unknown.yaml:24: extra: unknown field`,
			},
			wantDocs: []string{"0@1 /hello (incomplete)"},
		},
		{
			name: "wrong types", file: "types.yaml",
			wantErrs: []string{
				`types.yaml:4: metadata.name: must be a string, got a list`,
				`types.yaml:5: metadata.labels: must be a map, got "app"`,
				`types.yaml:11: spec.template.spec.containerConcurrency: must be an integer, got "abc"`,
				`types.yaml:12: spec.template.spec.timeoutSeconds: must be an integer, got 1.5`,
				`types.yaml:14: spec.template.spec.containers[0].image: must be a string, got a map`,
				`types.yaml:16: spec.template.spec.containers[0].ports[0].containerPort: must be an integer between -2147483648 and 2147483647, got 99999999999`,
				`types.yaml:19: spec.template.spec.containers[0].resources.limits[cpu]: must be a quantity such as 500m, 2 or 1Gi, got "lots"`,
				`types.yaml:22: spec.template.spec.containers[0].readinessProbe.httpGet.port: must be an integer or a string, got a map`,
				`types.yaml:24: spec.traffic[0].latestRevision: must be true or false, got "yes"`,
				`types.yaml:25: spec.traffic[0].percent: must be an integer, got a list`,
			},
			wantDocs: []string{"0@1 / (incomplete)"},
		},
		{
			name:     "quoted number is a string",
			input:    fn("a") + "      containerConcurrency: \"10\"\n",
			wantErrs: []string{`in.yaml:10: spec.template.spec.containerConcurrency: must be an integer, got "10"`},
			wantDocs: []string{"0@1 /a (incomplete)"},
		},
		{
			name:     "yaml integer forms",
			input:    fn("a") + "      containerConcurrency: 0x10\n      timeoutSeconds: 1e2\n",
			wantDocs: []string{"0@1 /a"},
		},
		{
			name:     "unsupported kind",
			input:    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
			wantErrs: []string{`in.yaml:1: kind: unsupported kind "Deployment" of apiVersion "apps/v1": wake accepts wake.dev/v1 Function, serving.knative.dev/v1 Service, wake.dev/v1 Trigger, sources.knative.dev/v1 PingSource and sources.knative.dev/v1beta1 KafkaSource`},
		},
		{
			name:     "knative kind under the wrong version",
			input:    "apiVersion: serving.knative.dev/v1alpha1\nkind: Service\n",
			wantErrs: []string{`in.yaml:1: kind: unsupported kind "Service" of apiVersion "serving.knative.dev/v1alpha1": wake accepts wake.dev/v1 Function, serving.knative.dev/v1 Service, wake.dev/v1 Trigger, sources.knative.dev/v1 PingSource and sources.knative.dev/v1beta1 KafkaSource`},
		},
		{
			name:  "missing apiVersion, missing kind",
			input: "kind: Function\n---\napiVersion: wake.dev/v1\n---\nmetadata: {name: a}\n",
			wantErrs: []string{
				"in.yaml:1: apiVersion: is required: wake accepts wake.dev/v1 Function, serving.knative.dev/v1 Service, wake.dev/v1 Trigger, sources.knative.dev/v1 PingSource and sources.knative.dev/v1beta1 KafkaSource",
				"in.yaml:3: kind: is required: wake accepts wake.dev/v1 Function, serving.knative.dev/v1 Service, wake.dev/v1 Trigger, sources.knative.dev/v1 PingSource and sources.knative.dev/v1beta1 KafkaSource",
				"in.yaml:5: apiVersion and kind are required: wake accepts wake.dev/v1 Function, serving.knative.dev/v1 Service, wake.dev/v1 Trigger, sources.knative.dev/v1 PingSource and sources.knative.dev/v1beta1 KafkaSource",
			},
		},
		{
			name:     "not an object",
			input:    "- a\n---\nhello\n",
			wantErrs: []string{"in.yaml:1: must be a map with apiVersion and kind, got a list", `in.yaml:3: must be a map with apiVersion and kind, got "hello"`},
		},
		{
			name:     "kind is not a string",
			input:    "apiVersion: wake.dev/v1\nkind: {a: b}\n",
			wantErrs: []string{"in.yaml:2: kind: must be a string, got a map"},
		},
		{
			name: "list problems",
			input: "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"1\"}\nitems:\n" +
				"- {apiVersion: wake.dev/v1, kind: Function, metadata: {name: a}}\n" +
				"- apiVersion: v1\n  kind: List\n- 3\n- ~\nitem: []\n",
			wantErrs: []string{
				`in.yaml:6: kind: unsupported kind "List" of apiVersion "v1": wake accepts wake.dev/v1 Function, serving.knative.dev/v1 Service, wake.dev/v1 Trigger, sources.knative.dev/v1 PingSource and sources.knative.dev/v1beta1 KafkaSource`,
				"in.yaml:8: must be a map with apiVersion and kind, got 3",
				`in.yaml:10: item: unknown field; did you mean "items"?`,
			},
			wantDocs: []string{"0@5 /a"},
		},
		{
			name:  "duplicate keys",
			input: "apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n  name: a\n  labels: {x: \"1\", x: \"2\"}\n  name: b\n",
			wantErrs: []string{
				"in.yaml:5: metadata.labels[x]: is set more than once (first at line 5)",
				"in.yaml:6: metadata.name: is set more than once (first at line 4)",
			},
			wantDocs: []string{"0@1 /a (incomplete)"},
		},
		{
			name:     "map keys must be strings",
			input:    "apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n  labels:\n    ? [a]\n    : b\n",
			wantErrs: []string{"in.yaml:5: metadata.labels: has a key that is a list; keys must be strings"},
			wantDocs: []string{"0@1 / (incomplete)"},
		},
		{
			name:  "syntax errors do not hide other documents",
			input: fn("a") + "---\nmetadata: [\n---\n" + fn("b") + "---\nkey: \"\\q\"\n---\n" + fn("c"),
			wantErrs: []string{
				"in.yaml:11: expected a value here",
				`in.yaml:23: unknown escape sequence in a double-quoted string: write \\ for a backslash, or quote the string with ' instead`,
			},
			wantDocs: []string{"0@1 /a", "1@13 /b", "2@25 /c"},
		},
		{
			name:     "syntax error on the first line",
			input:    "a: b: c\n",
			wantErrs: []string{`in.yaml:1: the value of a holds ": ", which YAML reads as the start of a map; put the value in quotes`},
		},
		{
			name:     "invalid utf-8",
			input:    "a: 1\nb: \xff\n",
			wantErrs: []string{"in.yaml:2: the text is not UTF-8: byte 0xff at line 2, column 4; save the file as UTF-8"},
		},
		{
			name:  "alias bomb",
			input: aliasBomb(),
			wantErrs: []string{fmt.Sprintf("in.yaml:7: metadata.managedFields[0].fieldsV1: "+
				"the input grows past %d bytes once YAML aliases (*name) are expanded; repeat less through aliases", newReport(len(aliasBomb())).limit)},
		},
		{
			name:     "alias cycle",
			input:    meta + "  managedFields:\n    - fieldsV1: &loop {next: *loop}\n",
			wantErrs: []string{"in.yaml:6: metadata.managedFields[0].fieldsV1: alias *loop refers to a value that contains it"},
			wantDocs: []string{"0@1 /a (incomplete)"},
		},
		{
			name:     "merge cycle",
			input:    "apiVersion: wake.dev/v1\nkind: Function\nmetadata: &m\n  name: x\n  <<: *m\n",
			wantErrs: []string{"in.yaml:5: metadata: alias *m refers to a value that contains it"},
			wantDocs: []string{"0@1 /x (incomplete)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			source, data := "in.yaml", []byte(tt.input)
			if tt.file != "" {
				source, data = tt.file, readFile(t, tt.file)
			}
			_, docs, errs := decode(t, source, data)
			if diff := cmp.Diff(tt.wantDocs, docs); diff != "" {
				t.Errorf("documents mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErrs, errs); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeScalarsForStrings checks that YAML scalars of any type are
// taken as written where the field is a string, as kubectl does.
func TestDecodeScalarsForStrings(t *testing.T) {
	in := fn("a") + "          env:\n            - {name: A, value: 8080}\n            - {name: B, value: true}\n            - {name: C, value: 1.10}\n            - {name: D, value: 2024-01-02}\n"
	docs, _, errs := decode(t, "in.yaml", []byte(in))
	if errs != nil {
		t.Fatalf("Decode: %q", errs)
	}
	want := []EnvVar{{"A", "8080"}, {"B", "true"}, {"C", "1.10"}, {"D", "2024-01-02"}}
	if diff := cmp.Diff(want, docs[0].Function.Spec.Template.Spec.Containers[0].Env); diff != "" {
		t.Errorf("env mismatch (-want +got):\n%s", diff)
	}
}

// TestDecodeManyProblems checks the cap on reported problems.
func TestDecodeManyProblems(t *testing.T) {
	in := strings.Repeat("apiVersion: wake.dev/v1\nkind: Function\nfoo: 1\n---\n", 500)
	_, _, errs := decode(t, "in.yaml", []byte(in))
	if len(errs) != maxErrors+1 || !strings.Contains(errs[maxErrors], "too many problems") {
		t.Errorf("got %d errors ending %q, want %d and a last one saying there are too many", len(errs), errs[len(errs)-1], maxErrors+1)
	}
}

func TestPosition(t *testing.T) {
	docs, _, errs := decode(t, "function.yaml", readFile(t, "function.yaml"))
	if errs != nil {
		t.Fatalf("Decode: %q", errs)
	}
	d := docs[0]
	tests := []struct {
		name string
		path string
		want int
	}{
		{"field", "metadata.name", 5},
		{"map key", "spec.template.metadata.annotations[autoscaling.knative.dev/window]", 19},
		{"list item", "spec.traffic[1]", 59},
		{"field in list item", "spec.traffic[1].percent", 60},
		{"missing field falls back to its parent", "spec.traffic[0].tag", 57},
		{"missing key falls back to the map", "metadata.labels[team]", 7},
		{"missing index falls back to the list", "spec.traffic[7].percent", 56},
		{"unknown path falls back to the document", "nothing.here", 2},
		{"empty path", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Position(tt.path); got != tt.want {
				t.Errorf("Position(%q) = %d, want %d", tt.path, got, tt.want)
			}
		})
	}
}

// TestDecodeMergeBomb checks that merge keys (<<) cannot multiply work
// either: each level merges the previous one ten times.
func TestDecodeMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: wake.dev/v1\nkind: Function\nx-anchors:\n  m0: &m0 {a: \"1\", b: \"2\", c: \"3\"}\n")
	for i := 1; i < 12; i++ {
		p := fmt.Sprintf("*m%d", i-1)
		fmt.Fprintf(&b, "  m%d: &m%d {<<: [%s]}\n", i, i, strings.Repeat(p+", ", 9)+p)
	}
	b.WriteString("metadata:\n  name: a\n  labels:\n    <<: *m11\n")
	_, _, errs := decode(t, "in.yaml", []byte(b.String()))
	if len(errs) != 2 || !strings.Contains(errs[1], "aliases (*name) are expanded") {
		t.Errorf("errors = %q, want the unknown field and the alias budget", errs)
	}
}
