// Package runtimetest owns the contract every runtime.Runtime must keep,
// as one test suite (Run) that each implementation runs against instances
// of wake's test function: deploy, scale up, scale down with a drain
// before the stop, crash recovery, remove.
//
// The instances are real processes of internal/testfn for the process
// runtime. Where no process can run (Kubernetes on a control plane whose
// kubelet is KWOK), the test serves HTTP on each instance's address in its
// place; the suite needs from it only testfn's routes "/" (answering
// "K_REVISION GREETING") and "/env?k=NAME" (the instance's environment),
// and a Function.Crash that does what a crashing process would.
package runtimetest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// Function is the test function as the runtime under test runs it.
type Function struct {
	// Container runs internal/testfn: for the process runtime its Command
	// is the built binary, for Kubernetes its Image. The suite adds env.
	Container api.Container
	// Namespace is where revisions are deployed; "" means
	// api.DefaultNamespace.
	Namespace string
	// Timeout bounds every wait for instances; 0 means 2 minutes.
	Timeout time.Duration
	// Get fetches path from an endpoint and returns the body of a 200
	// answer. nil means an HTTP GET to http://ADDR+PATH, for runtimes whose
	// endpoints the test can reach directly.
	Get func(ctx context.Context, ep runtime.Endpoint, path string) (string, error)
	// Crash makes the instance behind ep die as a process exiting with
	// status 3 would, for its runtime to notice and replace. nil means a
	// GET of /exit?code=3 through Get, which makes testfn exit.
	Crash func(ctx context.Context, ep runtime.Endpoint) error
}

// Run runs the contract suite. newRuntime returns a fresh Runtime that
// reports to obs and drains through dr, and cleans it up when t ends.
func Run(t *testing.T, newRuntime func(t *testing.T, obs runtime.Observer, dr runtime.Drainer) runtime.Runtime, fn Function) {
	if fn.Namespace == "" {
		fn.Namespace = api.DefaultNamespace
	}
	if fn.Timeout == 0 {
		fn.Timeout = 2 * time.Minute
	}
	if fn.Get == nil {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		fn.Get = func(ctx context.Context, ep runtime.Endpoint, path string) (string, error) {
			return httpGet(ctx, c, ep, path)
		}
	}
	if fn.Crash == nil {
		get := fn.Get
		fn.Crash = func(ctx context.Context, ep runtime.Endpoint) error {
			_, _ = get(ctx, ep, "/exit?code=3") // the process dies before it answers
			return nil
		}
	}
	s := &suite{fn: fn, newRuntime: newRuntime}
	t.Run("DeployAndScaleUp", s.deployAndScaleUp)
	t.Run("ScaleDownDrainsFirst", s.scaleDownDrainsFirst)
	t.Run("CrashedInstanceIsReplaced", s.crashReplaced)
	t.Run("Remove", s.remove)
	t.Run("UnknownRevision", s.unknownRevision)
}

type suite struct {
	fn         Function
	newRuntime func(t *testing.T, obs runtime.Observer, dr runtime.Drainer) runtime.Runtime
	n          atomic.Int64
}

// h is one subtest's runtime and what it observed.
type h struct {
	t   *testing.T
	s   *suite
	rt  runtime.Runtime
	obs *observer
	dr  *drainer
	rev *api.Revision
}

func (s *suite) setup(t *testing.T, greeting string) *h {
	obs := &observer{changed: make(chan struct{})}
	dr := &drainer{obs: obs, get: s.fn.Get}
	x := &h{t: t, s: s, obs: obs, dr: dr}
	x.rt = s.newRuntime(t, obs, dr)
	fnName := fmt.Sprintf("contract%d", s.n.Add(1))
	rev := &api.Revision{}
	rev.Namespace, rev.Name = s.fn.Namespace, api.RevisionName(fnName, 1)
	rev.Labels = map[string]string{api.LabelFunction: fnName, api.LabelKnativeService: fnName}
	c := s.fn.Container
	c.Env = append(append([]api.EnvVar(nil), c.Env...), api.EnvVar{Name: "GREETING", Value: greeting})
	rev.Spec.Containers = []api.Container{c}
	x.rev = rev
	if err := x.rt.Deploy(context.Background(), rev); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	return x
}

