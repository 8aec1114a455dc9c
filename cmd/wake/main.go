// Command wake is wake's single binary: `wake serve` runs the platform on
// this machine, the other commands (apply, get, describe, traffic, trigger,
// invoke, logs, delete, version) talk to it through its admin API, and
// `wake autoscaler simulate` replays a trace through the autoscaler offline.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		var exit *exitError
		if !errors.As(err, &exit) {
			fmt.Fprintln(os.Stderr, "wake:", err)
		}
		os.Exit(1)
	}
}

// exitError ends the command with status 1 after it already explained
// itself on stderr.
type exitError struct{ err error }

func (e *exitError) Error() string { return e.err.Error() }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "wake",
		Short:         "wake runs functions: deployed from manifests, woken by requests, scaled to zero when idle",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	// The commands that talk to wake serve carry its address and token
	// flags; wake serve and the Kubernetes roles do not list them.
	c := &client{}
	clientCommands := []*cobra.Command{
		newApplyCommand(c),
		newGetCommand(c),
		newDescribeCommand(c),
		newTrafficCommand(c),
		newRolloutCommand(c),
		newTriggerCommand(c),
		newInvokeCommand(c),
		newLogsCommand(c),
		newDeleteCommand(c),
		newVersionCommand(c),
	}
	for _, cmd := range clientCommands {
		c.addFlags(cmd)
	}
	root.AddCommand(clientCommands...)
	root.AddCommand(
		newServeCommand(),
		newControllerCommand(),
		newGatewayCommand(),
		newAutoscalerCommand(),
	)
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
