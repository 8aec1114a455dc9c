// Package kube_test runs wake's Kubernetes roles, the real binary as
// `wake controller` and `wake gateway` processes, against the real
// control plane of internal/kubetest: functions applied with kubectl,
// requests through the gateway to pods KWOK runs and the test serves.
package kube_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wakefn/wake/internal/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// domain is the suffix of function hosts at the gateway.
const domain = "example.com"

var (
	buildOnce sync.Once
	wakeBin   string
	buildErr  error
)

// wake builds the binary once per test run.
func wake(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wake-kube-e2e")
		if err != nil {
			buildErr = err
			return
		}
		wakeBin = filepath.Join(dir, "wake")
		out, err := exec.Command("go", "build", "-race", "-o", wakeBin, "github.com/wakefn/wake/cmd/wake").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return wakeBin
}

// repoPath is a path in the repository, from this package's directory.
func repoPath(parts ...string) string {
	return filepath.Join(append([]string{"..", ".."}, parts...)...)
}

// proc is a wake process the test started; its output goes to a file
// printed when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	log := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(wake(t), args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM, 20*time.Second)
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("---- %s log (last 6000 bytes) ----\n%s", name, tailOf(b, 6000))
		}
	})
	return p
}

func tailOf(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// stop signals the process and waits for it, killing it after grace.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cluster is wake's roles started for one test: two controllers, one
// gateway, in the test's namespace.
type cluster struct {
	env         *kubetest.Env
	ns          string
	controllers map[string]*proc  // by identity
	reportURLs  map[string]string // by identity: the controller's report port
	admins      map[string]string // by identity: host:port of /metrics
	gateway     string            // host:port of the data plane
	gatewayProc *proc
	tokenFile   string // the gateway's --report-token-file, as a mounted Secret
}

// reportSecret is the Secret the controllers create in --lease-namespace
// for the token of their report port.
const reportSecret = "wake-report-token"

// reportToken waits for the controllers' Secret and returns its token.
func (c *cluster) reportToken(t *testing.T) string {
	t.Helper()
	var token string
	c.env.Eventually(t, 30*time.Second, "the controllers' report token Secret", func() bool {
		s, err := c.env.Client.CoreV1().Secrets(c.ns).Get(context.Background(), reportSecret, metav1.GetOptions{})
		if err != nil {
			return false
		}
		token = strings.TrimSpace(string(s.Data["token"]))
		return token != ""
	})
	return token
}

// writeToken replaces the gateway's token file, as the kubelet refreshes
// a mounted Secret: a new file renamed over the old.
func (c *cluster) writeToken(t *testing.T, token string) {
	t.Helper()
	tmp := c.tokenFile + ".new"
	if err := os.WriteFile(tmp, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, c.tokenFile); err != nil {
		t.Fatal(err)
	}
}

func startCluster(t *testing.T, env *kubetest.Env) *cluster {
	t.Helper()
	env.Kubectl(t, nil, "apply", "-f", repoPath("manifests", "crds"))
	env.Kubectl(t, nil, "wait", "--for", "condition=established", "--timeout", "60s",
		"crd/functions.wake.dev", "crd/revisions.wake.dev", "crd/triggers.wake.dev")
	c := &cluster{env: env, ns: env.Namespace(t), controllers: map[string]*proc{},
		reportURLs: map[string]string{}, admins: map[string]string{}}
	c.gateway = "127.0.0.1:" + strconv.Itoa(freePort(t))
	var urls []string
	for _, id := range []string{"controller-a", "controller-b"} {
		port := freePort(t)
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		urls = append(urls, url)
		c.reportURLs[id] = url
		c.admins[id] = "127.0.0.1:" + strconv.Itoa(freePort(t))
		c.controllers[id] = start(t, id, "controller", "--kubeconfig", env.Kubeconfig, "--namespace", c.ns,
			"--listen", "127.0.0.1:"+strconv.Itoa(port), "--advertise", url,
			"--admin", c.admins[id], "--id", id,
			"--lease-namespace", c.ns, "--lease-duration", "3s", "--domain", domain, "--gateway", c.gateway,
			"--scale-to-zero-grace-period", "1s", "--log-format", "console")
	}
	// The gateway's token, from the Secret the first controller created,
	// in a file as a pod mounts it.
	c.tokenFile = filepath.Join(t.TempDir(), "token")
	c.writeToken(t, c.reportToken(t))
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t))
	c.gatewayProc = start(t, "gateway", "gateway", "--kubeconfig", env.Kubeconfig, "--namespace", c.ns,
		"--listen", c.gateway, "--admin", admin, "--id", "gateway-1", "--report-token-file", c.tokenFile,
		"--controller", strings.Join(urls, ","), "--domain", domain, "--log-format", "console", "--shutdown-delay", "0s")
	env.Eventually(t, 60*time.Second, "the gateway is up", func() bool {
		resp, err := http.Get("http://" + admin + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return c
}

// get sends a request for a function through the gateway.
func (c *cluster) get(t *testing.T, fn string, timeout time.Duration) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.gateway+"/", nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = fn + "." + c.ns + "." + domain
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// load is a client sending a request every 20ms until stop, which
// returns how many it sent and how many did not get a 200.
type load struct {
	stopc        chan struct{}
	done         chan struct{}
	sent, failed atomic.Int64
}

func (c *cluster) steady(t *testing.T, fn string) *load {
	l := &load{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stopc:
				return
			case <-time.After(20 * time.Millisecond):
			}
			l.sent.Add(1)
			if code, body, err := c.get(t, fn, 30*time.Second); err != nil || code != http.StatusOK {
				l.failed.Add(1)
				t.Logf("steady load: %d %q %v", code, body, err)
			}
		}
	}()
	return l
}

func (l *load) stop() (sent, failed int64) {
	close(l.stopc)
	<-l.done
	return l.sent.Load(), l.failed.Load()
}
