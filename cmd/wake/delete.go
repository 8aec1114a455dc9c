package main

import (
	"fmt"

	"github.com/spf13/cobra"

	api "github.com/wakefn/wake/api/v1"
)

func newDeleteCommand(c *client) *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:   "delete function|trigger NAME",
		Short: "Delete a function and all its revisions, or a trigger",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "function", "functions", "fn", "ksvc":
				key := api.FunctionKey{Namespace: ns, Name: args[1]}
				if err := c.deleteFunction(cmd.Context(), key); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "function %s deleted\n", key)
			case "trigger", "triggers", "tr":
				key := api.TriggerKey{Namespace: ns, Name: args[1]}
				if err := c.deleteTrigger(cmd.Context(), key); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "trigger %s deleted\n", key)
			default:
				return fmt.Errorf("unknown resource %q: wake delete function|trigger NAME", args[0])
			}
			return nil
		},
	}
	addNamespaceFlag(cmd, &ns)
	return cmd
}
