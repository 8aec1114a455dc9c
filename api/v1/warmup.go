package v1

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Warmup is the requests wake sends to each new instance of a revision
// after its readiness probe passes and before it joins the endpoints that
// take traffic: a JVM's class loading and JIT, a cache's first fill, the
// first connections to a database happen there rather than in users'
// requests. Zero fields take the defaults in parentheses.
type Warmup struct {
	Path    string       `json:"path,omitempty"`   // ("/")
	Method  string       `json:"method,omitempty"` // (GET)
	Body    string       `json:"body,omitempty"`
	Headers []HTTPHeader `json:"headers,omitempty"`
	// Requests is how many requests to send (10), Concurrency how many at
	// once (1).
	Requests    int32 `json:"requests,omitempty"`
	Concurrency int32 `json:"concurrency,omitempty"`
	// TimeoutSeconds bounds the whole warm-up (60).
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// SuccessCodes are the statuses that count as success (any in
	// [200, 400)).
	SuccessCodes []int32 `json:"successCodes,omitempty"`
	// OnFailure is what a failed or timed-out warm-up does to the
	// instance: "block" (the default) stops and replaces it, "serve" lets
	// it take traffic anyway. Either way the failure shows in the
	// revision's status and logs.
	OnFailure string `json:"onFailure,omitempty"`
}

// Warm-up failure policies.
const (
	WarmupBlock = "block"
	WarmupServe = "serve"
)

// AnnotationWarmup gives a revision's warm-up on
// spec.template.metadata.annotations, for Knative manifests, whose schema
// has no warmup field. Its value is the same block as
// spec.template.spec.warmup, written as JSON or YAML:
//
//	wake.dev/warmup: '{"path": "/warm", "requests": 100, "concurrency": 4}'
const AnnotationWarmup = "wake.dev/warmup"

// Defaults and bounds of a warm-up.
const (
	DefaultWarmupPath           = "/"
	DefaultWarmupMethod         = "GET"
	DefaultWarmupRequests       = 10
	DefaultWarmupConcurrency    = 1
	DefaultWarmupTimeoutSeconds = 60

	MaxWarmupRequests       = 10000
	MaxWarmupConcurrency    = 256
	MaxWarmupTimeoutSeconds = 3600
)

// Warmup returns the revision's warm-up (spec.warmup, or the
// wake.dev/warmup annotation) with every default filled in, or nil when it
// has none. A stored revision passed validation; were its annotation
// unreadable anyway, it would count as no warm-up.
func (r *Revision) Warmup() *Warmup {
	w := r.Spec.Warmup
	if v, ok := r.Annotations[AnnotationWarmup]; ok && w == nil {
		var errs field.ErrorList
		if w, errs = DecodeWarmup(v, field.NewPath("metadata", "annotations").Key(AnnotationWarmup)); len(errs) > 0 {
			return nil
		}
	}
	if w == nil {
		return nil
	}
	out := *w
	out.Headers = append([]HTTPHeader(nil), w.Headers...)
	out.SuccessCodes = append([]int32(nil), w.SuccessCodes...)
	if out.Path == "" {
		out.Path = DefaultWarmupPath
	}
	if out.Method == "" {
		out.Method = DefaultWarmupMethod
	}
	if out.Requests == 0 {
		out.Requests = DefaultWarmupRequests
	}
	if out.Concurrency == 0 {
		out.Concurrency = DefaultWarmupConcurrency
	}
	if out.TimeoutSeconds == 0 {
		out.TimeoutSeconds = DefaultWarmupTimeoutSeconds
	}
	if out.OnFailure == "" {
		out.OnFailure = WarmupBlock
	}
	return &out
}

// Timeout is TimeoutSeconds as a duration.
func (w *Warmup) Timeout() time.Duration { return time.Duration(w.TimeoutSeconds) * time.Second }

// Succeeded tells whether status counts as a successful warm-up answer:
// one of SuccessCodes, or any in [200, 400) when there are none.
func (w *Warmup) Succeeded(status int) bool {
	if len(w.SuccessCodes) == 0 {
		return status >= 200 && status < 400
	}
	for _, c := range w.SuccessCodes {
		if int(c) == status {
			return true
		}
	}
	return false
}

