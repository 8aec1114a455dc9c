package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// serveFlags parses args into a fresh serve command's autoscaler flags.
func serveFlags(t *testing.T, args ...string) *autoscalerFlags {
	t.Helper()
	cmd := &cobra.Command{Use: "serve"}
	a := addAutoscalerFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return a
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Knative's config-autoscaler ConfigMap loads as it is, and a flag wins
// over the file.
func TestAutoscalerConfigFromKnativeConfigMap(t *testing.T) {
	cm := writeFile(t, "config-autoscaler.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: config-autoscaler
  namespace: knative-serving
data:
  _example: |
    # the defaults, documented
    stable-window: "60s"
  stable-window: "30s"
  panic-window-percentage: "20.0"
  max-scale-up-rate: "10"
  target-burst-capacity: "200"
  enable-scale-to-zero: "true"
`)
	c, err := serveFlags(t, "--autoscaler-config", cm, "--max-scale-up-rate", "4").config()
	if err != nil {
		t.Fatal(err)
	}
	if c.StableWindow != 30*time.Second || c.PanicWindowPercentage != 20 || c.MaxScaleUpRate != 4 || !c.EnableScaleToZero {
		t.Errorf("config %+v: want stable-window 30s and panic 20%% from the file, max-scale-up-rate 4 from the flag", c)
	}
}

func TestAutoscalerConfigErrorsNameTheirSource(t *testing.T) {
	flat := writeFile(t, "as.yaml", "stable-window: 2h\nscale-down-delay: 10s\n")
	_, err := serveFlags(t, "--autoscaler-config", flat, "--panic-threshold-percentage", "90").config()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		flat + `: stable-window = "2h": must be a duration such as 30s, in [1s; 1h0m0s]`,
		`--panic-threshold-percentage: panic-threshold-percentage = "90": must be a number in [110, 1000]`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if _, err := serveFlags(t, "--autoscaler-config", filepath.Join(t.TempDir(), "missing.yaml")).config(); err == nil {
		t.Error("a missing file is not an error")
	}
	nested := writeFile(t, "bad.yaml", "stable-window:\n  seconds: 30\n")
	if _, err := serveFlags(t, "--autoscaler-config", nested).config(); err == nil || !strings.Contains(err.Error(), "stable-window: must be a single value") {
		t.Errorf("a nested value: %v", err)
	}
}

func TestAutoscalerConfigDefaults(t *testing.T) {
	c, err := serveFlags(t).config()
	if err != nil {
		t.Fatal(err)
	}
	if c.StableWindow != time.Minute || c.ScaleToZeroGracePeriod != 30*time.Second || c.InitialScale != 1 {
		t.Errorf("defaults %+v, want Knative's", c)
	}
}
