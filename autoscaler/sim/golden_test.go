package sim

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
)

var update = flag.Bool("update", false, "rewrite the golden reports in ../testdata/traces")

// tracesDir holds the example traces shipped with wake and their reports.
const tracesDir = "../testdata/traces"

// goldenOptions is the setting every shipped trace is reported with: the
// server defaults, containerConcurrency 10 (so target 10 × 70% = 7 per
// instance) and a 1s start-up (burst: see its file). The load traces end with idle time of
// their own; a request log ends with its last request, so it gets two
// idle minutes to show the way down to zero.
func goldenOptions(name string) Options {
	o := Options{Scaling: api.Scaling{ContainerConcurrency: 10}, Startup: []time.Duration{time.Second}}
	switch name {
	case "requests":
		o.After = 2 * time.Minute
	case "burst": // a backlog held on a warm instance while slow ones start
		o.Startup, o.Warm, o.ClientTimeout = []time.Duration{5 * time.Second}, 1, 10*time.Second
	}
	return o
}

// TestGolden replays every shipped trace and compares the report with its
// .golden file; go test ./autoscaler/sim -update rewrites them after a
// change to the decider or the model that was meant. Read the diff: it is
// the change in behaviour.
func TestGolden(t *testing.T) {
	traces, err := filepath.Glob(filepath.Join(tracesDir, "*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(traces) < 6 {
		t.Fatalf("found %d traces in %s, want the six shipped ones", len(traces), tracesDir)
	}
	for _, path := range traces {
		name := strings.TrimSuffix(filepath.Base(path), ".csv")
		t.Run(name, func(t *testing.T) {
			got := report(t, path, goldenOptions(name))
			golden := filepath.Join(tracesDir, name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./autoscaler/sim -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("report of %s changed (-golden +got); if meant, rerun with -update:\n%s", path, diff)
			}
		})
	}
}

// TestGoldenIsStable runs one trace twice: the report must not depend on
// anything but its inputs.
func TestGoldenIsStable(t *testing.T) {
	path := filepath.Join(tracesDir, "sawtooth.csv")
	a, b := report(t, path, goldenOptions("sawtooth")), report(t, path, goldenOptions("sawtooth"))
	if !bytes.Equal(a, b) {
		t.Errorf("two runs of %s differ:\n%s", path, cmp.Diff(string(a), string(b)))
	}
}

func report(t *testing.T, path string, opts Options) []byte {
	t.Helper()
	tr, err := ReadFile(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(tr, opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteReport(&buf, res); err != nil {
		t.Fatal(err)
	}
	// Reports name the trace by the path it was read from; the golden
	// files should not depend on where the test runs.
	return bytes.ReplaceAll(buf.Bytes(), []byte(path), []byte(filepath.Base(path)))
}
