package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const spikeTrace = "../../autoscaler/testdata/traces/spike.csv"

// simulate runs `wake autoscaler simulate ARGS...` and returns its output.
func simulate(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append([]string{"autoscaler", "simulate"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestSimulateSpike(t *testing.T) {
	plot := filepath.Join(t.TempDir(), "spike.svg")
	out, err := simulate(t, "", "--trace", spikeTrace, "--container-concurrency", "10", "--plot", plot)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"containerConcurrency 10; start-up 1s",
		"activation: 300 waiting / target 7 = 43 wanted, 0 ready; entered panic → 43",
		"peak instances             43",
		"time at zero instances     158.0s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if fi, err := os.Stat(plot); err != nil || fi.Size() == 0 {
		t.Errorf("plot %s: %v, want a non-empty file", plot, err)
	}
}

// TestSimulateSettings checks the flags reach the simulation: annotations
// with and without their prefix, --set, the service time and JSON output.
func TestSimulateSettings(t *testing.T) {
	trace := "second,rps\n0,400\n"
	out, err := simulate(t, trace, "--trace", "-", "-o", "json", "--service-time", "50ms",
		"--annotations", "target=4,autoscaling.knative.dev/target-utilization-percentage=50",
		"--set", "stable-window=20s", "--set", "panic-window-percentage=50", "--startup", "0s,2s")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Trace    string
		Settings struct {
			Target, TargetPerInstance float64
			StableWindowSeconds       float64
			PanicWindowSeconds        float64
		}
		StartupSeconds []float64
		Decisions      []struct{ Desired int }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	s := res.Settings
	if res.Trace != "<stdin>" || s.Target != 4 || s.TargetPerInstance != 2 || s.StableWindowSeconds != 20 ||
		s.PanicWindowSeconds != 10 || len(res.StartupSeconds) != 2 {
		t.Errorf("got %+v", res)
	}
	// 400 rps × 50ms = 20 in flight; 20 / (4 × 50%) = 10 instances.
	if len(res.Decisions) == 0 || res.Decisions[0].Desired != 10 {
		t.Errorf("decisions %+v, want the first to ask for 10", res.Decisions)
	}
}

func TestSimulateErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no trace", nil, "--trace: required"},
		{"bad output", []string{"-o", "yaml"}, `-o: must be table or json, got "yaml"`},
		{"start-up off the tick", []string{"--startup", "1250ms"}, "--startup 1.25s: must be 0 or more, in steps of 100ms"},
		{"concurrency too high", []string{"--container-concurrency", "5000"}, "--container-concurrency 5000: must be in [0, 1000]"},
		{"bad annotation value, as a manifest reports it", []string{"--annotations", "target=0"},
			"--annotations[autoscaling.knative.dev/target]: must be at least 0.01"},
		{"unknown annotation", []string{"--annotations", "trget=10"},
			"--annotations: autoscaling.knative.dev/trget: not an annotation the autoscaler reads"},
		{"annotation twice", []string{"--annotations", "target=10,autoscaling.knative.dev/target=20"},
			"autoscaling.knative.dev/target is given twice"},
		{"bad --set value", []string{"--set", "stable-window=2x"}, `--set stable-window=2x: stable-window = "2x": must be`},
		{"unknown --set key", []string{"--set", "stable-windw=30s"}, "--set stable-windw=30s: stable-windw: unknown autoscaler setting"},
		{"--set without =", []string{"--set", "stable-window"}, `--set "stable-window": want KEY=VALUE`},
		{"bounds together", []string{"--set", "min-scale=5", "--set", "max-scale=2"}, "--set: min-scale = 5: must be at most max-scale (2)"},
		{"bad plot name", []string{"--plot", "out.pdf"}, "plot out.pdf: the name must end in .svg or .png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.name != "no trace" {
				args = append([]string{"--trace", spikeTrace}, args...)
			}
			_, err := simulate(t, "", args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestSimulateBacklog is issue 23's spike as a user would simulate it:
// one warm instance, 5s starts, 300 requests/s of 100ms for 20s from
// clients that give up after 10s.
func TestSimulateBacklog(t *testing.T) {
	var trace strings.Builder
	trace.WriteString("second,rps\n")
	for s := range 20 {
		fmt.Fprintf(&trace, "%d,300\n", s)
	}
	out, err := simulate(t, trace.String(), "--trace", "-", "--container-concurrency", "10",
		"--warm", "1", "--startup", "5s", "--client-timeout", "10s", "--after", "60s")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"existing, at min-scale 0, 1 warm; containerConcurrency 10; start-up 5s",
		"queue carried over, first come first served; clients give up after 10s",
		"backlog of ",
		"peak instances             10\n",
		"requests served            6000\n",
		"requests lost              0 (client gave up after 10s)",
		"latency p50, p99           0.1s, 3.4s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, tc := range []struct{ args, want string }{
		{"--client-timeout 150ms", "--client-timeout 150ms: must be 0 (off) or more, in steps of 100ms"},
		{"--warm -1", "--warm -1: must be in [0, "},
		{"--warm 1 --new-revision", "and 0 with --new-revision"},
	} {
		_, err := simulate(t, trace.String(), append([]string{"--trace", "-"}, strings.Fields(tc.args)...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestSimulateTraceError(t *testing.T) {
	_, err := simulate(t, "second,concurrency\n0,lots\n", "--trace", "-")
	if want := `<stdin>:2: concurrency "lots": must be a number`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestReadmeSimulateExample runs the README's example and checks the
// output it quotes is what the command prints, so the two cannot drift.
func TestReadmeSimulateExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Simulating the autoscaler")
	_, block, ok2 := strings.Cut(section, "```sh\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no ```sh block under ## Simulating the autoscaler")
	}
	var command string
	var quoted []string
	for _, line := range strings.Split(block, "\n") {
		switch {
		case strings.HasPrefix(line, "# "):
			quoted = append(quoted, strings.TrimPrefix(line, "# "))
		case line != "":
			command += strings.TrimSuffix(line, "\\") + " "
		}
	}
	args := strings.Fields(command)
	if len(args) < 3 || args[0] != "wake" || args[1] != "autoscaler" || args[2] != "simulate" {
		t.Fatalf("README command %q is not wake autoscaler simulate", command)
	}
	args = args[3:]
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--trace":
			args[i+1] = filepath.Join("../..", args[i+1])
		case "--plot":
			args[i+1] = filepath.Join(t.TempDir(), args[i+1])
		}
	}
	out, err := simulate(t, "", args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range quoted {
		if strings.TrimSpace(q) == "..." {
			continue
		}
		q = strings.TrimSuffix(q, " ...")
		if !strings.Contains(out, q) {
			t.Errorf("README quotes %q, the command does not print it; it printed:\n%s", q, out)
		}
	}
}
