package v1

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestFieldErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  FieldError
		want string
	}{
		{"everything", FieldError{"hello.yaml", 14, "spec.traffic[1].percent", "must be between 0 and 100, got 140"},
			"hello.yaml:14: spec.traffic[1].percent: must be between 0 and 100, got 140"},
		{"no source", FieldError{"", 14, "spec.traffic", "must sum to 100, got 90"},
			"line 14: spec.traffic: must sum to 100, got 90"},
		{"no line", FieldError{"", 0, "metadata.name", "is required"}, "metadata.name: is required"},
		{"source without line", FieldError{"hello.yaml", 0, "metadata.name", "is required"}, "hello.yaml: metadata.name: is required"},
		{"no path", FieldError{"hello.yaml", 3, "", "mapping values are not allowed in this context"},
			"hello.yaml:3: mapping values are not allowed in this context"},
		{"only a message", FieldError{Message: "too many problems"}, "too many problems"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorsIsAnError(t *testing.T) {
	var err error = Errors{
		{Source: "a.yaml", Line: 1, Path: "kind", Message: "is required"},
		{Source: "a.yaml", Line: 4, Path: "metadata.name", Message: "is required"},
	}
	want := "a.yaml:1: kind: is required\na.yaml:4: metadata.name: is required"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Errorf("errors.As did not find the Errors")
	}
}

// TestMessage checks that every kind of field.Error reads as a plain
// sentence with the bad value, not as apimachinery's "Invalid value: ...".
func TestMessage(t *testing.T) {
	p := field.NewPath("spec", "x")
	tests := []struct {
		name string
		err  *field.Error
		want string
	}{
		{"invalid int", field.Invalid(p, int64(140), "must be between 0 and 100"), "must be between 0 and 100, got 140"},
		{"invalid string", field.Invalid(p, "Hello", "must be lower case"), `must be lower case, got "Hello"`},
		{"invalid pointer", field.Invalid(p, ptr[int32](7), "must be even"), "must be even, got 7"},
		{"invalid nil pointer", field.Invalid(p, (*int)(nil), "must be set"), "must be set"},
		{"invalid omitted", field.Invalid(p, field.OmitValueType{}, "must have one item; got 2"), "must have one item; got 2"},
		{"invalid bool", field.Invalid(p, true, "must be false"), "must be false, got true"},
		{"invalid float", field.Invalid(p, 1.5, "must be whole"), "must be whole, got 1.5"},
		{"invalid no detail", field.Invalid(p, "x", ""), `is invalid, got "x"`},
		{"invalid struct", field.Invalid(p, struct{ A int }{1}, "must be empty"), `must be empty, got {"A":1}`},
		{"long value", field.Invalid(p, strings.Repeat("a", 200), "must be short"),
			`must be short, got "` + strings.Repeat("a", maxValueLen) + `..."`},
		{"required", field.Required(p, ""), "is required"},
		{"required with reason", field.Required(p, "set image or command"), "is required: set image or command"},
		{"required sentence", field.Required(p, "is required in embedded mode"), "is required in embedded mode"},
		{"forbidden", field.Forbidden(p, "must not be set in spec"), "must not be set in spec"},
		{"forbidden bare", field.Forbidden(p, ""), "is not allowed"},
		{"not supported", field.NotSupported(p, "http", []string{"http1", "h2c"}), `must be one of "http1", "h2c", got "http"`},
		{"duplicate", field.Duplicate(p, "canary"), `must be unique, got "canary" more than once`},
		{"too long", field.TooLong(p, "xxx", 63), "may not be more than 63 bytes"},
		{"too many", field.TooMany(p, 3, 1), "must have at most 1 item, got 3"},
		{"not found", field.NotFound(p, "hello-00009"), `not found, got "hello-00009"`},
		{"internal", field.InternalError(p, errors.New("boom")), "internal error: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := message(tt.err); got != tt.want {
				t.Errorf("message() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	if got := NewErrors(nil); got != nil {
		t.Errorf("NewErrors(nil) = %v, want nil", got)
	}
	list := field.ErrorList{
		field.Invalid(field.NewPath("spec", "traffic").Index(1).Child("percent"), int64(140), "must be between 0 and 100"),
		field.Required(field.NewPath("metadata", "name"), ""),
	}
	want := Errors{
		{Path: "spec.traffic[1].percent", Message: "must be between 0 and 100, got 140"},
		{Path: "metadata.name", Message: "is required"},
	}
	if diff := cmp.Diff(want, NewErrors(list)); diff != "" {
		t.Errorf("NewErrors() mismatch (-want +got):\n%s", diff)
	}
}
