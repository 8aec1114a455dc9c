package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

const defaultServer = "http://127.0.0.1:8081"

// client talks to the admin API of wake serve.
type client struct {
	server string
	auth   clientAuth
	http   http.Client
}

// addFlags gives cmd, and the commands under it, the flags of a command
// that talks to wake serve: --server, and --token and --state-dir, where
// the admin token comes from. Only such commands have them: wake serve
// and the Kubernetes roles have no use for them, and their help does not
// list them.
func (c *client) addFlags(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&c.server, "server", envOr("WAKE_SERVER", defaultServer),
		"admin API of wake serve (env WAKE_SERVER)")
	c.auth.addFlags(cmd)
}

// apiError is a failed admin API call, with the server's explanation.
type apiError struct {
	status  int
	problem controlplane.Problem
}

func (e *apiError) Error() string {
	if len(e.problem.Errors) == 0 {
		return e.problem.Message
	}
	var b strings.Builder
	b.WriteString(e.problem.Message)
	for _, p := range e.problem.Errors {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

func (c *client) url(path string, q url.Values) string {
	server := c.server
	if !strings.Contains(server, "://") {
		server = "http://" + server // --server 127.0.0.1:8081
	}
	u := strings.TrimSuffix(server, "/") + "/apis/wake.dev/v1" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// callTimeout bounds one admin API call (streams excepted): wake serve
// answers in milliseconds, and a stuck call should say so, not hang.
const callTimeout = time.Minute

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, out any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	res, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the answer of %s %s: %w", method, path, err)
	}
	return nil
}

// send returns the response of a successful call; the caller closes it.
func (c *client) send(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), body)
	if err != nil {
		return nil, err
	}
	if t, ok := body.(typedBody); ok {
		req.Header.Set("Content-Type", t.contentType)
	}
	// Only admin API calls carry the token: invoke's requests to the data
	// plane do not, or functions would see it.
	token, source, err := c.auth.get(c.server)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.http.Do(req)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%s %s: no answer from wake serve at %s: %w", method, path, c.server, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("cannot reach wake serve at %s (is it running? --server or WAKE_SERVER selects another): %w", c.server, err)
	}
	if res.StatusCode == http.StatusUnauthorized {
		res.Body.Close()
		return nil, unauthorizedError(c.server, source)
	}
	if res.StatusCode >= 300 {
		defer res.Body.Close()
		e := &apiError{status: res.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if json.Unmarshal(b, &e.problem) != nil || e.problem.Message == "" {
			e.problem.Message = fmt.Sprintf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(b))
		}
		return nil, e
	}
	return res, nil
}

// typedBody is a request body with its Content-Type.
type typedBody struct {
	io.Reader
	contentType string
}

// apply sends one manifest file; the answer is every function and
// trigger it stored, with status.
func (c *client) apply(ctx context.Context, m manifestFile) (*controlplane.ApplyResult, error) {
	out := &controlplane.ApplyResult{}
	q := url.Values{"source": {m.Source}, "dir": {m.Dir}}
	return out, c.do(ctx, http.MethodPost, "/apply", q, typedBody{bytes.NewReader(m.Data), "application/yaml"}, out)
}

func (c *client) function(ctx context.Context, key api.FunctionKey) (*api.Function, error) {
	out := &api.Function{}
	return out, c.do(ctx, http.MethodGet, "/namespaces/"+key.Namespace+"/functions/"+key.Name, nil, nil, out)
}

// functions reads one page of the functions of a namespace ("" for all).
func (c *client) functions(ctx context.Context, namespace string, p pageQuery) (*api.FunctionList, error) {
	out := &api.FunctionList{}
	path := "/functions"
	if namespace != "" {
		path = "/namespaces/" + namespace + "/functions"
	}
	return out, c.do(ctx, http.MethodGet, path, p.values(), nil, out)
}

func (c *client) revision(ctx context.Context, key api.RevisionKey) (*api.Revision, error) {
	out := &api.Revision{}
	return out, c.do(ctx, http.MethodGet, "/namespaces/"+key.Namespace+"/revisions/"+key.Name, nil, nil, out)
}

// revisionWithDecisions is a revision with the autoscaler's recent
// decisions and settings.
func (c *client) revisionWithDecisions(ctx context.Context, key api.RevisionKey) (*api.Revision, error) {
	out := &api.Revision{}
	q := url.Values{"decisions": {"true"}}
	return out, c.do(ctx, http.MethodGet, "/namespaces/"+key.Namespace+"/revisions/"+key.Name, q, nil, out)
}

// revisions reads one page of the revisions of a namespace ("" for all).
func (c *client) revisions(ctx context.Context, namespace string, p pageQuery) (*api.RevisionList, error) {
	out := &api.RevisionList{}
	path := "/revisions"
	if namespace != "" {
		path = "/namespaces/" + namespace + "/revisions"
	}
	return out, c.do(ctx, http.MethodGet, path, p.values(), nil, out)
}

func (c *client) setTraffic(ctx context.Context, key api.FunctionKey, traffic []api.TrafficTarget) (*api.Function, error) {
	b, err := json.Marshal(controlplane.TrafficRequest{Traffic: traffic})
	if err != nil {
		return nil, err
	}
	out := &api.Function{}
	return out, c.do(ctx, http.MethodPut, "/namespaces/"+key.Namespace+"/functions/"+key.Name+"/traffic", nil,
		typedBody{bytes.NewReader(b), "application/json"}, out)
}

func (c *client) deleteFunction(ctx context.Context, key api.FunctionKey) error {
	return c.do(ctx, http.MethodDelete, "/namespaces/"+key.Namespace+"/functions/"+key.Name, nil, nil, nil)
}

func (c *client) trigger(ctx context.Context, key api.TriggerKey) (*api.Trigger, error) {
	out := &api.Trigger{}
	return out, c.do(ctx, http.MethodGet, "/namespaces/"+key.Namespace+"/triggers/"+key.Name, nil, nil, out)
}

// triggers reads one page of the triggers of a namespace ("" for all).
func (c *client) triggers(ctx context.Context, namespace string, p pageQuery) (*api.TriggerList, error) {
	out := &api.TriggerList{}
	path := "/triggers"
	if namespace != "" {
		path = "/namespaces/" + namespace + "/triggers"
	}
	return out, c.do(ctx, http.MethodGet, path, p.values(), nil, out)
}

func (c *client) deleteTrigger(ctx context.Context, key api.TriggerKey) error {
	return c.do(ctx, http.MethodDelete, "/namespaces/"+key.Namespace+"/triggers/"+key.Name, nil, nil, nil)
}

// setRateLimit sets a trigger's rate limit in events per second; nil
// removes it.
func (c *client) setRateLimit(ctx context.Context, key api.TriggerKey, perSecond *float64) (*api.Trigger, error) {
	b, err := json.Marshal(controlplane.RateRequest{RateLimit: perSecond})
	if err != nil {
		return nil, err
	}
	out := &api.Trigger{}
	return out, c.do(ctx, http.MethodPut, "/namespaces/"+key.Namespace+"/triggers/"+key.Name+"/rate", nil,
		typedBody{bytes.NewReader(b), "application/json"}, out)
}

func (c *client) info(ctx context.Context) (*controlplane.Info, error) {
	out := &controlplane.Info{}
	return out, c.do(ctx, http.MethodGet, "/info", nil, nil, out)
}
