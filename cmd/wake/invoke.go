package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	api "github.com/wakefn/wake/api/v1"
)

func newInvokeCommand(c *client) *cobra.Command {
	var (
		ns, tag, method, data, path string
		headers                     []string
		include                     bool
	)
	cmd := &cobra.Command{
		Use:   "invoke NAME [-X METHOD] [-d DATA|@FILE] [-H 'K: V'] [--tag TAG] [--path /p]",
		Short: "Send a request to a function through wake's router, as a client would",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fn, err := c.function(ctx, api.FunctionKey{Namespace: ns, Name: args[0]})
			if err != nil {
				return err
			}
			info, err := c.info(ctx)
			if err != nil {
				return err
			}
			target := fn.Status.URL
			if tag != "" {
				target = ""
				for _, t := range fn.Status.Traffic {
					if t.Tag == tag {
						target = t.URL
					}
				}
				if target == "" {
					return fmt.Errorf("function %s has no tag %q", fn.Name, tag)
				}
			}
			u, err := url.Parse(target)
			if err != nil {
				return err
			}
			var body io.Reader
			if data != "" {
				if method == "" {
					method = http.MethodPost
				}
				if name, ok := strings.CutPrefix(data, "@"); ok {
					f, err := os.Open(name)
					if err != nil {
						return fmt.Errorf("-d: %w", err)
					}
					defer f.Close()
					body = f
				} else {
					body = strings.NewReader(data)
				}
			}
			if method == "" {
				method = http.MethodGet
			}
			// Send to the router's own address with the function's Host:
			// NAME.NAMESPACE.localhost need not resolve on this machine.
			req, err := http.NewRequestWithContext(ctx, method, "http://"+info.HTTPAddr+path, body)
			if err != nil {
				return err
			}
			req.Host = u.Host
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return fmt.Errorf("-H %q: want 'Name: value'", h)
				}
				req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			out := cmd.OutOrStdout()
			if include {
				fmt.Fprintf(out, "%s %s\n", res.Proto, res.Status)
				res.Header.Write(out)
				fmt.Fprintln(out)
			}
			if _, err := io.Copy(out, res.Body); err != nil {
				return err
			}
			if res.StatusCode >= 400 {
				return &exitError{fmt.Errorf("%s", res.Status)}
			}
			return nil
		},
	}
	addNamespaceFlag(cmd, &ns)
	f := cmd.Flags()
	f.StringVar(&tag, "tag", "", "reach the revision with this tag")
	f.StringVarP(&method, "request", "X", "", "HTTP method (GET, or POST with -d)")
	f.StringVarP(&data, "data", "d", "", "request body, or @FILE")
	f.StringArrayVarP(&headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	f.StringVar(&path, "path", "/", "request path and query")
	f.BoolVarP(&include, "include", "i", false, "print the response status and headers")
	return cmd
}
