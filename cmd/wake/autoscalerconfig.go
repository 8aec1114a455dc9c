package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/wakefn/wake/autoscaler"
)

// autoscalerFlags are the server-wide autoscaler defaults: a config file
// (flat keys, or Knative's config-autoscaler ConfigMap as it is) and one
// flag per key, which wins over the file.
type autoscalerFlags struct {
	file   string
	values map[string]*string
	cmd    *cobra.Command
}

// configHelp describes each key of autoscaler.ConfigKeys for --help.
var configHelp = map[string]string{
	"enable-scale-to-zero":                    "whether idle revisions may go to zero instances (true|false)",
	"metric":                                  "what revisions scale on unless they say: concurrency or rps",
	"container-concurrency-target-default":    "concurrent requests per instance aimed at, when a revision sets neither target nor containerConcurrency",
	"container-concurrency-target-percentage": "share of the concurrency target aimed at, in percent (1-100)",
	"requests-per-second-target-default":      "requests per second per instance aimed at, with the rps metric",
	"stable-window":                           "window the stable average is taken over (1s-1h)",
	"panic-window-percentage":                 "panic window, as a percentage of the stable window (1-100)",
	"panic-threshold-percentage":              "panic when the panic window wants this percentage of the ready instances (110-1000)",
	"max-scale-up-rate":                       "at most this many times the ready instances per decision (>1)",
	"max-scale-down-rate":                     "at least the ready instances divided by this per decision (>1)",
	"scale-down-delay":                        "keep the highest count wanted over this long before scaling down (0-1h)",
	"scale-to-zero-grace-period":              "accepted as Knative's; never delays zero, since wake's activator is always in the path (as Knative with target-burst-capacity -1)",
	"scale-to-zero-pod-retention-period":      "how long an idle revision keeps one instance once its stable window's average is 0",
	"initial-scale":                           "instances a new revision starts with (0 allowed)",
	"min-scale":                               "fewest instances of a revision",
	"max-scale":                               "most instances of a revision (0: up to the limit of 1000)",
	"activation-scale":                        "fewest instances a revision wakes to from zero",
}

func addAutoscalerFlags(cmd *cobra.Command) *autoscalerFlags {
	a := &autoscalerFlags{values: map[string]*string{}, cmd: cmd}
	f := cmd.Flags()
	f.StringVar(&a.file, "autoscaler-config", "",
		"YAML file of autoscaler defaults: keys as in Knative's config-autoscaler, flat or as that ConfigMap (its data)")
	def := autoscaler.DefaultConfig()
	for _, k := range autoscaler.ConfigKeys {
		a.values[k] = f.String(k, defaultString(def, k), configHelp[k])
	}
	return a
}

// defaultString shows a default the way a user would write it.
func defaultString(c autoscaler.Config, key string) string {
	switch key {
	case "enable-scale-to-zero":
		return fmt.Sprint(c.EnableScaleToZero)
	case "metric":
		return c.Metric
	case "container-concurrency-target-default":
		return fmt.Sprint(c.ContainerConcurrencyTargetDefault)
	case "container-concurrency-target-percentage":
		return fmt.Sprint(c.ContainerConcurrencyTargetFraction * 100)
	case "requests-per-second-target-default":
		return fmt.Sprint(c.RPSTargetDefault)
	case "stable-window":
		return c.StableWindow.String()
	case "panic-window-percentage":
		return fmt.Sprint(c.PanicWindowPercentage)
	case "panic-threshold-percentage":
		return fmt.Sprint(c.PanicThresholdPercentage)
	case "max-scale-up-rate":
		return fmt.Sprint(c.MaxScaleUpRate)
	case "max-scale-down-rate":
		return fmt.Sprint(c.MaxScaleDownRate)
	case "scale-down-delay":
		return c.ScaleDownDelay.String()
	case "scale-to-zero-grace-period":
		return c.ScaleToZeroGracePeriod.String()
	case "scale-to-zero-pod-retention-period":
		return c.ScaleToZeroPodRetentionPeriod.String()
	case "initial-scale":
		return fmt.Sprint(c.InitialScale)
	case "min-scale":
		return fmt.Sprint(c.MinScale)
	case "max-scale":
		return fmt.Sprint(c.MaxScale)
	case "activation-scale":
		return fmt.Sprint(c.ActivationScale)
	}
	return ""
}

// config reads the file, then the flags set on the command line, and
// returns the config with every problem named by where it came from.
func (a *autoscalerFlags) config() (autoscaler.Config, error) {
	data := map[string]string{}
	source := map[string]string{}
	if a.file != "" {
		fileData, err := readAutoscalerConfig(a.file)
		if err != nil {
			return autoscaler.Config{}, err
		}
		for k, v := range fileData {
			data[k], source[k] = v, a.file
		}
	}
	for k, v := range a.values {
		if a.cmd.Flags().Changed(k) {
			data[k], source[k] = *v, "--"+k
		}
	}
	c, err := autoscaler.ParseConfig(data)
	if err == nil {
		return c, nil
	}
	var problems []string
	for _, e := range unjoin(err) {
		if ke, ok := e.(*autoscaler.KeyError); ok {
			problems = append(problems, fmt.Sprintf("%s: %v", source[ke.Key], ke))
		} else {
			problems = append(problems, e.Error())
		}
	}
	return c, fmt.Errorf("autoscaler configuration:\n  %s", strings.Join(problems, "\n  "))
}

// unjoin lists the errors errors.Join put together, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// readAutoscalerConfig reads a YAML map of keys to values, or a ConfigMap
// (its data). Values may be strings, numbers or booleans.
func readAutoscalerConfig(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--autoscaler-config: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if kind, _ := doc["kind"].(string); kind == "ConfigMap" {
		data, ok := doc["data"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: a ConfigMap needs a data map", path)
		}
		doc = data
	}
	out := make(map[string]string, len(doc))
	for k, v := range doc {
		switch v := v.(type) {
		case string, int, float64, bool:
			out[k] = fmt.Sprint(v)
		default:
			if !strings.HasPrefix(k, "_") {
				return nil, fmt.Errorf("%s: %s: must be a single value, got %T", path, k, v)
			}
		}
	}
	return out, nil
}
