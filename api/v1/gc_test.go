package v1

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestParseRevisionGC(t *testing.T) {
	path := field.NewPath("metadata", "annotations")
	tests := []struct {
		name    string
		ann     map[string]string
		base    RevisionGC
		want    RevisionGC
		wantErr string
	}{{
		name: "none: the base",
		base: DefaultRevisionGC,
		want: DefaultRevisionGC,
	}, {
		name: "every setting",
		ann: map[string]string{
			AnnotationRetainSinceCreateTime:     "1h",
			AnnotationRetainSinceLastActiveTime: "disabled",
			AnnotationMinNonActiveRevisions:     "2",
			AnnotationMaxNonActiveRevisions:     "5",
		},
		base: DefaultRevisionGC,
		want: RevisionGC{RetainSinceCreateTime: time.Hour, RetainSinceLastActiveTime: Disabled, MinNonActiveRevisions: 2, MaxNonActiveRevisions: 5},
	}, {
		name: "min above the base's max raises it",
		ann:  map[string]string{AnnotationMinNonActiveRevisions: "2000"},
		base: DefaultRevisionGC,
		want: RevisionGC{RetainSinceCreateTime: 48 * time.Hour, RetainSinceLastActiveTime: 15 * time.Hour, MinNonActiveRevisions: 2000, MaxNonActiveRevisions: 2000},
	}, {
		name:    "both counts, max below min",
		ann:     map[string]string{AnnotationMinNonActiveRevisions: "5", AnnotationMaxNonActiveRevisions: "2"},
		base:    DefaultRevisionGC,
		wantErr: `metadata.annotations[serving.knative.dev/max-non-active-revisions]: Invalid value: "2": must be >= serving.knative.dev/min-non-active-revisions (5)`,
	}, {
		name:    "a duration without a unit",
		ann:     map[string]string{AnnotationRetainSinceCreateTime: "48"},
		base:    DefaultRevisionGC,
		wantErr: `metadata.annotations[serving.knative.dev/retain-since-create-time]: Invalid value: "48": must be a duration with a unit`,
	}, {
		name:    "a negative duration",
		ann:     map[string]string{AnnotationRetainSinceLastActiveTime: "-1h"},
		base:    DefaultRevisionGC,
		wantErr: "must not be negative",
	}, {
		name:    "min cannot be disabled",
		ann:     map[string]string{AnnotationMinNonActiveRevisions: "disabled"},
		base:    DefaultRevisionGC,
		wantErr: `serving.knative.dev/min-non-active-revisions]: Invalid value: "disabled": must be a whole number >= 0`,
	}, {
		name:    "a negative max",
		ann:     map[string]string{AnnotationMaxNonActiveRevisions: "-3"},
		base:    DefaultRevisionGC,
		wantErr: "must be >= 0",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := ParseRevisionGC(tt.ann, tt.base, path)
			if tt.wantErr != "" {
				if !strings.Contains(errs.ToAggregate().Error(), tt.wantErr) {
					t.Fatalf("errors = %v, want one containing %q", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestRevisionGCValidate(t *testing.T) {
	if err := DefaultRevisionGC.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	g := DefaultRevisionGC
	g.MaxNonActiveRevisions = 3
	err := g.Validate()
	if err == nil || err.Error() != "max-non-active-revisions = 3, must be >= min-non-active-revisions (20) or disabled" {
		t.Fatalf("max below min: %v", err)
	}
	g.MaxNonActiveRevisions = Disabled
	if err := g.Validate(); err != nil {
		t.Fatalf("max disabled: %v", err)
	}
}

// A function's bad GC annotation is reported by Validate, at its path.
func TestValidateReportsGCAnnotations(t *testing.T) {
	fn := &Function{}
	fn.Name, fn.Namespace = "f", DefaultNamespace
	fn.Annotations = map[string]string{AnnotationMaxNonActiveRevisions: "many"}
	fn.Spec.Template.Spec.Containers = []Container{{Command: []string{"/bin/true"}}}
	fn.SetDefaults()
	errs := fn.Validate(ValidateOptions{})
	if !strings.Contains(errs.ToAggregate().Error(), `metadata.annotations[serving.knative.dev/max-non-active-revisions]: Invalid value: "many"`) {
		t.Fatalf("errors = %v", errs)
	}
}
