// Command bench is wake's benchmark harness, run by `make bench`. It builds
// wake and the test function (internal/testfn) without the race detector,
// starts them as child processes on free loopback ports with temporary
// state directories, and runs a set of scenarios, each bounded in time:
//
//	warm      constant rates and a closed-loop maximum against the function
//	          directly, through nginx and through wake (interleaved rounds)
//	cold      time to first byte from zero, less the function's own start
//	cold-image  time to first byte from zero of the same function as a process
//	          and as an image (a container under runc), with create and start
//	burst     1,000 concurrent requests to a function at zero
//	parallel  1, 10 and 100 functions at zero woken at once
//	ramp      constant-rate steps from zero
//	density   1,000 and 10,000 idle functions: RSS, apply time, 404 cost
//	events    Kafka records drained into a no-op function by a trigger,
//	          against a bare franz-go consumer (interleaved rounds)
//
// Each scenario prints a table; all results go to bench/results/latest.json
// with the machine they ran on, and plots to bench/results/*.svg.
//
//	go run ./bench                        # every scenario, about 6 minutes
//	go run ./bench -quick                 # a short CI-friendly run, under 2 minutes
//	go run ./bench -scenarios warm,cold   # a selection
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// allScenarios is the order scenarios run in; names are the -scenarios flag's.
var allScenarios = []string{"warm", "cold", "cold-image", "burst", "parallel", "ramp", "density", "events"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	scenarios []string
	quick     bool
	scale     float64 // multiplies every phase's duration; quick sets 0.4
	rounds    int     // warm path and events rounds; the median is reported
	events    int     // records per events round
	outDir    string
	workDir   string // binaries and state directories
}

// dur scales a phase's nominal duration.
func (c *config) dur(d time.Duration) time.Duration {
	return time.Duration(float64(d) * c.scale)
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c config
	sel := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run: "+strings.Join(allScenarios, ", "))
	fs.BoolVar(&c.quick, "quick", false, "a short run: fewer rounds, samples and functions, shorter phases (under 3 minutes)")
	fs.Float64Var(&c.scale, "scale", 0, "multiply every load phase's duration (0: 1, or 0.4 with -quick)")
	fs.IntVar(&c.rounds, "rounds", 0, "warm path rounds, the median reported (0: 3, or 1 with -quick)")
	fs.IntVar(&c.events, "events", 0, "records each events round drains (0: 50000, or 20000 with -quick)")
	fs.StringVar(&c.outDir, "out", "bench/results", "where latest.json and the plots go")
	replot := fs.Bool("replot", false, "run nothing: redraw the plots in -out from its latest.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *replot {
		return replotDir(c.outDir)
	}
	for _, s := range strings.Split(*sel, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("-scenarios: unknown scenario %q (have %s)", s, strings.Join(allScenarios, ", "))
		}
		c.scenarios = append(c.scenarios, s)
	}
	if c.scale == 0 {
		c.scale = 1
		if c.quick {
			c.scale = 0.4
		}
	}
	if c.rounds == 0 {
		c.rounds = 3
		if c.quick {
			c.rounds = 1
		}
	}
	if c.events == 0 {
		c.events = 50_000
		if c.quick {
			c.events = 20_000
		}
	}
	work, err := os.MkdirTemp("", "wake-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	c.workDir = work

	bins, err := build(ctx, work)
	if err != nil {
		return err
	}
	rep := newReport(ctx, c)
	start := time.Now()
	for _, s := range c.scenarios {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Printf("\n== %s ==\n", s)
		t0 := time.Now()
		if err := runScenario(ctx, &c, bins, rep, s); err != nil {
			// One scenario failing does not lose the others' results.
			fmt.Fprintf(os.Stderr, "bench: scenario %s: %v\n", s, err)
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", s, err))
		}
		fmt.Printf("(%s took %s)\n", s, time.Since(t0).Round(time.Second))
	}
	rep.Seconds = time.Since(start).Seconds()
	if err := rep.write(c.outDir); err != nil {
		return err
	}
	fmt.Printf("\nresults in %s/latest.json (%s in all)\n", c.outDir, time.Since(start).Round(time.Second))
	if len(rep.Errors) > 0 {
		return fmt.Errorf("%d scenario(s) failed: %s", len(rep.Errors), strings.Join(rep.Errors, "; "))
	}
	return nil
}

func runScenario(ctx context.Context, c *config, bins binaries, rep *report, name string) error {
	switch name {
	case "warm":
		r, err := runWarm(ctx, c, bins)
		rep.Warm = r
		return err
	case "cold":
		r, err := runCold(ctx, c, bins)
		rep.Cold = r
		return err
	case "cold-image":
		r, err := runColdImage(ctx, c, bins)
		rep.ColdImage = r
		return err
	case "burst":
		r, err := runBurst(ctx, c, bins)
		rep.Burst = r
		return err
	case "parallel":
		r, err := runParallel(ctx, c, bins)
		rep.Parallel = r
		return err
	case "ramp":
		r, err := runRamp(ctx, c, bins)
		rep.Ramp = r
		return err
	case "density":
		r, err := runDensity(ctx, c, bins)
		rep.Density = r
		return err
	case "events":
		r, err := runEvents(ctx, c, bins)
		rep.Events = r
		return err
	}
	return fmt.Errorf("unknown scenario %q", name)
}
