package main

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"

	"github.com/spf13/cobra"

	api "github.com/wakefn/wake/api/v1"
)

// noRate is the RATE argument that removes a trigger's limit.
const noRate = "none"

func newTriggerCommand(c *client) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trigger",
		Short: "Change a running trigger (see also get, describe and delete trigger)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return fmt.Errorf("unknown command %q: wake trigger rate NAME RATE|none", args[0])
		},
	}
	cmd.AddCommand(newTriggerRateCommand(c))
	return cmd
}

func newTriggerRateCommand(c *client) *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:   "rate NAME RATE|none",
		Short: "Cap a trigger's deliveries at RATE events per second, or remove the cap with none",
		Long: `Cap a trigger's deliveries at RATE events per second, or remove the cap with none.

RATE is a number above zero and may be fractional: 0.5 is one event every two
seconds. The running trigger takes the new limit without restarting, and it is
stored in the trigger's spec.rateLimit, so it outlives a restart of wake serve.
A later wake apply of the trigger's manifest puts back the manifest's
spec.rateLimit (or no limit, when the manifest sets none).

  wake trigger rate orders 50
  wake trigger rate nightly-report none`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rate, err := parseRate(args[1])
			if err != nil {
				return err
			}
			key := api.TriggerKey{Namespace: ns, Name: args[0]}
			t, err := c.setRateLimit(cmd.Context(), key, rate)
			if err != nil {
				return err
			}
			if r := t.RateLimitInForce(); r != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "trigger %s: rate limit %s events/s\n", key, formatRate(*r))
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "trigger %s: no rate limit\n", key)
			}
			return nil
		},
	}
	// "wake trigger rate orders -1" reaches the flag parser as an unknown
	// shorthand flag; say what is wrong with the rate instead.
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if m := negativeArg.FindStringSubmatch(err.Error()); m != nil {
			if _, perr := strconv.ParseFloat(m[1], 64); perr == nil {
				_, rerr := parseRate(m[1])
				return rerr
			}
		}
		return err
	})
	addNamespaceFlag(cmd, &ns)
	return cmd
}

// negativeArg finds the argument in pflag's "unknown shorthand flag: '1'
// in -1.5".
var negativeArg = regexp.MustCompile(`unknown shorthand flag: '.' in (-\S+)$`)

// parseRate reads the RATE argument: events per second above zero, or
// none for no limit (nil).
func parseRate(arg string) (*float64, error) {
	if arg == noRate {
		return nil, nil
	}
	r, err := strconv.ParseFloat(arg, 64)
	if errors.Is(err, strconv.ErrRange) {
		err = nil // 1e400 is +Inf, told apart below
	}
	switch {
	case err != nil || math.IsNaN(r):
		return nil, fmt.Errorf("RATE %q is not a number: give events per second (5, 0.5) or none to remove the limit", arg)
	case math.IsInf(r, 1):
		return nil, fmt.Errorf("RATE %q: must be a finite number of events per second (use none to remove the limit)", arg)
	case r <= 0:
		return nil, fmt.Errorf("RATE %q: must be more than 0 events per second (use none to remove the limit)", arg)
	}
	return &r, nil
}