func (x *h) scale(n int) {
	x.t.Helper()
	if err := x.rt.Scale(context.Background(), x.rev.Key(), n); err != nil {
		x.t.Fatalf("Scale(%d): %v", n, err)
	}
}

// waitReady waits for exactly n ready instances, none starting, and
// checks that each answers as testfn does.
func (x *h) waitReady(n int) runtime.State {
	x.t.Helper()
	st := x.obs.waitFor(x.t, x.s.fn.Timeout, fmt.Sprintf("%d ready", n), func(s runtime.State) bool {
		return len(s.Ready) == n && s.Starting == 0 && s.Desired == n
	})
	want := x.rev.Name + " " + greetingOf(x.rev)
	for _, ep := range st.Ready {
		got, err := x.get(ep, "/")
		if err != nil || strings.TrimSpace(got) != want {
			x.t.Errorf("GET / on %v = %q, %v; want %q", ep, got, err, want)
		}
	}
	return st
}

func (x *h) get(ep runtime.Endpoint, path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return x.s.fn.Get(ctx, ep, path)
}

func greetingOf(rev *api.Revision) string {
	for _, e := range rev.Spec.Containers[0].Env {
		if e.Name == "GREETING" {
			return e.Value
		}
	}
	return ""
}

func (s *suite) deployAndScaleUp(t *testing.T) {
	x := s.setup(t, "hello")
	x.scale(1)
	one := x.waitReady(1)
	if err := x.rt.Deploy(context.Background(), x.rev); err != nil {
		t.Errorf("deploying a known revision again: %v", err)
	}
	x.scale(3)
	three := x.waitReady(3)
	ids, addrs := map[string]bool{}, map[string]bool{}
	for _, ep := range three.Ready {
		ids[ep.ID], addrs[ep.Addr] = true, true
	}
	if len(ids) != 3 || len(addrs) != 3 {
		t.Errorf("ready endpoints %v are not distinct", three.Ready)
	}
	if !ids[one.Ready[0].ID] {
		t.Errorf("scaling up replaced the first instance %v: %v", one.Ready[0], three.Ready)
	}
	if env, err := x.get(three.Ready[0], "/env?k=K_REVISION"); err != nil || strings.TrimSpace(env) != x.rev.Name {
		t.Errorf("K_REVISION = %q, %v; want %s", env, err, x.rev.Name)
	}
}

func (s *suite) scaleDownDrainsFirst(t *testing.T) {
	x := s.setup(t, "drain")
	x.scale(2)
	before := x.waitReady(2)
	x.scale(1)
	after := x.waitReady(1)
	var victim runtime.Endpoint
	for _, ep := range before.Ready {
		if ep != after.Ready[0] {
			victim = ep
		}
	}
	var calls []drainCall
	x.obs.poll(t, s.fn.Timeout, "the victim's drain to end", func() bool {
		calls = x.dr.done()
		return len(calls) > 0
	})
	if len(calls) != 1 || calls[0].ep != victim {
		t.Fatalf("drained %+v, want one drain of %v", calls, victim)
	}
	if calls[0].seen {
		t.Errorf("Drain of %v began while the last State reported still listed it", victim)
	}
	if !calls[0].served {
		t.Errorf("%v did not answer during its drain: it was stopped before", victim)
	}
	x.obs.poll(t, s.fn.Timeout, "the victim to stop", func() bool {
		_, err := x.get(victim, "/")
		return err != nil
	})
}

