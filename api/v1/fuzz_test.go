package v1

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FuzzDecode feeds arbitrary bytes through everything a manifest meets on
// its way in: Decode, then SetDefaults and Validate on every function and trigger. None
// of it may panic, and Decode's last-resort recover must never be what
// turned a panic into an error. Seeds are the manifests in testdata and
// the corpus in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.*")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Decode("fuzz.yaml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Decode error %T %v, want non-empty Errors", err, err)
			}
			for _, e := range errs {
				if strings.Contains(e.Message, "internal error") {
					t.Fatalf("Decode: %s", e)
				}
			}
		}
		for _, d := range docs {
			if (d.Function == nil) == (d.Trigger == nil) {
				t.Fatalf("document %d: want exactly one of Function and Trigger", d.Index)
			}
			var errs []field.ErrorList
			if d.Function != nil {
				d.Function.SetDefaults()
				errs = append(errs, d.Function.Validate(ValidateOptions{}))
			} else {
				d.Trigger.SetDefaults()
				errs = append(errs, d.Trigger.Validate())
			}
			for _, list := range errs {
				for _, e := range d.Errors(list) {
					if e.Line < 1 {
						t.Fatalf("validation error without a line: %s", e)
					}
				}
			}
		}
	})
}
