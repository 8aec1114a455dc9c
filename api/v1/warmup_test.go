package v1

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateWarmup(t *testing.T) {
	spec := func(w Warmup) func(*Function) {
		return func(f *Function) { f.Spec.Template.Spec.Warmup = &w }
	}
	annotate := func(v string) func(*Function) {
		return func(f *Function) { f.Spec.Template.Annotations = map[string]string{AnnotationWarmup: v} }
	}
	const sp = "spec.template.spec.warmup."
	const ap = "spec.template.metadata.annotations[wake.dev/warmup]"
	tests := []struct {
		name   string
		mutate func(*Function)
		want   []string
	}{
		{name: "empty block takes the defaults", mutate: spec(Warmup{})},
		{name: "full block", mutate: spec(Warmup{Path: "/warm?deep=1", Method: "POST", Body: "{}", Requests: 10000, Concurrency: 256,
			TimeoutSeconds: 3600, SuccessCodes: []int32{200, 204}, OnFailure: WarmupServe,
			Headers: []HTTPHeader{{Name: "Content-Type", Value: "application/json"}}})},
		{name: "path", mutate: spec(Warmup{Path: "warm"}), want: []string{sp + `path: must start with "/", got "warm"`}},
		{name: "path with a space", mutate: spec(Warmup{Path: "/a b"}), want: []string{sp + `path: must not contain spaces or control characters, got "/a b"`}},
		{name: "method", mutate: spec(Warmup{Method: "GET /"}), want: []string{sp + `method: must be an HTTP method such as GET or POST, got "GET /"`}},
		{name: "bounds", mutate: spec(Warmup{Requests: 10001, Concurrency: -1, TimeoutSeconds: 3601, SuccessCodes: []int32{200, 99, 600}}),
			want: []string{
				sp + "requests: must be between 1 and 10000, got 10001",
				sp + "concurrency: must be between 1 and 256, got -1",
				sp + "timeoutSeconds: must be between 1 and 3600, got 3601",
				sp + "successCodes[1]: must be between 100 and 599, got 99",
				sp + "successCodes[2]: must be between 100 and 599, got 600",
			}},
		{name: "concurrency within containerConcurrency", mutate: func(f *Function) {
			spec(Warmup{Concurrency: 4})(f)
			f.Spec.Template.Spec.ContainerConcurrency = ptr[int64](2)
		}, want: []string{sp + "concurrency: must be at most containerConcurrency (2): an instance takes no more at once, got 4"}},
		{name: "onFailure", mutate: spec(Warmup{OnFailure: "retry"}), want: []string{sp + `onFailure: must be one of "block", "serve", got "retry"`}},
		{name: "headers", mutate: spec(Warmup{Headers: []HTTPHeader{{Name: ""}, {Name: "Bad Name"}, {Name: "X-Ok", Value: "a\r\nb"}}}),
			want: []string{
				sp + "headers[0].name: is required",
				sp + `headers[1].name: must be an HTTP header name: letters, digits and '-', got "Bad Name"`,
				sp + "headers[2].value: must not contain CR, LF or NUL",
			}},
		{name: "annotation as JSON", mutate: annotate(`{"path": "/warm", "requests": 100, "concurrency": 4}`)},
		{name: "annotation as YAML flow", mutate: annotate(`{path: /warm, requests: 100, onFailure: serve}`)},
		{name: "annotation as YAML block", mutate: annotate("path: /warm\nrequests: 100\nsuccessCodes: [200]\n")},
		{name: "annotation values are validated", mutate: annotate(`{"requests": 0, "concurrency": 1000}`),
			want: []string{ap + ".concurrency: must be between 1 and 256, got 1000"}},
		{name: "annotation unknown key", mutate: annotate(`{"request": 100}`),
			want: []string{ap + `.request: unknown field; did you mean "requests"?`}},
		{name: "annotation wrong type", mutate: annotate(`{"requests": "many"}`),
			want: []string{ap + `.requests: must be an integer, got "many"`}},
		{name: "annotation not a map", mutate: annotate(`100`), want: []string{ap + ": must be a map, got 100"}},
		{name: "annotation empty", mutate: annotate(``),
			want: []string{ap + `: must be a warm-up block as JSON or YAML, such as '{"path": "/warm", "requests": 100}', got ""`}},
		{name: "annotation syntax", mutate: annotate(`{"requests": 1`),
			want: []string{ap + `: must be a warm-up block as JSON or YAML, such as '{"path": "/warm", "requests": 100}': line 1: did not find expected ',' or '}'`}},
		{name: "annotation and spec", mutate: func(f *Function) {
			spec(Warmup{})(f)
			annotate(`{}`)(f)
		}, want: []string{ap + ": must not be set with spec.template.spec.warmup: give the warm-up in one place"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := valid()
			tc.mutate(f)
			if diff := cmp.Diff(tc.want, render(f, ValidateOptions{})); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// A Knative Service carries its warm-up in the annotation; the decoder
// points at its line.
func TestDecodeWarmupAnnotation(t *testing.T) {
	manifest := `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        wake.dev/warmup: |
          path: /warm
          requests: 100
          concurrency: 4000
    spec:
      containers:
        - image: hello
          command: [./hello]
`
	docs, err := Decode("hello.yaml", []byte(manifest))
	if err != nil || len(docs) != 1 {
		t.Fatalf("Decode: %v", err)
	}
	f := docs[0].Function
	f.SetDefaults()
	got := docs[0].Errors(f.Validate(ValidateOptions{})).Error()
	want := "hello.yaml:9: spec.template.metadata.annotations[wake.dev/warmup].concurrency: must be between 1 and 256, got 4000"
	if got != want {
		t.Errorf("error\n got %s\nwant %s", got, want)
	}
}

func TestRevisionWarmupDefaults(t *testing.T) {
	rev := &Revision{}
	if w := rev.Warmup(); w != nil {
		t.Errorf("no warm-up: got %+v", w)
	}
	rev.Spec.Warmup = &Warmup{}
	want := &Warmup{Path: "/", Method: "GET", Requests: 10, Concurrency: 1, TimeoutSeconds: 60, OnFailure: WarmupBlock}
	if diff := cmp.Diff(want, rev.Warmup(), cmpEmpty); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if rev.Spec.Warmup.Requests != 0 {
		t.Error("Warmup changed the spec")
	}
	rev.Spec.Warmup = nil
	rev.Annotations = map[string]string{AnnotationWarmup: `{"path": "/warm", "requests": 100, "onFailure": "serve", "successCodes": [204]}`}
	want = &Warmup{Path: "/warm", Method: "GET", Requests: 100, Concurrency: 1, TimeoutSeconds: 60, OnFailure: WarmupServe, SuccessCodes: []int32{204}}
	got := rev.Warmup()
	if diff := cmp.Diff(want, got, cmpEmpty); diff != "" {
		t.Errorf("from the annotation (-want +got):\n%s", diff)
	}
	if got.Succeeded(200) || !got.Succeeded(204) {
		t.Error("Succeeded does not follow successCodes")
	}
	if d := (&Warmup{}).Succeeded; !d(200) || !d(302) || d(404) || d(199) {
		t.Error("Succeeded without successCodes is not [200, 400)")
	}
	rev.Annotations[AnnotationWarmup] = "{nope"
	if w := rev.Warmup(); w != nil {
		t.Errorf("unreadable annotation: got %+v", w)
	}
}

// cmpEmpty treats nil and empty slices alike.
var cmpEmpty = cmp.Transformer("nilSlices", func(s []int32) []int32 {
	if len(s) == 0 {
		return nil
	}
	return s
})

func FuzzDecodeWarmup(f *testing.F) {
	for _, s := range []string{`{"requests": 100}`, "path: /\nheaders: [{name: a, value: b}]", `[1,2]`, `&a [*a]`, strings.Repeat("[", 1000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, errs := DecodeWarmup(s, field.NewPath("x"))
		if (w == nil) == (len(errs) == 0) {
			t.Fatalf("DecodeWarmup(%q) = %v, %v", s, w, errs)
		}
	})
}

// A Knative Service gives its warm-up in the wake.dev/warmup annotation;
// the runtime reads it, with the defaults filled, from the revision.
func ExampleRevision_Warmup() {
	rev := &Revision{}
	rev.Annotations = map[string]string{AnnotationWarmup: `{"path": "/warm", "requests": 100, "concurrency": 4}`}
	w := rev.Warmup()
	fmt.Printf("%d × %s %s, %d at a time, within %v; on failure: %s\n", w.Requests, w.Method, w.Path, w.Concurrency, w.Timeout(), w.OnFailure)
	// Output: 100 × GET /warm, 4 at a time, within 1m0s; on failure: block
}
