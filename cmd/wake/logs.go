package main

import (
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
)

func newLogsCommand(c *client) *cobra.Command {
	var (
		ns, revision string
		follow       bool
		tail         int
	)
	cmd := &cobra.Command{
		Use:   "logs NAME [--revision REV] [-f] [--tail N]",
		Short: "Print what a function's instances wrote to stdout and stderr",
		Long: `Print what a function's instances wrote to stdout and stderr, each line
prefixed with its instance (REVISION-xxxxx), the lines of all instances and
revisions in the order they were written.

Without --revision it shows every revision's output; with -f, that of the
revisions that take requests (a share of the traffic, or a tag), then what
they print next, joined by any revision that gains traffic meanwhile
(wake traffic). --tail N keeps the last N lines of them all.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if revision != "" {
				q.Set("revision", revision)
			}
			if follow {
				q.Set("follow", "true")
			}
			if tail > 0 {
				q.Set("tail", strconv.Itoa(tail))
			}
			res, err := c.send(cmd.Context(), http.MethodGet, "/namespaces/"+ns+"/functions/"+args[0]+"/logs", q, nil)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), res.Body)
			if cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().StringVar(&revision, "revision", "", "only this revision")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output")
	cmd.Flags().IntVar(&tail, "tail", 0, "only the last N lines, of all instances together")
	return cmd
}
