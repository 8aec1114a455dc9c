package manifests

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"

	api "github.com/wakefn/wake/api/v1"
)

// crdCase is one CRD and the Go type it serves.
type crdCase struct {
	file   string
	plural string
	kind   string
	goType reflect.Type
	// exceptions are schema paths the comparison leaves out, with why.
	exceptions map[string]string
}

var crdCases = []crdCase{
	{file: "wake.dev_functions.yaml", plural: api.ResourceFunctions, kind: api.KindFunction, goType: reflect.TypeFor[api.Function]()},
	{file: "wake.dev_revisions.yaml", plural: api.ResourceRevisions, kind: api.KindRevision, goType: reflect.TypeFor[api.Revision](),
		exceptions: map[string]string{
			"status.autoscaling": "live: the autoscaler's view, filled in when a revision is read through wake (wake describe), never stored; storing it would write every revision's status every 2s",
			"status.coldStarts":  "live: the latest wake-ups from zero, kept by the activator and filled in on request, never stored",
		}},
	{file: "wake.dev_triggers.yaml", plural: api.ResourceTriggers, kind: api.KindTrigger, goType: reflect.TypeFor[api.Trigger]()},
}

// readYAMLDocs returns the non-empty YAML documents of a file as JSON.
func readYAMLDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		j, err := utilyaml.ToJSON(doc)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, j)
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(append(out, line...), '\n')
		}
	}
	return out
}

// decodeStrict decodes JSON into obj, refusing unknown and duplicate
// fields and fields in the wrong case, as kubectl's strict field
// validation does.
func decodeStrict(t *testing.T, what string, data []byte, obj any) {
	t.Helper()
	strict, err := sigsjson.UnmarshalStrict(data, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, e := range strict {
		t.Errorf("%s: %v", what, e)
	}
}

// loadCRD reads one CRD file strictly, with the API server's defaults.
func loadCRD(t *testing.T, path string) *apiextv1.CustomResourceDefinition {
	t.Helper()
	docs := readYAMLDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: want one document, got %d", path, len(docs))
	}
	crd := &apiextv1.CustomResourceDefinition{}
	decodeStrict(t, path, docs[0], crd)
	apiextv1.SetObjectDefaults_CustomResourceDefinition(crd)
	return crd
}

func schemaOf(t *testing.T, crd *apiextv1.CustomResourceDefinition) *apiextv1.JSONSchemaProps {
	t.Helper()
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Schema == nil || crd.Spec.Versions[0].Schema.OpenAPIV3Schema == nil {
		t.Fatalf("%s: want one version with a schema", crd.Name)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema
}

// TestCRDsAreValid runs the API server's own validation of a CRD on
// create: a structural schema, CEL rules that compile within the cost
// budget, valid printer columns and names. What passes here is what
// `kubectl apply` accepts.
func TestCRDsAreValid(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("crds", "*.yaml"))
	if len(files) != len(crdCases) {
		t.Errorf("crds/ has %d files, the test knows %d: add the new CRD to crdCases", len(files), len(crdCases))
	}
	for _, tc := range crdCases {
		t.Run(tc.plural, func(t *testing.T) {
			crd := loadCRD(t, filepath.Join("crds", tc.file))
			if crd.Name != tc.plural+"."+api.Group || crd.Spec.Group != api.Group || crd.Spec.Names.Kind != tc.kind ||
				crd.Spec.Names.Plural != tc.plural || crd.Spec.Scope != apiextv1.NamespaceScoped {
				t.Errorf("names: %s, group %s, kind %s, plural %s, scope %s", crd.Name, crd.Spec.Group, crd.Spec.Names.Kind, crd.Spec.Names.Plural, crd.Spec.Scope)
			}
			v := crd.Spec.Versions[0]
			if v.Name != api.SchemeGroupVersion.Version || !v.Served || !v.Storage {
				t.Errorf("version %s served %v storage %v, want v1 served and stored", v.Name, v.Served, v.Storage)
			}
			if v.Subresources == nil || v.Subresources.Status == nil {
				t.Error("no status subresource: the controller's status writes would race users' spec writes")
			}
			internal := &apiextensions.CustomResourceDefinition{}
			if err := apiextv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, internal, nil); err != nil {
				t.Fatal(err)
			}
			internal.Status.StoredVersions = []string{v.Name} // what the API server sets on create
			for _, e := range validation.ValidateCustomResourceDefinition(context.Background(), internal) {
				t.Errorf("the API server would refuse it: %v", e)
			}
		})
	}
}

// TestCRDSchemasMatchGoTypes fails when a Go field of api/v1 has no
// property in its CRD (the API server would prune it: the controller's
// write would silently lose it) or a property has no Go field.
func TestCRDSchemasMatchGoTypes(t *testing.T) {
	for _, tc := range crdCases {
		t.Run(tc.plural, func(t *testing.T) {
			crd := loadCRD(t, filepath.Join("crds", tc.file))
			for _, p := range compare(tc.goType, schemaOf(t, crd), tc.exceptions) {
				t.Error(p)
			}
		})
	}
}

