package console

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// maxLogTail bounds how many lines per instance a page may ask for.
const maxLogTail = 2000

// logs streams a function's instance output as text, as `wake logs -f`
// does (controlplane.StreamLogs, the admin API's): ?function=NAMESPACE/NAME,
// of each ?revision= given, by default of every revision that takes
// requests (a share of the traffic or a tag; before any, the one serving
// next), looked for again every second, so that a revision the split moves
// to joins the stream. First the last ?tail= lines (default 200) of them
// all, merged by time, then what they print next, until the page stops
// reading. Every line begins with its instance ("[hello-00002-x7k2p] ";
// an instance's name begins with its revision's, in both runtimes).
func (c *Console) logs(w http.ResponseWriter, r *http.Request) {
	if c.opts.Logs == nil {
		writeError(w, http.StatusNotImplemented, "this runtime keeps no logs", nil)
		return
	}
	q := r.URL.Query()
	ns, name, ok := strings.Cut(q.Get("function"), "/")
	if !ok || ns == "" || name == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("function: want NAMESPACE/NAME, got %q", q.Get("function")), nil)
		return
	}
	key := api.FunctionKey{Namespace: ns, Name: name}
	opts := controlplane.LogStreamOptions{Reader: c.opts.Logs, Tail: 200, Follow: q.Get("follow") != "false", Clock: c.clock}
	if t := q.Get("tail"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > maxLogTail {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("tail: must be a number of lines from 0 to %d, got %q", maxLogTail, t), nil)
			return
		}
		opts.Tail = n
	}
	if _, err := c.opts.Platform.Function(key); err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("there is no function %s", key), nil)
		return
	}
	opts.Revisions = func() ([]api.RevisionKey, error) { return c.opts.Platform.LogRevisions(key, true) }
	if names := q["revision"]; len(names) > 0 {
		var picked []api.RevisionKey
		for _, rev := range names {
			r2, err := c.opts.Platform.Revision(api.RevisionKey{Namespace: ns, Name: rev}, false)
			if rev == "" || err != nil || r2.FunctionName() != name {
				writeError(w, http.StatusNotFound, fmt.Sprintf("function %s has no revision %q", key, rev), nil)
				return
			}
			if !slices.Contains(picked, r2.Key()) {
				picked = append(picked, r2.Key())
			}
		}
		opts.Revisions = func() ([]api.RevisionKey, error) { return picked, nil }
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	out := controlplane.FlushWriter(w)
	if err := controlplane.StreamLogs(ctx, opts, out); err != nil && ctx.Err() == nil {
		fmt.Fprintf(out, "wake: reading logs of %s: %v\n", key, err)
	}
}
