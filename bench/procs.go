package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// binaries are the programs the harness builds once per run.
type binaries struct {
	wake   string
	testfn string
}

// build compiles wake and testfn into dir, without the race detector.
func build(ctx context.Context, dir string) (binaries, error) {
	b := binaries{wake: filepath.Join(dir, "wake"), testfn: filepath.Join(dir, "testfn")}
	for _, p := range []struct{ out, pkg string }{{b.wake, "./cmd/wake"}, {b.testfn, "./internal/testfn"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", p.out, p.pkg)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("go build %s: %w", p.pkg, err)
		}
	}
	return b, nil
}

// proc is a child process the harness started; stop ends it and its group.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.cmd.Process == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// start runs cmd in its own process group, so stop reaches what it started.
func start(cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

// freePort returns a loopback TCP port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP polls addr every 200µs until a TCP connect succeeds, and returns
// when it did. The fine poll keeps the measurement of a function's own
// start-up (exec to listening) close to the truth.
func waitTCP(ctx context.Context, addr string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Timeout: 100 * time.Millisecond}
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return time.Now(), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("%s: not listening after %s: %w", addr, timeout, err)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// startFunction runs testfn directly on a free port with env added.
func startFunction(ctx context.Context, bins binaries, env ...string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(bins.testfn)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("PORT=%d", port), "K_REVISION=direct"}, env...)
	p, err := start(cmd)
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if _, err := waitTCP(ctx, addr, 30*time.Second); err != nil {
		p.stop(time.Second)
		return nil, "", err
	}
	return p, addr, nil
}

// nginxConf is a reverse proxy the way one would configure it for speed:
// one worker, kept-alive upstream connections, no access log.
const nginxConf = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    keepalive_requests 1000000;
    upstream fn { server %[2]s; keepalive 64; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://fn;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

// startNginx runs nginx in the foreground as a child, proxying to upstream.
func startNginx(ctx context.Context, dir, upstream string) (*proc, string, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, err := os.Stat(bin); err != nil {
			return nil, "", errors.New("nginx not found: run hack/install-nginx.sh")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, upstream, port), 0o644); err != nil {
		return nil, "", err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	out, _ := os.Create(filepath.Join(dir, "output.log"))
	cmd.Stdout, cmd.Stderr = out, out
	p, err := start(cmd)
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if _, err := waitTCP(ctx, addr, 10*time.Second); err != nil {
		p.stop(time.Second)
		b, _ := os.ReadFile(filepath.Join(dir, "output.log"))
		return nil, "", fmt.Errorf("nginx: %w\n%s", err, b)
	}
	return p, addr, nil
}

// wake is a running `wake serve`.
type wake struct {
	*proc
	http, admin string
	token       string
	stateDir    string
	output      *os.File
}

var listening = regexp.MustCompile(`functions on http://(\S+) .*admin API on http://(\S+),`)

// startWake runs `wake serve` on free loopback ports with a fresh state
// directory under c.workDir, and waits until it listens.
func startWake(ctx context.Context, c *config, bins binaries, name string, args ...string) (*wake, error) {
	state, err := os.MkdirTemp(c.workDir, name+"-")
	if err != nil {
		return nil, err
	}
	out, err := os.Create(filepath.Join(state, "serve.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bins.wake, append([]string{"serve", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--state-dir", state, "--log-level", "warn"}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout = out
	cmd.Stderr = io.MultiWriter(out, pw)
	p, err := start(cmd)
	if err != nil {
		return nil, err
	}
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
	w := &wake{proc: p, stateDir: state, output: out}
	select {
	case m := <-found:
		w.http, w.admin = m[1], m[2]
	case <-p.exited:
		return nil, fmt.Errorf("wake serve exited at start; see %s", out.Name())
	case <-time.After(60 * time.Second):
		p.stop(time.Second)
		return nil, fmt.Errorf("wake serve did not listen within 60s")
	}
	tok, err := os.ReadFile(filepath.Join(state, "admin-token"))
	if err != nil {
		p.stop(time.Second)
		return nil, err
	}
	w.token = strings.TrimSpace(string(tok))
	return w, nil
}

// close stops wake serve (and with it every instance) and closes its log.
func (w *wake) close() {
	if w == nil {
		return
	}
	w.stop(20 * time.Second)
	w.output.Close()
}

// adminClient is shared by every admin request: its calls are few.
var adminClient = &http.Client{Timeout: 5 * time.Minute}

func (w *wake) adminDo(ctx context.Context, method, path, contentType string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+w.admin+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+w.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := adminClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s %s: %s: %s", method, path, res.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// apply posts a (multi-document) manifest to the admin API. It does not wait
// for readiness: callers that need an instance wait for it themselves.
func (w *wake) apply(ctx context.Context, manifest string) error {
	_, err := w.adminDo(ctx, http.MethodPost, "/apis/wake.dev/v1/apply?source=bench.yaml", "application/yaml", strings.NewReader(manifest))
	return err
}

// revisionStatus is the part of a revision the harness reads.
type revisionStatus struct {
	Status struct {
		DesiredReplicas int `json:"desiredReplicas"`
		ActualReplicas  int `json:"actualReplicas"`
	} `json:"status"`
}

func (w *wake) revision(ctx context.Context, name string) (revisionStatus, error) {
	var r revisionStatus
	b, err := w.adminDo(ctx, http.MethodGet, "/apis/wake.dev/v1/namespaces/default/revisions/"+name, "", nil)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}

// host is the Host header that reaches function name in the default namespace.
func host(name string) string { return name + ".default.localhost" }

// fnSpec is a function manifest running testfn.
type fnSpec struct {
	name        string
	annotations map[string]string
	env         map[string]string
	cc          int
}

func (f fnSpec) yaml(testfn string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n  name: %s\nspec:\n  template:\n", f.name)
	if len(f.annotations) > 0 {
		b.WriteString("    metadata:\n      annotations:\n")
		for _, k := range sortedKeys(f.annotations) {
			fmt.Fprintf(&b, "        autoscaling.knative.dev/%s: %q\n", k, f.annotations[k])
		}
	}
	b.WriteString("    spec:\n")
	if f.cc > 0 {
		fmt.Fprintf(&b, "      containerConcurrency: %d\n", f.cc)
	}
	fmt.Fprintf(&b, "      containers:\n        - command: [%q]\n", testfn)
	if len(f.env) > 0 {
		b.WriteString("          env:\n")
		for _, k := range sortedKeys(f.env) {
			fmt.Fprintf(&b, "            - name: %s\n              value: %q\n", k, f.env[k])
		}
	}
	return b.String()
}

// manifest joins the specs into one multi-document YAML.
func manifest(testfn string, fns ...fnSpec) string {
	docs := make([]string, len(fns))
	for i, f := range fns {
		docs[i] = f.yaml(testfn)
	}
	return strings.Join(docs, "---\n")
}

// waitReplicas polls revision rev until its actual replicas reach want.
func (w *wake) waitReplicas(ctx context.Context, rev string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		r, err := w.revision(ctx, rev)
		if err == nil && r.Status.ActualReplicas >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("revision %s: %d ready after %s, want %d (last error %v)", rev, r.Status.ActualReplicas, timeout, want, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