// TestSchemaCheckCatchesDrift proves the comparison fails on the drifts
// it is there for, on a synthetic type and schema.
func TestSchemaCheckCatchesDrift(t *testing.T) {
	type spec struct {
		Kept    string            `json:"kept"`
		Added   int32             `json:"added,omitempty"` // a new Go field, not in the schema
		Count   int64             `json:"count"`           // typed string in the schema
		Tags    map[string]string `json:"tags,omitempty"`
		Skipped string            `json:"skipped,omitempty"`
	}
	type object struct {
		Spec spec `json:"spec"`
	}
	str := apiextv1.JSONSchemaProps{Type: "string"}
	schema := &apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
		"spec": {Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
			"kept":    str,
			"count":   str,
			"removed": str, // a property whose Go field is gone
			"tags":    {Type: "object", AdditionalProperties: &apiextv1.JSONSchemaPropsOrBool{Schema: &str}},
		}},
	}}
	got := compare(reflect.TypeFor[object](), schema, map[string]string{"spec.skipped": "test", "spec.stale": "test"})
	want := []string{
		"spec.added: Go field spec.Added has no schema property: the API server would drop it",
		`spec.count: Go int64 wants schema type integer, got "string"`,
		"spec.removed: schema property has no field in Go manifests.spec: the controller would never read it",
		"spec.stale: listed as an exception but neither the Go type nor the schema has it",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestRevisionSpecSchemaIsShared keeps the two copies of RevisionSpec's
// schema (a function's template and a revision's spec) the same, apart
// from the revision's immutability rule and description.
func TestRevisionSpecSchemaIsShared(t *testing.T) {
	fn := schemaOf(t, loadCRD(t, filepath.Join("crds", "wake.dev_functions.yaml")))
	rev := schemaOf(t, loadCRD(t, filepath.Join("crds", "wake.dev_revisions.yaml")))
	tmpl := fn.Properties["spec"].Properties["template"].Properties["spec"]
	spec := rev.Properties["spec"]
	if len(spec.XValidations) == 0 || spec.XValidations[0].Rule != "self == oldSelf" {
		t.Fatalf("a revision's spec must start with the immutability rule, got %v", spec.XValidations)
	}
	spec.XValidations = spec.XValidations[1:]
	spec.Description, tmpl.Description = "", ""
	if diff := cmp.Diff(tmpl, spec); diff != "" {
		t.Errorf("functions' spec.template.spec and revisions' spec differ (-function +revision):\n%s", diff)
	}
}

var (
	// filterPath matches a JSONPath filter such as [?(@.type=="Ready")].
	filterPath = regexp.MustCompile(`\[\?\(@\.([a-zA-Z]+)=="[^"]*"\)\]`)
	// wantColumns are the printer columns the docs promise, in order.
	wantColumns = map[string][]string{
		api.ResourceFunctions: {"URL", "LatestCreated", "LatestReady", "Ready", "Reason", "Age"},
		api.ResourceRevisions: {"Function", "Ready", "Reason", "Desired", "Actual", "Age"},
		api.ResourceTriggers:  {"Schedule", "Topics", "Sink", "Ready", "Reason", "Age", "SinkURI"},
	}
)

// TestPrinterColumns checks the columns of `kubectl get` and that each
// column's path names a property of the schema: the API server accepts a
// path to nothing and shows an empty column.
func TestPrinterColumns(t *testing.T) {
	for _, tc := range crdCases {
		t.Run(tc.plural, func(t *testing.T) {
			crd := loadCRD(t, filepath.Join("crds", tc.file))
			var names []string
			for _, col := range crd.Spec.Versions[0].AdditionalPrinterColumns {
				names = append(names, col.Name)
				if strings.HasPrefix(col.JSONPath, ".metadata.") {
					continue // the API server's own
				}
				if err := schemaHasPath(schemaOf(t, crd), col.JSONPath); err != "" {
					t.Errorf("column %s: %s: %s", col.Name, col.JSONPath, err)
				}
			}
			if diff := cmp.Diff(wantColumns[tc.plural], names); diff != "" {
				t.Errorf("columns (-want +got):\n%s", diff)
			}
		})
	}
}

// schemaHasPath follows a simple JSONPath (.a.b, .a[?(@.k=="v")].b)
// through the schema and says what is missing, or "".
func schemaHasPath(s *apiextv1.JSONSchemaProps, path string) string {
	path = filterPath.ReplaceAllString(path, ".[]")
	for _, part := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		if part == "[]" {
			if s.Items == nil || s.Items.Schema == nil {
				return "filters a non-array"
			}
			s = s.Items.Schema
			continue
		}
		p, ok := s.Properties[part]
		if !ok {
			return "no property " + part
		}
		s = &p
	}
	return ""
}
