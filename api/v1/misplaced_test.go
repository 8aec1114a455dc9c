package v1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMisplacedField: a field indented at the wrong depth is an unknown
// field where it is, and the message says where it belongs (issue 21: a
// mis-indented spec: gave "spec.spec: unknown field" and no more).
func TestMisplacedField(t *testing.T) {
	const head = "apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n  name: hello\n"
	tests := []struct {
		name, input string
		want        string
	}{{
		// The spec: of the template, two spaces short: under spec. Its
		// keys say which spec it is; the one it is in is not meant.
		name:  "spec under spec",
		input: head + "spec:\n  template:\n    metadata:\n      annotations: {a: b}\n  spec:\n    containers:\n      - command: [x]\n",
		want:  "in.yaml:9: spec.spec: unknown field; it is indented under spec: did you mean it one level deeper, under template (spec.template.spec)?",
	}, {
		name:  "spec under metadata",
		input: head + "  spec:\n    template: {}\n",
		want:  "in.yaml:5: metadata.spec: unknown field; it is indented under metadata: did you mean it one level up (spec)?",
	}, {
		name:  "traffic under the template's spec",
		input: head + "spec:\n  template:\n    spec:\n      containers:\n        - command: [x]\n      traffic:\n        - latestRevision: true\n",
		want:  "in.yaml:10: spec.template.spec.traffic: unknown field; it is indented under spec.template.spec: did you mean it two levels up (spec.traffic)?",
	}, {
		name:  "container field beside the list",
		input: head + "spec:\n  template:\n    spec:\n      containers:\n        - image: x\n      command: [x]\n",
		want:  "in.yaml:10: spec.template.spec.command: unknown field; it is indented under spec.template.spec: did you mean it one level deeper, under containers[0] (spec.template.spec.containers[0].command)?",
	}, {
		// Probes have a timeoutSeconds too, but no probe is there to hold
		// it: the object around the field wins a tie.
		name:  "revision field in a container",
		input: head + "spec:\n  template:\n    spec:\n      containers:\n        - command: [x]\n          timeoutSeconds: 30\n",
		want:  "in.yaml:10: spec.template.spec.containers[0].timeoutSeconds: unknown field; it is indented under spec.template.spec.containers[0]: did you mean it one level up (spec.template.spec.timeoutSeconds)?",
	}, {
		name:  "up then down",
		input: head + "spec:\n  template:\n    spec:\n      containers:\n        - command: [x]\n      annotations:\n        autoscaling.knative.dev/window: 30s\n",
		want:  "in.yaml:10: spec.template.spec.annotations: unknown field; it is indented under spec.template.spec: did you mean spec.template.metadata.annotations?",
	}, {
		name:  "no object near has it",
		input: head + "spec:\n  template:\n    spec:\n      containers:\n        - command: [x]\n      replicas: 3\n",
		want:  "in.yaml:10: spec.template.spec.replicas: unknown field",
	}, {
		// A list where the field near by takes a map.
		name:  "the value does not fit",
		input: head + "spec:\n  template:\n    spec:\n      containers:\n        - command: [x]\n      metadata: [a]\n",
		want:  "in.yaml:10: spec.template.spec.metadata: unknown field",
	}, {
		// A misspelling is the likelier mistake.
		name:  "a misspelling first",
		input: head + "spec:\n  template:\n    spec:\n      containers:\n        - command: [x]\n  trafic: []\n",
		want:  `in.yaml:10: spec.trafic: unknown field; did you mean "traffic"?`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, errs := decode(t, "in.yaml", []byte(tt.input))
			if diff := cmp.Diff([]string{tt.want}, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
