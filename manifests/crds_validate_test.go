package manifests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	api "github.com/wakefn/wake/api/v1"
)

// crdValidator checks an object as the API server does on create and
// update of a custom resource: unknown fields (pruned there; refused by
// kubectl's strict field validation), the OpenAPI schema, then the CEL
// rules.
type crdValidator struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

func newCRDValidator(t *testing.T, file string) *crdValidator {
	t.Helper()
	crd := loadCRD(t, filepath.Join("crds", file))
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(schemaOf(t, crd), internal, nil); err != nil {
		t.Fatal(err)
	}
	s, err := structuralschema.NewStructural(internal)
	if err != nil {
		t.Fatal(err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(internal)
	if err != nil {
		t.Fatal(err)
	}
	return &crdValidator{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
}

// validate returns every problem in obj; old is the stored object for an
// update (transition rules such as immutability), nil for a create.
func (v *crdValidator) validate(obj, old map[string]any) field.ErrorList {
	var errs field.ErrorList
	unknown := pruning.PruneWithOptions(obj, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, p := range unknown {
		errs = append(errs, field.Invalid(field.NewPath(p), nil, "unknown field"))
	}
	if old == nil {
		errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, v.schema)...)
	} else {
		errs = append(errs, apiservervalidation.ValidateCustomResourceUpdate(nil, obj, old, v.schema)...)
	}
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, obj)...)
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, asAny(old), celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

// asAny keeps a nil map a nil interface: CEL treats a non-nil oldSelf as
// an update.
func asAny(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func toMap(t *testing.T, obj any) map[string]any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// decodeOne decodes a manifest with wake's own decoder (Knative manifests
// become wake.dev/v1 objects) and returns its one document.
func decodeOne(t *testing.T, manifest string) *api.Document {
	t.Helper()
	docs, err := api.Decode("test", []byte(manifest))
	if err != nil || len(docs) != 1 {
		t.Fatalf("decoding: %v (%d documents)\n%s", err, len(docs), manifest)
	}
	return docs[0]
}

// goErrors is what wake's Go validation says of a document.
func goErrors(d *api.Document) field.ErrorList {
	if d.Function != nil {
		f := d.Function.DeepCopy()
		f.SetDefaults()
		return f.Validate(api.ValidateOptions{})
	}
	tr := d.Trigger.DeepCopy()
	tr.SetDefaults()
	return tr.Validate()
}

// TestCRDsAcceptWakesManifests: every manifest of the examples and of
// api/v1's test data that wake's Go validation accepts (Knative Services
// and sources included, as wake turns them into wake.dev/v1 objects), the
// CRDs accept as it is written.
func TestCRDsAcceptWakesManifests(t *testing.T) {
	validators := map[string]*crdValidator{
		api.KindFunction: newCRDValidator(t, "wake.dev_functions.yaml"),
		api.KindTrigger:  newCRDValidator(t, "wake.dev_triggers.yaml"),
	}
	var files []string
	for _, glob := range []string{"../examples/*/*.yaml", "../api/v1/testdata/*.yaml"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, _ := api.Decode(f, data)
		for _, d := range docs {
			if len(goErrors(d)) > 0 {
				continue // the test data of refusals
			}
			if d.Function != nil && !hasImage(d.Function) {
				continue // embedded mode only: on Kubernetes the image is what runs, and the CRD requires it
			}
			obj, kind := any(d.Function), api.KindFunction
			if d.Function == nil {
				obj, kind = d.Trigger, api.KindTrigger
			}
			checked++
			for _, e := range validators[kind].validate(toMap(t, obj), nil) {
				t.Errorf("%s:%d: wake accepts this %s, the CRD refuses it: %v", f, d.Line, kind, e)
			}
		}
	}
	if checked < 5 {
		t.Errorf("only %d manifests checked: did the test data move?", checked)
	}
}

func hasImage(f *api.Function) bool {
	for _, c := range f.Spec.Template.Spec.Containers {
		if c.Image == "" {
			return false
		}
	}
	return true
}

// crdRefusal is an object the CRD must refuse, with the message it must
// give; wake's Go validation refuses it too unless goAccepts says why not.
type crdRefusal struct {
	name     string
	manifest string
	want     string
	// goAccepts is why wake's Go validation accepts what the CRD refuses.
	goAccepts string
}

const fnHead = "apiVersion: wake.dev/v1\nkind: Function\nmetadata: {name: hello, namespace: default}\n"

func fn(spec string) string {
	return fnHead + "spec:\n  template:\n    spec:\n" + spec
}

const container = "      containers: [{image: ghcr.io/wakefn/hello:1}]\n"

func TestFunctionCRDRefuses(t *testing.T) {
	v := newCRDValidator(t, "wake.dev_functions.yaml")
	cases := []crdRefusal{
		{name: "name not a DNS-1035 label", manifest: strings.Replace(fn(container), "name: hello,", "name: 1hello,", 1), want: "metadata.name"},
		{name: "two containers", manifest: fn("      containers: [{image: a}, {image: b}]\n"), want: "must have at most 1 item"},
		{name: "no container", manifest: fn("      timeoutSeconds: 10\n"), want: "spec.template.spec.containers"},
		{name: "no image", manifest: fn("      containers: [{command: [./hello]}]\n"), want: "image: Required value",
			goAccepts: "embedded mode runs the command; on Kubernetes the image is what runs"},
		{name: "containerConcurrency above 1000", manifest: fn("      containerConcurrency: 2000\n" + container), want: "less than or equal to 1000"},
		{name: "timeoutSeconds 0", manifest: fn("      timeoutSeconds: 0\n" + container), want: "greater than or equal to 1"},
		{name: "responseStartTimeoutSeconds over the timeout", manifest: fn("      timeoutSeconds: 10\n      responseStartTimeoutSeconds: 20\n" + container),
			want: "responseStartTimeoutSeconds must be at most timeoutSeconds"},
		{name: "reserved env", manifest: fn("      containers: [{image: a, env: [{name: PORT, value: '1'}]}]\n"), want: "name is reserved"},
		{name: "duplicate env", manifest: fn("      containers: [{image: a, env: [{name: A}, {name: A}]}]\n"), want: "Duplicate value"},
		{name: "two ports", manifest: fn("      containers: [{image: a, ports: [{containerPort: 1}, {containerPort: 2}]}]\n"), want: "must have at most 1 item"},
		{name: "unknown port name", manifest: fn("      containers: [{image: a, ports: [{name: grpc}]}]\n"), want: `supported values: "http1", "h2c"`},
		{name: "probe with two handlers", manifest: fn("      containers: [{image: a, readinessProbe: {httpGet: {path: /}, tcpSocket: {port: 80}}}]\n"),
			want: "a probe has one handler"},
		{name: "liveness successThreshold 2", manifest: fn("      containers: [{image: a, livenessProbe: {successThreshold: 2}}]\n"), want: "less than or equal to 1"},
		{name: "probe path without slash", manifest: fn("      containers: [{image: a, readinessProbe: {httpGet: {path: healthz}}}]\n"), want: "httpGet.path"},
		{name: "negative quantity", manifest: fn("      containers: [{image: a, resources: {requests: {cpu: '-1'}}}]\n"), want: "resources.requests.cpu"},
		{name: "warm-up concurrency over containerConcurrency", manifest: fn("      containerConcurrency: 2\n      warmup: {concurrency: 4}\n" + container),
			want: "warmup.concurrency must be at most containerConcurrency"},
		{name: "warm-up onFailure", manifest: fn("      warmup: {onFailure: retry}\n" + container), want: `supported values: "block", "serve"`},
		{name: "template name without the function's", manifest: strings.Replace(fn(container), "  template:\n", "  template:\n    metadata: {name: other-1}\n", 1),
			want: "must start with the function's name and a dash"},
		{name: "percents not summing to 100", manifest: fn(container) + "  traffic: [{latestRevision: true, percent: 50}, {revisionName: hello-00001, percent: 40}]\n",
			want: "percents must sum to 100"},
		{name: "revisionName and latestRevision", manifest: fn(container) + "  traffic: [{revisionName: hello-00001, latestRevision: true, percent: 100}]\n",
			want: "latestRevision must be false or unset when revisionName is set"},
		{name: "neither revisionName nor latest", manifest: fn(container) + "  traffic: [{latestRevision: false, percent: 100}]\n",
			want: "revisionName is required when latestRevision is false"},
		{name: "duplicate tag", manifest: fn(container) + "  traffic: [{tag: a, percent: 50}, {tag: a, revisionName: hello-00001, percent: 50}]\n",
			want: "tags must be unique"},
		{name: "tag too long for the host", manifest: fn(container) + "  traffic: [{tag: " + strings.Repeat("t", 60) + ", percent: 100}]\n",
			want: "must fit one DNS label"},
		{name: "url in spec", manifest: fn(container) + "  traffic: [{percent: 100, url: 'http://x'}]\n", want: "url must not be set in spec"},
		{name: "percent above 100", manifest: fn(container) + "  traffic: [{percent: 140}]\n", want: "less than or equal to 100"},
		{name: "unknown field", manifest: fn("      containers: [{image: a, imagePullPolicy: Always, imag: b}]\n"), want: "imag: Invalid value: null: unknown field",
			goAccepts: "never: wake's decoder refuses it too (strict); the Go check here runs after decoding"},
	}
	runRefusals(t, v, cases)
}

const trigHead = "apiVersion: wake.dev/v1\nkind: Trigger\nmetadata: {name: nightly, namespace: default}\nspec:\n"

const cron = "  cron: {schedule: '@daily'}\n"
const sink = "  sink: {function: hello}\n"
const kafka = "  kafka: {bootstrapServers: ['k:9092'], topics: [orders]}\n"

func TestTriggerCRDRefuses(t *testing.T) {
	v := newCRDValidator(t, "wake.dev_triggers.yaml")
	cases := []crdRefusal{
		{name: "no source", manifest: trigHead + sink, want: "exactly one source"},
		{name: "two sources", manifest: trigHead + cron + kafka + sink, want: "exactly one source"},
		{name: "no sink", manifest: trigHead + cron + "  rateLimit: 1\n", want: "set exactly one of function or uri"},
		{name: "sink function and uri", manifest: trigHead + cron + "  sink: {function: hello, uri: 'http://x'}\n", want: "set exactly one of function or uri"},
		{name: "tag without function", manifest: trigHead + cron + "  sink: {uri: 'http://x', tag: a}\n", want: "tag applies to a function sink only"},
		{name: "ordering on cron", manifest: trigHead + cron + sink + "  ordering: key\n", want: "ordering applies to kafka triggers only"},
		{name: "data and dataBase64", manifest: trigHead + "  cron: {schedule: '@daily', data: a, dataBase64: YQ==}\n" + sink, want: "set data or dataBase64, not both"},
		{name: "bad base64", manifest: trigHead + "  cron: {schedule: '@daily', dataBase64: '***'}\n" + sink, want: "dataBase64"},
		{name: "misfire policy", manifest: trigHead + "  cron: {schedule: '@daily', misfirePolicy: always}\n" + sink, want: `supported values: "skip", "fireOnce"`},
		{name: "timezone twice", manifest: trigHead + "  cron: {schedule: 'TZ=UTC @daily', timezone: UTC}\n" + sink, want: "timezone must not be set"},
		{name: "rate limit 0", manifest: trigHead + cron + sink + "  rateLimit: 0\n", want: "rateLimit"},
		{name: "bad extension name", manifest: trigHead + cron + sink + "  ceOverrides: {extensions: {Bad-Key: x}}\n", want: "CloudEvents attribute names"},
		{name: "dead-letter topic on cron", manifest: trigHead + cron + sink + "  delivery: {deadLetterSink: {kafkaTopic: dead}}\n",
			want: "applies to kafka triggers only"},
		{name: "dead letter with two targets", manifest: trigHead + kafka + sink + "  delivery: {deadLetterSink: {kafkaTopic: dead, function: f}}\n",
			want: "set exactly one of function, uri or kafkaTopic"},
		{name: "backoff delay not ISO-8601", manifest: trigHead + cron + sink + "  delivery: {backoffDelay: 5s}\n", want: "backoffDelay"},
		{name: "negative retry", manifest: trigHead + cron + sink + "  delivery: {retry: -1}\n", want: "greater than or equal to 0"},
		{name: "duplicate topic", manifest: trigHead + "  kafka: {bootstrapServers: ['k:9092'], topics: [a, a]}\n" + sink, want: "Duplicate value"},
		{name: "no brokers", manifest: trigHead + "  kafka: {bootstrapServers: [], topics: [a]}\n" + sink, want: "bootstrapServers"},
		{name: "broker without port", manifest: trigHead + "  kafka: {bootstrapServers: [kafka], topics: [a]}\n" + sink, want: "bootstrapServers[0]"},
		{name: "sasl without password", manifest: trigHead + "  kafka: {bootstrapServers: ['k:9092'], topics: [a], sasl: {user: u}}\n" + sink,
			want: "set exactly one of passwordFile or passwordSecret"},
		{name: "tls files without enable", manifest: trigHead + "  kafka: {bootstrapServers: ['k:9092'], topics: [a], tls: {caFile: /ca}}\n" + sink,
			want: "enable must be true"},
		{name: "tls cert without key", manifest: trigHead + "  kafka: {bootstrapServers: ['k:9092'], topics: [a], tls: {enable: true, certFile: /c}}\n" + sink,
			want: "certFile and keyFile go together"},
	}
	runRefusals(t, v, cases)
}

func runRefusals(t *testing.T, v *crdValidator, cases []crdRefusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var obj map[string]any
			if tc.goAccepts == "" {
				d := decodeOne(t, tc.manifest)
				if errs := goErrors(d); len(errs) == 0 {
					t.Errorf("wake's Go validation accepts what the CRD must refuse: the rules disagree")
				}
				if d.Function != nil {
					obj = toMap(t, d.Function)
				} else {
					obj = toMap(t, d.Trigger)
				}
			} else {
				obj = yamlToMap(t, tc.manifest)
			}
			errs := v.validate(obj, nil)
			for _, e := range errs {
				if strings.Contains(e.Error(), tc.want) {
					return
				}
			}
			t.Errorf("want a refusal containing %q, got %v", tc.want, errs)
		})
	}
}