// DecodeWarmup reads the value of the wake.dev/warmup annotation, JSON or
// YAML (flow or block), strictly: an unknown key or a value of the wrong
// type is an error under path (the annotation's path) and the key. It
// checks only the form; validateWarmup checks the values.
func DecodeWarmup(value string, path *field.Path) (w *Warmup, errs field.ErrorList) {
	defer func() {
		// As Decode: nothing a user sends may crash a component.
		if r := recover(); r != nil {
			w, errs = nil, field.ErrorList{field.InternalError(path, fmt.Errorf("decoding the warm-up: %v", r))}
		}
	}()
	const what = "must be a warm-up block as JSON or YAML, such as '{\"path\": \"/warm\", \"requests\": 100}'"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(value), &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return nil, field.ErrorList{field.Invalid(path, field.OmitValueType{}, what+": "+msg)}
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, field.ErrorList{field.Invalid(path, value, what)}
	}
	wk := &walker{report: newReport(len(value)), lines: map[string]int{},
		active: map[*yaml.Node]bool{}, types: map[reflect.Type]*structFields{}}
	wk.value(doc.Content[0], reflect.TypeFor[Warmup](), path.String())
	if len(wk.report.errs) > 0 {
		errs := make(field.ErrorList, 0, len(wk.report.errs))
		for _, fe := range wk.report.errs {
			e := field.Invalid(path, field.OmitValueType{}, fe.Message)
			if fe.Path != "" {
				e.Field = fe.Path
			}
			errs = append(errs, e)
		}
		return nil, errs
	}
	out := &Warmup{}
	dec := json.NewDecoder(&wk.out)
	dec.DisallowUnknownFields() // the walker wrote only known fields; this is a guard
	if err := dec.Decode(out); err != nil {
		return nil, field.ErrorList{field.Invalid(path, field.OmitValueType{}, "internal error decoding the checked warm-up: "+err.Error())}
	}
	return out, nil
}

// validateWarmup checks a template's warm-up, given in its spec or in its
// annotation but not both. path is the template's.
func validateWarmup(t *RevisionTemplate, path *field.Path) field.ErrorList {
	specPath := path.Child("spec", "warmup")
	annPath := path.Child("metadata", "annotations").Key(AnnotationWarmup)
	v, annotated := t.Annotations[AnnotationWarmup]
	switch {
	case annotated && t.Spec.Warmup != nil:
		return field.ErrorList{field.Forbidden(annPath,
			"must not be set with spec.template.spec.warmup: give the warm-up in one place")}
	case annotated:
		w, errs := DecodeWarmup(v, annPath)
		if len(errs) > 0 {
			return errs
		}
		return w.validate(annPath, t.Spec.ConcurrencyLimit())
	case t.Spec.Warmup != nil:
		return t.Spec.Warmup.validate(specPath, t.Spec.ConcurrencyLimit())
	}
	return nil
}

// validate checks a warm-up's values. containerConcurrency (0: no limit)
// bounds its concurrency: warm-up requests go straight to the instance,
// past the activator that enforces the limit.
func (w *Warmup) validate(path *field.Path, containerConcurrency int) field.ErrorList {
	var errs field.ErrorList
	if w.Path != "" {
		switch {
		case !strings.HasPrefix(w.Path, "/"):
			errs = append(errs, field.Invalid(path.Child("path"), w.Path, `must start with "/"`))
		case strings.ContainsFunc(w.Path, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			errs = append(errs, field.Invalid(path.Child("path"), w.Path, "must not contain spaces or control characters"))
		}
	}
	if w.Method != "" && !isToken(w.Method) {
		errs = append(errs, field.Invalid(path.Child("method"), w.Method, "must be an HTTP method such as GET or POST"))
	}
	for _, n := range []struct {
		name    string
		v, most int32
	}{
		{"requests", w.Requests, MaxWarmupRequests},
		{"concurrency", w.Concurrency, MaxWarmupConcurrency},
		{"timeoutSeconds", w.TimeoutSeconds, MaxWarmupTimeoutSeconds},
	} {
		if n.v != 0 && (n.v < 1 || n.v > n.most) { // 0: the default
			errs = append(errs, between(path.Child(n.name), int64(n.v), 1, int64(n.most)))
		}
	}
	if cc := containerConcurrency; cc > 0 && int(w.Concurrency) > cc {
		errs = append(errs, field.Invalid(path.Child("concurrency"), w.Concurrency,
			fmt.Sprintf("must be at most containerConcurrency (%d): an instance takes no more at once", cc)))
	}
	for i, c := range w.SuccessCodes {
		if c < 100 || c > 599 {
			errs = append(errs, between(path.Child("successCodes").Index(i), int64(c), 100, 599))
		}
	}
	switch w.OnFailure {
	case "", WarmupBlock, WarmupServe:
	default:
		errs = append(errs, field.NotSupported(path.Child("onFailure"), w.OnFailure, []string{WarmupBlock, WarmupServe}))
	}
	for i, h := range w.Headers {
		hp := path.Child("headers").Index(i)
		switch {
		case h.Name == "":
			errs = append(errs, field.Required(hp.Child("name"), ""))
		case len(validation.IsHTTPHeaderName(h.Name)) > 0:
			errs = append(errs, field.Invalid(hp.Child("name"), h.Name, "must be an HTTP header name: letters, digits and '-'"))
		}
		if strings.ContainsAny(h.Value, "\r\n\x00") {
			errs = append(errs, field.Invalid(hp.Child("value"), field.OmitValueType{}, "must not contain CR, LF or NUL"))
		}
	}
	return errs
}

// isToken tells whether s is an HTTP token (RFC 9110 tchar), as a method
// must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}
