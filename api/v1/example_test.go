package v1_test

import (
	"fmt"

	v1 "github.com/wakefn/wake/api/v1"
)

// Decode reads every object in a manifest; SetDefaults and Validate then
// check each, and Document.Errors points every problem at its line.
func ExampleDecode() {
	manifest := []byte(`apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          command: [./hello]
  traffic:
    - latestRevision: true
      percent: 140
`)
	docs, err := v1.Decode("hello.yaml", manifest)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range docs {
		f := d.Function
		f.SetDefaults()
		fmt.Println(f.Kind, f.Key())
		if errs := d.Errors(f.Validate(v1.ValidateOptions{})); errs != nil {
			fmt.Println(errs)
		}
	}
	// Output:
	// Function default/hello
	// hello.yaml:13: spec.traffic[0].percent: must be between 0 and 100, got 140
}

// Decoding is strict: unknown fields and wrong types are errors, all of
// them at once, each with its line.
func ExampleDecode_strict() {
	manifest := []byte(`apiVersion: wake.dev/v1
kind: Function
metadata:
  name: hello
spec:
  template:
    spec:
      containerConcurrency: lots
      containers:
        - commmand: [./hello]
`)
	_, err := v1.Decode("hello.yaml", manifest)
	fmt.Println(err)
	// Output:
	// hello.yaml:8: spec.template.spec.containerConcurrency: must be an integer, got "lots"
	// hello.yaml:10: spec.template.spec.containers[0].commmand: unknown field; did you mean "command"?
}
