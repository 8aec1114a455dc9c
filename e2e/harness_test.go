// Package e2e runs the real wake binary against real function processes
// over loopback, and checks what a user would see. TestMain builds wake
// (with the race detector) and the test function once.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	wakeBin   string // the wake binary under test
	testfnBin string // internal/testfn
	binDir    string // where they are built
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	if os.Getenv(floodWorkerEnv) != "" {
		return m.Run() // a flood worker (overload_test.go) runs no binary
	}
	dir, err := os.MkdirTemp("", "wake-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	wakeBin, testfnBin, binDir = filepath.Join(dir, "wake"), filepath.Join(dir, "testfn"), dir
	builds := [][]string{
		{"build", "-race", "-o", wakeBin, "github.com/wakefn/wake/cmd/wake"},
		{"build", "-o", testfnBin, "github.com/wakefn/wake/internal/testfn"},
	}
	for _, args := range builds {
		cmd := exec.Command("go", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building for e2e:", err)
			return 1
		}
	}
	return m.Run()
}

// server is one `wake serve` process.
type server struct {
	t        *testing.T
	cmd      *exec.Cmd
	stateDir string
	http     string // data plane address
	admin    string
	output   *syncBuffer
	exited   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listening = regexp.MustCompile(`functions on http://(\S+) .*admin API on http://(\S+),`)

// startWake starts `wake serve` on free loopback ports with stateDir ("" for
// a new temporary one) and waits until it listens. It is stopped (SIGTERM)
// when the test ends, and its output is shown if the test failed.
func startWake(t *testing.T, stateDir string, args ...string) *server {
	t.Helper()
	return startWakeBinary(t, wakeBin, stateDir, args...)
}

// startWakeBinary is startWake with another build of wake (one without
// the race detector, to measure memory).
func startWakeBinary(t *testing.T, bin, stateDir string, args ...string) *server {
	t.Helper()
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	s := &server{t: t, stateDir: stateDir, output: &syncBuffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"serve", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--state-dir", stateDir, "--log-level", "debug"}, args...)...)
	pr, pw := io.Pipe()
	s.cmd.Stdout = s.output
	s.cmd.Stderr = io.MultiWriter(s.output, pw)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait(); pw.Close() }()
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case m := <-found:
		s.http, s.admin = m[1], m[2]
	case err := <-s.exited:
		t.Fatalf("wake serve exited at start: %v\n%s", err, s.output)
	case <-time.After(60 * time.Second):
		t.Fatalf("wake serve did not listen within 60s\n%s", s.output)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("wake serve output:\n%s", s.output)
		}
	})
	return s
}

// stop sends SIGTERM and waits for wake serve to exit; it returns the
// exit error. Stopping twice is harmless.
func (s *server) stop() error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	select {
	case err := <-s.exited: // already gone (killed)
		return err
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		return err
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		return fmt.Errorf("wake serve did not stop within 60s after SIGTERM")
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// cliTimeout bounds one CLI command. One that takes longer means wake
// serve is stuck: its goroutines are dumped (SIGQUIT) into its output.
const cliTimeout = 90 * time.Second

// cli runs a wake command against this server, as a user would on the
// same machine: it finds the admin token in the server's state directory.
func (s *server) cli(args ...string) (stdout, stderr string, err error) {
	return s.cliWithEnv([]string{"WAKE_STATE_DIR=" + s.stateDir}, args...)
}

// cliWithEnv runs a wake command against this server with env added to
// the test's environment, less the WAKE_ variables of whoever runs the
// tests: the command finds a token only where the test says.
func (s *server) cliWithEnv(env []string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, wakeBin, append(args, "--server", "http://"+s.admin)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WAKE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		s.cmd.Process.Signal(syscall.SIGQUIT)
		<-s.exited
		s.t.Fatalf("wake %s did not finish in %v; wake serve's goroutines are in its output", strings.Join(args, " "), cliTimeout)
	}
	return out.String(), errb.String(), err
}

