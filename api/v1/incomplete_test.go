package v1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// problems decodes a manifest and validates what decoded, as the admin API
// does, and returns every problem rendered: Decode's, then validation's.
func problems(t *testing.T, manifest string) []string {
	t.Helper()
	docs, _, errs := decode(t, "in.yaml", []byte(manifest))
	for _, d := range docs {
		d.Function.SetDefaults()
		for _, e := range d.Errors(d.Function.Validate(ValidateOptions{})) {
			errs = append(errs, e.String())
		}
	}
	return errs
}

// TestUnknownFieldHidesNothing: a field Decode cannot read is reported,
// and so is every problem of the rest of the document (issue 21: an
// unknown field hid five others).
func TestUnknownFieldHidesNothing(t *testing.T) {
	tests := []struct {
		name, manifest string
		want           []string
	}{{
		name: "unknown field and five validation problems",
		manifest: `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: Hello_World
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/max-scale: "-3"
    spec:
      containerConcurrency: 5000
      timeoutSeconds: 0
      replicas: 3
      containers:
        - command: ["./hello"]
  traffic:
    - latestRevision: true
      percent: 140
`,
		want: []string{
			"in.yaml:13: spec.template.spec.replicas: unknown field",
			"in.yaml:4: metadata.name: must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, got \"Hello_World\"",
			"in.yaml:9: spec.template.metadata.annotations[autoscaling.knative.dev/max-scale]: must be a whole number of instances, 0 or more, got \"-3\"",
			"in.yaml:11: spec.template.spec.containerConcurrency: must be between 0 and 1000, got 5000",
			"in.yaml:12: spec.template.spec.timeoutSeconds: must be between 1 and 3600, got 0",
			"in.yaml:18: spec.traffic[0].percent: must be between 0 and 100, got 140",
		},
	}, {
		name: "a wrong type hides nothing either",
		manifest: `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
spec:
  template:
    spec:
      containerConcurrency: lots
      timeoutSeconds: 0
      containers:
        - command: ["./hello"]
`,
		want: []string{
			`in.yaml:8: spec.template.spec.containerConcurrency: must be an integer, got "lots"`,
			"in.yaml:9: spec.template.spec.timeoutSeconds: must be between 1 and 3600, got 0",
		},
	}, {
		// metadata.name is required, and missing: it is misspelt. Saying
		// so twice would send the user looking for a second problem.
		name: "a misspelt required field is not also missing",
		manifest: `apiVersion: wake.dev/v1
kind: Function
metadata:
  nmae: hello
spec:
  template:
    spec:
      containers:
        - comand: ["./hello"]
`,
		want: []string{
			`in.yaml:4: metadata.nmae: unknown field; did you mean "name"?`,
			`in.yaml:9: spec.template.spec.containers[0].comand: unknown field; did you mean "command"?`,
		},
	}, {
		// The containers are there, in the spec indented under spec.
		name: "no missing containers where the misplaced spec belongs",
		manifest: `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/window: "30"
  spec:
    containers:
      - command: ["./hello"]
`,
		want: []string{
			"in.yaml:10: spec.spec: unknown field; it is indented under spec: did you mean it one level deeper, under template (spec.template.spec)?",
			`in.yaml:9: spec.template.metadata.annotations[autoscaling.knative.dev/window]: must be a duration with a unit, such as "30s", got "30"`,
		},
	}, {
		// The percents cannot be summed when one is unreadable.
		name: "no judgement of a value that holds an unreadable one",
		manifest: `apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - command: ["./hello"]
  traffic:
    - revisionName: hello-00001
      percent: fifty
    - latestRevision: true
      percent: 50
`,
		want: []string{`in.yaml:12: spec.traffic[0].percent: must be an integer, got "fifty"`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, problems(t, tt.manifest)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIncompleteDocument: a document with problems is returned for
// validation, marked so that nobody stores it.
func TestIncompleteDocument(t *testing.T) {
	docs, err := Decode("in.yaml", []byte(fn("a")+"      color: blue\n---\n"+fn("b")))
	if err == nil || len(docs) != 2 {
		t.Fatalf("Decode: %d documents, error %v; want both documents and the error", len(docs), err)
	}
	if !docs[0].Incomplete || docs[1].Incomplete {
		t.Errorf("Incomplete = %v, %v; want true for the document with the unknown field only", docs[0].Incomplete, docs[1].Incomplete)
	}
}