func yamlToMap(t *testing.T, manifest string) map[string]any {
	t.Helper()
	j, err := utilyaml.ToJSON([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRevisionSpecIsImmutable: an update that changes a revision's spec
// is refused; one that changes only its status or labels is not.
func TestRevisionSpecIsImmutable(t *testing.T) {
	v := newCRDValidator(t, "wake.dev_revisions.yaml")
	old := yamlToMap(t, "apiVersion: wake.dev/v1\nkind: Revision\nmetadata: {name: hello-00001}\nspec:\n  containers: [{image: a}]\n")
	relabelled := yamlToMap(t, "apiVersion: wake.dev/v1\nkind: Revision\nmetadata: {name: hello-00001, labels: {a: b}}\nspec:\n  containers: [{image: a}]\nstatus: {desiredReplicas: 1}\n")
	if errs := v.validate(relabelled, old); len(errs) > 0 {
		t.Errorf("an update leaving the spec alone is refused: %v", errs)
	}
	changed := yamlToMap(t, "apiVersion: wake.dev/v1\nkind: Revision\nmetadata: {name: hello-00001}\nspec:\n  containers: [{image: b}]\n")
	errs := v.validate(changed, old)
	if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), "a revision is immutable") {
		t.Errorf("changing a revision's spec: want it refused as immutable, got %v", errs)
	}
}
