package process

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// testfn is the test function binary, built once by TestMain.
var testfn string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if dir := os.Getenv(helperStateEnv); dir != "" {
		return helperWake(dir, os.Getenv(helperTestfnEnv))
	}
	dir, err := os.MkdirTemp("", "wake-process-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	testfn = filepath.Join(dir, "testfn")
	out, err := exec.Command("go", "build", "-o", testfn, "github.com/wakefn/wake/internal/testfn").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building testfn: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// waitTimeout bounds every wait on real processes. Generous: the machine
// running the tests may be busy; a pass never waits this long.
const waitTimeout = 30 * time.Second

// recorder is an Observer keeping every State, and an event log shared
// with drainers so tests can check the order of things.
type recorder struct {
	mu      sync.Mutex
	states  []stamped
	events  []string
	changed chan struct{}
}

type stamped struct {
	runtime.State
	at time.Time
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) Update(_ api.RevisionKey, s runtime.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, stamped{s, time.Now()})
	r.events = append(r.events, "state "+describe(s))
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) event(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) history() ([]stamped, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stamped(nil), r.states...), append([]string(nil), r.events...)
}

func (r *recorder) last() runtime.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states) == 0 {
		return runtime.State{}
	}
	return r.states[len(r.states)-1].State
}

// waitFor waits until the latest State satisfies ok and returns it.
func (r *recorder) waitFor(t *testing.T, what string, ok func(runtime.State) bool) runtime.State {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		ch := r.changed
		var s runtime.State
		have := len(r.states) > 0
		if have {
			s = r.states[len(r.states)-1].State
		}
		r.mu.Unlock()
		if have && ok(s) {
			return s
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; last state: %s", what, describe(s))
		}
	}
}

func describe(s runtime.State) string {
	var ids []string
	for _, ep := range s.Ready {
		ids = append(ids, ep.ID)
	}
	f := "nil"
	if s.Failure != nil {
		f = fmt.Sprintf("%s(%d) %q", s.Failure.Reason, s.Failure.Restarts, s.Failure.Message)
	}
	return fmt.Sprintf("desired=%d ready=%v starting=%d failure=%s", s.Desired, ids, s.Starting, f)
}

func readyN(n int) func(runtime.State) bool {
	return func(s runtime.State) bool { return len(s.Ready) == n && s.Starting == 0 }
}

func has(s runtime.State, id string) bool {
	for _, ep := range s.Ready {
		if ep.ID == id {
			return true
		}
	}
	return false
}

// drainer records its calls in the recorder's event log, and checks that
// the instance is still serving while it drains.
type drainer struct {
	rec     *recorder
	delay   time.Duration
	release chan struct{} // when set, Drain blocks until it is closed

	mu    sync.Mutex
	calls []drainCall
}

type drainCall struct {
	ep          runtime.Endpoint
	hiddenFirst bool // the last State delivered before Drain lacked ep
	servedAfter bool // the instance still answered at the end of Drain
}

func (d *drainer) Drain(ctx context.Context, _ api.RevisionKey, ep runtime.Endpoint) error {
	call := drainCall{ep: ep, hiddenFirst: !has(d.rec.last(), ep.ID)}
	d.rec.event("drain " + ep.ID)
	if d.release != nil {
		select {
		case <-d.release:
		case <-ctx.Done():
		}
	}
	if d.delay > 0 {
		select {
		case <-time.After(d.delay):
		case <-ctx.Done():
		}
	}
	_, err := tryGet(ep.Addr, "/")
	call.servedAfter = err == nil
	d.rec.event("drained " + ep.ID)
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

// env is the runtime under test with what the tests look at.
type env struct {
	rt   *Runtime
	rec  *recorder
	dr   *drainer
	logs *observer.ObservedLogs
	dir  string
}

// newEnv returns a Runtime on a fresh state dir with a recorder and a
// drainer; opts' zero fields are filled. At cleanup it shuts the runtime
// down and fails the test if any process it started is still alive.
func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{rec: newRecorder()}
	e.dr = &drainer{rec: e.rec}
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	e.dir = opts.StateDir
	if opts.Observer == nil {
		opts.Observer = e.rec
	}
	if opts.Drainer == nil {
		opts.Drainer = e.dr
	}
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	opts.Logger = zap.New(core)
	if opts.TerminationGracePeriod == 0 {
		opts.TerminationGracePeriod = 5 * time.Second
	}
	rt, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.rt = rt
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for _, pid := range e.pids() {
			if alive(pid) {
				t.Errorf("instance process %d outlived Shutdown", pid)
				_ = exec.Command("kill", "-9", strconv.Itoa(pid)).Run()
			}
		}
		if t.Failed() {
			for _, l := range logs.All() {
				t.Logf("log: %s %v", l.Message, l.ContextMap())
			}
		}
	})
	return e
}