func (s *suite) crashReplaced(t *testing.T) {
	x := s.setup(t, "crash")
	x.scale(1)
	first := x.waitReady(1).Ready[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := s.fn.Crash(ctx, first)
	cancel()
	if err != nil {
		t.Fatalf("crashing %v: %v", first, err)
	}
	x.obs.waitFor(t, s.fn.Timeout, "the crashed instance out of Ready", func(s runtime.State) bool {
		return len(s.Ready) == 0
	})
	st := x.waitReady(1)
	if st.Failure != nil {
		t.Errorf("failure %+v still reported once an instance is ready again", st.Failure)
	}
	if sawFailure := x.obs.any(func(s runtime.State) bool { return s.Failure != nil }); !sawFailure {
		t.Error("the crash was never reported as a Failure")
	}
}

func (s *suite) remove(t *testing.T) {
	x := s.setup(t, "remove")
	x.scale(2)
	st := x.waitReady(2)
	ctx, cancel := context.WithTimeout(context.Background(), s.fn.Timeout)
	defer cancel()
	if err := x.rt.Remove(ctx, x.rev.Key()); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if last := x.obs.last(); len(last.Ready) != 0 || last.Starting != 0 {
		t.Errorf("last State after Remove %+v, want no instance", last)
	}
	if n := len(x.dr.done()); n != 2 {
		t.Errorf("%d drains by Remove, want 2", n)
	}
	if err := x.rt.Scale(ctx, x.rev.Key(), 1); err == nil {
		t.Error("Scale of a removed revision succeeded")
	}
	for _, ep := range st.Ready {
		x.obs.poll(t, s.fn.Timeout, "removed instances to stop", func() bool {
			_, err := x.get(ep, "/")
			return err != nil
		})
	}
}

func (s *suite) unknownRevision(t *testing.T) {
	x := s.setup(t, "unknown")
	key := api.RevisionKey{Namespace: s.fn.Namespace, Name: "never-deployed-00001"}
	if err := x.rt.Scale(context.Background(), key, 1); err == nil {
		t.Error("Scale of a revision never deployed succeeded")
	}
}

// observer records the States of the one revision a subtest deploys.
type observer struct {
	mu      sync.Mutex
	states  []runtime.State
	changed chan struct{}
}

func (o *observer) Update(_ api.RevisionKey, s runtime.State) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.states = append(o.states, s)
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *observer) last() runtime.State {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.states) == 0 {
		return runtime.State{}
	}
	return o.states[len(o.states)-1]
}

func (o *observer) any(ok func(runtime.State) bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.states {
		if ok(s) {
			return true
		}
	}
	return false
}

// waitFor waits until the latest State satisfies ok.
func (o *observer) waitFor(t *testing.T, timeout time.Duration, what string, ok func(runtime.State) bool) runtime.State {
	t.Helper()
	deadline := time.After(timeout)
	for {
		o.mu.Lock()
		ch, n := o.changed, len(o.states)
		var s runtime.State
		if n > 0 {
			s = o.states[n-1]
		}
		o.mu.Unlock()
		if n > 0 && ok(s) {
			return s
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s; last State %+v", timeout, what, s)
		}
	}
}

// poll checks cond every 20 ms until it holds.
func (o *observer) poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drainer checks, for each Drain, that the endpoint had already left the
// reported State and still serves while draining.
type drainer struct {
	obs *observer
	get func(ctx context.Context, ep runtime.Endpoint, path string) (string, error)

	mu    sync.Mutex
	calls []drainCall
}

type drainCall struct {
	ep     runtime.Endpoint
	seen   bool // the last State delivered still listed ep
	served bool // ep answered during the drain
}

// drainTime is how long each Drain holds the instance, to see that the
// runtime waits for it before stopping the instance.
const drainTime = 200 * time.Millisecond

func (d *drainer) Drain(ctx context.Context, _ api.RevisionKey, ep runtime.Endpoint) error {
	call := drainCall{ep: ep}
	for _, r := range d.obs.last().Ready {
		call.seen = call.seen || r.ID == ep.ID
	}
	select {
	case <-time.After(drainTime):
	case <-ctx.Done():
	}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := d.get(gctx, ep, "/")
	cancel()
	call.served = err == nil
	d.mu.Lock()
	d.calls = append(d.calls, call)
	d.mu.Unlock()
	return nil
}

func (d *drainer) done() []drainCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]drainCall(nil), d.calls...)
}

func httpGet(ctx context.Context, client *http.Client, ep runtime.Endpoint, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ep.Addr+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}
