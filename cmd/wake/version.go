package main

import (
	"errors"
	"fmt"
	goruntime "runtime"

	"github.com/spf13/cobra"
)

// versionInfo is one side's version, as kubectl version prints it.
type versionInfo struct {
	GitVersion string `json:"gitVersion"`
	GoVersion  string `json:"goVersion,omitempty"`
	Platform   string `json:"platform,omitempty"`
}

// versions is what wake version -o json|yaml prints.
type versions struct {
	ClientVersion versionInfo  `json:"clientVersion"`
	ServerVersion *versionInfo `json:"serverVersion,omitempty"`
}

func newVersionCommand(c *client) *cobra.Command {
	var clientOnly bool
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of this wake, and of the wake serve at --server",
		Long: `Print the version of this wake, and of the wake serve at --server (as
kubectl version does, it fails when that server cannot be asked; --client
asks none).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return fmt.Errorf("-o: must be json or yaml, got %q", output)
			}
			v := versions{ClientVersion: versionInfo{
				GitVersion: version, GoVersion: goruntime.Version(), Platform: goruntime.GOOS + "/" + goruntime.GOARCH,
			}}
			var serverErr error
			if !clientOnly {
				info, err := c.info(cmd.Context())
				if err != nil {
					serverErr = err
				} else {
					// The admin API's /info carries wake serve's version.
					v.ServerVersion = &versionInfo{GitVersion: info.Version}
					if v.ServerVersion.GitVersion == "" {
						v.ServerVersion.GitVersion = "unknown (the server does not say)"
					}
				}
			}
			out := cmd.OutOrStdout()
			if output != "" {
				if err := printObject(out, output, v); err != nil {
					return errors.Join(err, serverErr)
				}
				return serverErr
			}
			fmt.Fprintf(out, "Client Version: %s\n", v.ClientVersion.GitVersion)
			if s := v.ServerVersion; s != nil {
				fmt.Fprintf(out, "Server Version: %s\n", s.GitVersion)
			}
			return serverErr
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print this wake's version only; ask no server")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml (with this wake's Go version and platform)")
	return cmd
}
