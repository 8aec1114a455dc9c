package v1

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes through everything a manifest meets on
// its way in: Decode, then SetDefaults and Validate on every function. None
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
			d.Function.SetDefaults()
			for _, opts := range []ValidateOptions{{}, {RequireCommand: true}} {
				for _, e := range d.Errors(d.Function.Validate(opts)) {
					if e.Line < 1 {
						t.Fatalf("validation error without a line: %s", e)
					}
				}
			}
		}
	})
}