// pids returns the pid of every instance started.
func (e *env) pids() []int {
	var pids []int
	for _, l := range e.logs.FilterMessage("instance started").All() {
		pids = append(pids, int(l.ContextMap()["pid"].(int64)))
	}
	return pids
}

// pidOf returns the pid of instance id.
func (e *env) pidOf(t *testing.T, id string) int {
	t.Helper()
	for _, l := range e.logs.FilterMessage("instance started").All() {
		if l.ContextMap()["instance"] == id {
			return int(l.ContextMap()["pid"].(int64))
		}
	}
	t.Fatalf("no instance %s started", id)
	return 0
}

// stopped waits for the "instance stopped" log line of id.
func (e *env) stopped(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		for _, l := range e.logs.FilterMessage("instance stopped").All() {
			if m := l.ContextMap(); m["instance"] == id {
				return m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("instance %s never stopped", id)
	return nil
}

// deploy deploys a testfn revision and scales it to n.
func (e *env) deploy(t *testing.T, rev *api.Revision, n int) {
	t.Helper()
	ctx := context.Background()
	if err := e.rt.Deploy(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Scale(ctx, rev.Key(), n); err != nil {
		t.Fatal(err)
	}
}

func (e *env) scale(t *testing.T, key api.RevisionKey, n int) {
	t.Helper()
	if err := e.rt.Scale(context.Background(), key, n); err != nil {
		t.Fatal(err)
	}
}

// testRevision returns revision name of function fn (name minus -NNNNN)
// running testfn with env ("K=V").
func testRevision(name string, env ...string) *api.Revision {
	rev := &api.Revision{}
	rev.Namespace = api.DefaultNamespace
	rev.Name = name
	rev.Labels = map[string]string{api.LabelFunction: strings.TrimSuffix(name, name[strings.LastIndex(name, "-"):])}
	c := api.Container{Command: []string{testfn}}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		c.Env = append(c.Env, api.EnvVar{Name: k, Value: v})
	}
	rev.Spec.Containers = []api.Container{c}
	return rev
}

func tryGet(addr, path string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

func get(t *testing.T, addr, path string) string {
	t.Helper()
	s, err := tryGet(addr, path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// alive tells whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The test binary run with helperStateEnv set plays a wake (helperWake)
// that a test can SIGKILL.
const (
	helperStateEnv  = "WAKE_PROCESS_TEST_HELPER_STATE"
	helperTestfnEnv = "WAKE_PROCESS_TEST_HELPER_TESTFN"
	helperSpawnEnv  = "WAKE_PROCESS_TEST_HELPER_SPAWN" // TESTFN_SPAWN_CHILD's value
)

// helperWake runs one instance of testfn that spawns a child, prints
// "ready" once the instance is, and waits to be killed.
func helperWake(stateDir, fn string) int {
	testfn = fn
	ready := make(chan struct{})
	var once sync.Once
	obs := observerFunc(func(_ api.RevisionKey, s runtime.State) {
		if len(s.Ready) == 1 {
			once.Do(func() { close(ready) })
		}
	})
	rt, err := New(Options{StateDir: stateDir, Observer: obs})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rev := testRevision("orphan-00001", "TESTFN_SPAWN_CHILD="+os.Getenv(helperSpawnEnv))
	ctx := context.Background()
	if err := rt.Deploy(ctx, rev); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := rt.Scale(ctx, rev.Key(), 1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ready
	fmt.Println("ready")
	time.Sleep(time.Hour) // until killed
	return 0
}
