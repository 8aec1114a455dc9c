package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	api "github.com/wakefn/wake/api/v1"
)

type deleteOptions struct {
	namespace      string
	files          []string
	ignoreNotFound bool
}

func newDeleteCommand(c *client) *cobra.Command {
	o := &deleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete function|trigger NAME... | delete TYPE/NAME... | delete -f FILE|DIR|-",
		Short: "Delete functions (with all their revisions) or triggers: by name, or those manifests name",
		Example: `  wake delete function hello
  wake delete function/hello trigger/orders
  wake delete -f hello.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var targets []deleteTarget
			var err error
			switch {
			case len(o.files) > 0 && len(args) > 0:
				return errors.New("name objects or give -f, not both")
			case len(o.files) > 0:
				targets, err = manifestTargets(o, cmd.Flags().Changed("namespace"), cmd.InOrStdin())
			case len(args) == 0:
				return errors.New("wake delete needs what to delete: function|trigger NAME, TYPE/NAME or -f FILE")
			default:
				targets, err = namedTargets(o.namespace, args)
			}
			if err != nil {
				return err
			}
			return deleteAll(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), c, targets, o.ignoreNotFound)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil, "delete the functions and triggers these manifests name (file, directory or - for stdin)")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "say nothing of objects that are already gone, and succeed")
	return cmd
}

// deleteTarget is one object to delete.
type deleteTarget struct {
	typ       *resourceType // functionType or triggerType
	namespace string
	name      string
}

// namedTargets reads TYPE NAME... or TYPE/NAME....
func namedTargets(namespace string, args []string) ([]deleteTarget, error) {
	if len(args) == 1 && !strings.Contains(args[0], "/") {
		return nil, fmt.Errorf("wake delete %s needs a name: wake delete %s NAME", args[0], args[0])
	}
	reqs, err := parseGetArgs(args)
	if err != nil {
		return nil, err
	}
	var targets []deleteTarget
	for _, r := range reqs {
		if r.typ == revisionType {
			return nil, errors.New("a revision goes with its function: wake delete function NAME deletes it and all its revisions")
		}
		for _, name := range r.names {
			targets = append(targets, deleteTarget{typ: r.typ, namespace: namespace, name: name})
		}
	}
	return targets, nil
}

// manifestTargets reads the functions and triggers that -f's manifests
// name, in their order. An object's own namespace wins over -n's default;
// a namespace given with -n that differs is refused, as kubectl does.
func manifestTargets(o *deleteOptions, namespaceSet bool, stdin io.Reader) ([]deleteTarget, error) {
	files, err := readManifests(o.files, stdin)
	if err != nil {
		return nil, err
	}
	var targets []deleteTarget
	for _, f := range files {
		docs, err := api.Decode(f.Source, f.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: nothing deleted: %w", f.Source, err)
		}
		for _, d := range docs {
			var t deleteTarget
			if d.Function != nil {
				t = deleteTarget{typ: functionType, namespace: d.Function.Namespace, name: d.Function.Name}
			} else {
				t = deleteTarget{typ: triggerType, namespace: d.Trigger.Namespace, name: d.Trigger.Name}
			}
			switch {
			case t.name == "":
				return nil, fmt.Errorf("%s:%d: a %s without metadata.name: nothing deleted", f.Source, d.Line, t.typ.what)
			case t.namespace == "":
				t.namespace = o.namespace
			case namespaceSet && t.namespace != o.namespace:
				return nil, fmt.Errorf("%s:%d: %s %s is in namespace %s, not %s (-n): nothing deleted",
					f.Source, d.Line, t.typ.what, t.name, t.namespace, o.namespace)
			}
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return nil, errors.New("the manifests name no function or trigger: nothing deleted")
	}
	return targets, nil
}

// deleteAll deletes each target, saying so as kubectl does
// (function.wake.dev "hello" deleted). It goes on past a failure, which it
// reports on errOut, and fails at the end if any did.
func deleteAll(ctx context.Context, out, errOut io.Writer, c *client, targets []deleteTarget, ignoreNotFound bool) error {
	failed := 0
	for _, t := range targets {
		var err error
		if t.typ == functionType {
			err = c.deleteFunction(ctx, api.FunctionKey{Namespace: t.namespace, Name: t.name})
		} else {
			err = c.deleteTrigger(ctx, api.TriggerKey{Namespace: t.namespace, Name: t.name})
		}
		var apiErr *apiError
		switch {
		case err == nil:
			fmt.Fprintf(out, "%s %q deleted\n", qualifiedKind(t.typ.kind), t.name)
		case ignoreNotFound && errors.As(err, &apiErr) && apiErr.status == http.StatusNotFound:
		case len(targets) == 1:
			return err
		default:
			failed++
			fmt.Fprintln(errOut, "wake:", err)
		}
	}
	if failed > 0 {
		return &exitError{fmt.Errorf("%d of %d deletions failed", failed, len(targets))}
	}
	return nil
}
