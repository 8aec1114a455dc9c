package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	api "github.com/wakefn/wake/api/v1"
)

func newApplyCommand(c *client) *cobra.Command {
	var (
		files   []string
		noWait  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update functions and triggers from manifests, and wait until each function's latest revision is ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			manifests, err := readManifests(files, cmd.InOrStdin())
			if err != nil {
				return err
			}
			if err := checkManifests(cmd.Context(), c, manifests, cmd.ErrOrStderr()); err != nil {
				return err
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			var applied []api.Function
			for _, m := range manifests {
				res, err := c.apply(cmd.Context(), m)
				if err != nil {
					var ae *apiError
					if errors.As(err, &ae) && len(ae.problem.Errors) > 0 {
						printProblems(errOut, m.Source, ae.problem.Errors)
						return &exitError{err}
					}
					return err
				}
				unchanged := make(map[string]bool, len(res.Unchanged))
				for _, k := range res.Unchanged {
					unchanged[k] = true
				}
				for _, fn := range res.Functions {
					if unchanged[fn.Key().String()] {
						fmt.Fprintf(out, "function %s/%s unchanged\n", fn.Namespace, fn.Name)
					} else {
						fmt.Fprintf(out, "function %s/%s applied (revision %s)\n", fn.Namespace, fn.Name, fn.Status.LatestCreatedRevisionName)
					}
				}
				for _, t := range res.Triggers {
					fmt.Fprintf(out, "trigger %s/%s applied (%s → %s)\n", t.Namespace, t.Name, t.SourceKind(), t.Spec.Sink)
				}
				// Only functions have revisions to wait for: a trigger runs
				// as soon as it is stored. An unchanged function whose
				// revision is ready has nothing to wait for either, as
				// kubectl waits for nothing it left unchanged: re-applying
				// 10,000 functions asks wake serve nothing more.
				for _, fn := range res.Functions {
					if !unchanged[fn.Key().String()] || !isReady(fn.Status.Conditions) {
						applied = append(applied, fn)
					}
				}
			}
			if noWait {
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			failed := false
			for _, fn := range applied {
				if err := waitReady(ctx, c, fn, out); err != nil {
					fmt.Fprintln(errOut, err)
					failed = true
				}
			}
			if failed {
				return &exitError{errors.New("a revision did not become ready")}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "manifest file, directory of manifests, or - for stdin")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once applied, without waiting for revisions to be ready")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for revisions to be ready")
	return cmd
}

// waitReady polls a function until its latest created revision is ready
// or failed, keeping one progress line up to date.
func waitReady(ctx context.Context, c *client, fn api.Function, out io.Writer) error {
	rev := api.RevisionKey{Namespace: fn.Namespace, Name: fn.Status.LatestCreatedRevisionName}
	tty := isTerminal(out)
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	imageShown := false
	progress := "" // the last progress printed
	for {
		r, err := c.revision(ctx, rev)
		if err != nil && ctx.Err() != nil {
			clearLine(out, tty)
			return fmt.Errorf("%s: revision %s was not ready after %.0fs", fn.Name, rev.Name, time.Since(start).Seconds())
		}
		if err != nil {
			return err
		}
		pulled := api.GetCondition(r.Status.Conditions, "ImagePulled")
		if pulled != nil && pulled.Status == api.ConditionTrue && !imageShown {
			clearLine(out, tty)
			fmt.Fprintf(out, "%s: image %s\n", fn.Name, pulled.Message)
			imageShown = true
		}
		cond := api.GetCondition(r.Status.Conditions, api.ConditionReady)
		switch {
		case cond != nil && cond.Status == api.ConditionTrue:
			f, err := c.function(ctx, fn.Key())
			if err != nil {
				return err
			}
			clearLine(out, tty)
			printReady(out, f, rev.Name)
			if ro := f.Status.Rollout; ro != nil && ro.Canary == rev.Name && ro.Phase == api.RolloutProgressing {
				fmt.Fprintf(out, "%s: rolling out from %s: %s (wake rollout status %s)\n", fn.Name, ro.Stable, ro.Message, fn.Name)
			}
			return nil
		case cond != nil && cond.Status == api.ConditionFalse:
			clearLine(out, tty)
			return fmt.Errorf("%s: revision %s failed: %s: %s\n  (its whole output: wake logs %s --revision %s)",
				fn.Name, rev.Name, cond.Reason, cond.Message, fn.Name, rev.Name)
		case cond != nil && cond.Message != "" && cond.Message != progress:
			// A start taking its time: say what it waits for, once per change.
			progress = cond.Message
			clearLine(out, tty)
			fmt.Fprintf(out, "%s: revision %s not ready after %.0fs: %s\n", fn.Name, rev.Name, time.Since(start).Seconds(), progress)
		}
		if tty {
			if c := r.Spec.Container(); c != nil && c.Image != "" && len(c.Command) == 0 && pulled == nil {
				fmt.Fprintf(out, "\r%s: pulling %s (%.1fs)", fn.Name, c.Image, time.Since(start).Seconds())
			} else {
				fmt.Fprintf(out, "\r%s: waiting for revision %s to become ready (%.1fs)", fn.Name, rev.Name, time.Since(start).Seconds())
			}
		}
		select {
		case <-ctx.Done():
			clearLine(out, tty)
			return fmt.Errorf("%s: revision %s was not ready after %.0fs", fn.Name, rev.Name, time.Since(start).Seconds())
		case <-tick.C:
		}
	}
}

// printReady says where a function's revision that became ready is
// reached: at the function's URL (with its share, when not all of it), and
// at each tag's URL, named as the router names tag hosts.
func printReady(out io.Writer, fn *api.Function, rev string) {
	var share int64
	for _, t := range fn.Status.Traffic {
		if t.RevisionName == rev {
			share += t.PercentOrZero()
		}
	}
	line := fmt.Sprintf("%s: revision %s is ready at %s", fn.Name, rev, fn.Status.URL)
	if len(fn.Status.Traffic) > 0 && share < 100 {
		line += fmt.Sprintf(" (%d%% of its requests)", share)
	}
	fmt.Fprintln(out, line)
	for _, t := range fn.Status.Traffic {
		if t.Tag != "" {
			fmt.Fprintf(out, "%s: tag %s: %s (revision %s)\n", fn.Name, t.Tag, t.URL, t.RevisionName)
		}
	}
}

// isReady says whether conditions hold Ready=True.
func isReady(conds []api.Condition) bool {
	c := api.GetCondition(conds, api.ConditionReady)
	return c != nil && c.Status == api.ConditionTrue
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func clearLine(w io.Writer, tty bool) {
	if tty {
		fmt.Fprint(w, "\r\033[K")
	}
}