// mustCLI runs a wake command and fails the test if it fails.
func (s *server) mustCLI(args ...string) string {
	s.t.Helper()
	out, errOut, err := s.cli(args...)
	if err != nil {
		s.t.Fatalf("wake %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// apply writes manifest to a file and runs `wake apply -f` on it.
func (s *server) apply(manifest string, args ...string) string {
	s.t.Helper()
	return s.mustCLI(append([]string{"apply", "-f", writeManifest(s.t, manifest)}, args...)...)
}

func writeManifest(t *testing.T, manifest string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "fn.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// token returns the admin token wake serve keeps in its state directory.
func (s *server) token() string {
	s.t.Helper()
	t, err := s.readToken()
	if err != nil {
		s.t.Fatal(err)
	}
	return t
}

func (s *server) readToken() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.stateDir, "admin-token"))
	if err != nil {
		return "", fmt.Errorf("reading the admin token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// adminGet sends GET path to the admin API with the admin token. Safe to
// call from any goroutine.
func (s *server) adminGet(path string) (*http.Response, error) {
	return s.adminDo(http.MethodGet, path, "", nil)
}

// adminDo sends a request to the admin API with the admin token, and body
// typed as contentType ("" for none). Safe to call from any goroutine.
func (s *server) adminDo(method, path, contentType string, body io.Reader) (*http.Response, error) {
	token, err := s.readToken()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, "http://"+s.admin+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return client.Do(req)
}

// client is shared so requests reuse connections, like a real client.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}, Timeout: 120 * time.Second}

type response struct {
	code   int
	body   string
	header http.Header
}

// get sends GET path to host through the router.
func (s *server) get(host, path string) (response, error) {
	return s.request(context.Background(), http.MethodGet, host, path, nil)
}

func (s *server) request(ctx context.Context, method, host, path string, body io.Reader) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.http+path, body)
	if err != nil {
		return response{}, err
	}
	req.Host = host
	res, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{code: res.StatusCode, body: string(b), header: res.Header}, err
}

func (s *server) mustGet(host, path string) response {
	s.t.Helper()
	r, err := s.get(host, path)
	if err != nil {
		s.t.Fatalf("GET %s%s: %v", host, path, err)
	}
	return r
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fn is a function manifest running testfn. Its instances carry marker in
// their command line, so a test can find them among the machine's processes.
type fn struct {
	name        string
	marker      string
	annotations map[string]string
	env         map[string]string
	cc          int
	timeout     int
	h2c         bool
	probePath   string
	traffic     string // raw YAML of spec.traffic, indented by 2
}

func (f fn) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n  name: %s\nspec:\n  template:\n", f.name)
	if len(f.annotations) > 0 {
		b.WriteString("    metadata:\n      annotations:\n")
		for k, v := range f.annotations {
			fmt.Fprintf(&b, "        %s: %q\n", k, v)
		}
	}
	b.WriteString("    spec:\n")
	if f.cc > 0 {
		fmt.Fprintf(&b, "      containerConcurrency: %d\n", f.cc)
	}
	if f.timeout > 0 {
		fmt.Fprintf(&b, "      timeoutSeconds: %d\n", f.timeout)
	}
	fmt.Fprintf(&b, "      containers:\n        - command: [%q]\n          args: [%q]\n", testfnBin, "marker="+f.marker)
	if len(f.env) > 0 {
		b.WriteString("          env:\n")
		for k, v := range f.env {
			fmt.Fprintf(&b, "            - name: %s\n              value: %q\n", k, v)
		}
	}
	if f.h2c {
		b.WriteString("          ports:\n            - name: h2c\n              containerPort: 8080\n")
	}
	if f.probePath != "" {
		fmt.Fprintf(&b, "          readinessProbe:\n            httpGet:\n              path: %s\n", f.probePath)
	}
	if f.traffic != "" {
		b.WriteString("  traffic:\n" + f.traffic)
	}
	return b.String()
}

// processesWith returns the PIDs of processes whose command line contains s.
func processesWith(s string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		// A zombie has an empty command line and is already dead.
		if bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// marker returns a string unique to this test, for processesWith.
func marker(t *testing.T) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
}
