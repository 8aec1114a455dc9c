package kubetest

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// kwokStages tells KWOK what to do in place of a kubelet: make the node
// Ready and keep it so, make pods Running and Ready at once, delete them at
// once when asked.
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// errEnvironment marks what this machine lacks (no ip command, no
// CAP_NET_ADMIN): Start skips on it, or fails under WAKE_KUBE_REQUIRED.
var errEnvironment = errors.New("this machine cannot host the control plane")

// NodeName is the one fake node KWOK keeps Ready; every pod lands on it.
const NodeName = "kwok-node-0"

// apiServerGrace is how long kube-apiserver gets to exit after SIGTERM
// before SIGKILL. It stops listening at once, but the 1.33 process then
// lingers for about 30 s more (seen here); clients see it gone from the
// first moment either way.
const apiServerGrace = 3 * time.Second

// startTimeout bounds the start of the whole control plane and a restart
// of the API server; they take about 4 s and 6 s here (2 cores).
const startTimeout = 90 * time.Second

// Env is a running control plane. Its fields are read-only.
type Env struct {
	// Kubeconfig is the path of a kubeconfig for the admin (group
	// system:masters), for kubectl and for wake's --kubeconfig.
	Kubeconfig string
	// Config is the admin's client config; copy it before changing it.
	Config *rest.Config
	// Client is a clientset on Config.
	Client kubernetes.Interface
	// PodCIDR is the node's pod CIDR, a /24 of 198.18.0.0/15 such as
	// 198.18.42.0/24, routed to lo while the control plane runs (see
	// podcidr.go for why not 127.x) and held by this test binary alone,
	// so that two test binaries running at once never bind the same pod
	// IP. Every pod IP of the KWOK node is in it, and is bound and dialed
	// like 127.0.0.1 (the real node's pods have IPs of RealNode.PodCIDR).
	PodCIDR string
	// Dir holds the component logs (NAME.log), the kubeconfig and the
	// credentials; removed when the control plane stops, unless a test
	// failed or WAKE_KUBE_KEEP is set.
	Dir string
	// Server is the API server's URL, https://127.0.0.1:PORT.
	Server string

	bin     string
	creds   *credentials
	etcdURL string
	apiPort int
	podNet  *net.IPNet
	cidr    *podCIDR

	mu    sync.Mutex // guards procs
	procs map[string]*proc

	nodeMu  sync.Mutex // guards node and nodeErr
	node    *RealNode  // started by RealNode, on first use
	nodeErr error
}

var shared struct {
	mu     sync.Mutex
	env    *Env
	err    error
	failed bool
}

// Start returns the control plane of this test binary, starting it on first
// use. Without the binaries it skips t (fails it when WAKE_KUBE_REQUIRED is
// set) with the command that builds them. When t fails, the tails of the
// component logs are printed.
func Start(t testing.TB) *Env {
	t.Helper()
	dir := BinDir()
	checkBinaries(t, dir)

	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.env == nil && shared.err == nil {
		began := time.Now()
		shared.env, shared.err = start(dir)
		if shared.err == nil {
			t.Logf("kubetest: control plane up in %v at %s (logs in %s)", time.Since(began).Round(time.Millisecond), shared.env.Server, shared.env.Dir)
		}
	}
	if errors.Is(shared.err, errEnvironment) {
		skipOrFail(t, "%v", shared.err)
	}
	if shared.err != nil {
		t.Fatalf("kubetest: starting the control plane: %v", shared.err)
	}
	e := shared.env
	t.Cleanup(func() {
		if t.Failed() {
			shared.mu.Lock()
			shared.failed = true
			shared.mu.Unlock()
			e.logTails(t)
		}
	})
	return e
}

// Main runs the tests and then stops the control plane, if one was
// started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
// Without it the components are killed when the test binary exits (they
// are started with a parent-death signal) but their temp dir stays.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if e := shared.env; e != nil {
		e.stop()
		if code == 0 && !shared.failed && os.Getenv("WAKE_KUBE_KEEP") == "" {
			os.RemoveAll(e.Dir)
		} else {
			fmt.Fprintf(os.Stderr, "kubetest: component logs kept in %s\n", e.Dir)
		}
		shared.env = nil
	}
	return code
}

func start(bin string) (e *Env, err error) {
	dir, err := os.MkdirTemp("", "wake-kubetest-")
	if err != nil {
		return nil, err
	}
	e = &Env{Dir: dir, bin: bin, procs: map[string]*proc{}}
	defer func() {
		if err != nil {
			e.stop()
			err = fmt.Errorf("%w (logs in %s)", err, dir)
		}
	}()
	if e.cidr, err = acquirePodCIDR(); err != nil {
		return e, fmt.Errorf("%w: %w", errEnvironment, err)
	}
	e.PodCIDR = e.cidr.cidr
	_, e.podNet, _ = net.ParseCIDR(e.PodCIDR)
	if e.creds, err = writeCredentials(dir); err != nil {
		return e, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	if err := e.startEtcd(ctx); err != nil {
		return e, err
	}
	if e.apiPort, err = freePort(); err != nil {
		return e, err
	}
	e.Server = fmt.Sprintf("https://127.0.0.1:%d", e.apiPort)
	e.Config = &rest.Config{
		Host:            e.Server,
		BearerToken:     e.creds.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.creds.caPEM},
		QPS:             200,
		Burst:           400,
	}
	if e.Client, err = kubernetes.NewForConfig(e.Config); err != nil {
		return e, err
	}
	if err := e.writeKubeconfig(); err != nil {
		return e, err
	}
	if err := e.startAPIServer(ctx); err != nil {
		return e, err
	}
	if err := e.startControllers(); err != nil {
		return e, err
	}
	if err := e.createNode(ctx); err != nil {
		return e, err
	}
	return e, nil
}

func (e *Env) run(name string, args ...string) error {
	p, err := startProc(e.Dir, name, filepath.Join(e.bin, name), args...)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.procs[name] = p
	e.mu.Unlock()
	return nil
}

func (e *Env) proc(name string) *proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.procs[name]
}

func (e *Env) startEtcd(ctx context.Context) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	// etcd on tmpfs where there is one: fsyncs cost nothing and a test
	// control plane needs no durability past its process.
	data := filepath.Join(e.Dir, "etcd")
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "wake-kubetest-etcd-"); err == nil {
			data = d
			if err := os.Symlink(d, filepath.Join(e.Dir, "etcd")); err != nil {
				return err
			}
		}
	}
	e.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	if err := e.run("etcd",
		"--name=kubetest",
		"--data-dir="+data,
		"--listen-client-urls="+e.etcdURL,
		"--advertise-client-urls="+e.etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--listen-metrics-urls=",
	); err != nil {
		return err
	}
	return e.waitHTTP(ctx, "etcd", e.etcdURL+"/health", nil)
}

func (e *Env) apiServerArgs() []string {
	return []string{
		"--etcd-servers=" + e.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + itoa(e.apiPort),
		"--tls-cert-file=" + e.creds.servingCert,
		"--tls-private-key-file=" + e.creds.servingKey,
		"--cert-dir=" + filepath.Join(e.Dir, "apiserver-certs"),
		"--token-auth-file=" + e.creds.tokenFile,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + e.creds.saPub,
		"--service-account-signing-key-file=" + e.creds.saKey,
		// Service IPs are allocated but never dialed: nothing proxies them.
		"--service-cluster-ip-range=10.96.0.0/16",
		// The kubernetes Service would list 127.0.0.1, which Endpoints
		// refuse as loopback; nothing in the tests dials it.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		// The real node's name resolves nowhere: reach its kubelet (logs,
		// exec) at its InternalIP.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		// It taints new nodes not-ready until the node lifecycle controller,
		// which the harness does not run, lifts the taint.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--profiling=false",
	}
}

// startAPIServer starts kube-apiserver and waits until /readyz answers.
func (e *Env) startAPIServer(ctx context.Context) error {
	if err := e.run("kube-apiserver", e.apiServerArgs()...); err != nil {
		return err
	}
	return e.waitHTTP(ctx, "kube-apiserver", e.Server+"/readyz", e.Config)
}

func (e *Env) startControllers() error {
	kcmPort, err := freePort()
	if err != nil {
		return err
	}
	if err := e.run("kube-controller-manager",
		"--kubeconfig="+e.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+itoa(kcmPort),
		"--cert-dir="+filepath.Join(e.Dir, "kcm-certs"),
		"--leader-elect=false",
		"--service-account-private-key-file="+e.creds.saKey,
		"--root-ca-file="+e.creds.caCert,
		"--use-service-account-credentials=false",
		// The node's podCIDR is set by the harness, not allocated.
		"--allocate-node-cidrs=false",
		// Without a node lifecycle controller nothing marks the fake node
		// NotReady, taints it or marks its pods unready when KWOK's lease
		// renewals lapse, as they do for a minute after an API server
		// restart (seen here: every pod's endpoint went unready). Pods'
		// readiness is then KWOK's alone, as the tests expect.
		"--controllers=*,-node-lifecycle-controller",
		"--profiling=false",
	); err != nil {
		return err
	}
	schedPort, err := freePort()
	if err != nil {
		return err
	}
	if err := e.run("kube-scheduler",
		"--kubeconfig="+e.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+itoa(schedPort),
		"--leader-elect=false",
		"--profiling=false",
	); err != nil {
		return err
	}
	stages := filepath.Join(e.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return err
	}
	return e.run("kwok",
		"--config="+stages,
		"--kubeconfig="+e.Kubeconfig,
		// Not every node: the real node (realnode.go) has a kubelet of
		// its own. The fake one carries this annotation.
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		// Pods on nodes without a podCIDR would get IPs from here; ours
		// has one, but keep even the fallback local.
		"--cidr="+e.PodCIDR,
		"--node-ip=127.0.0.1",
	)
}

// createNode registers the fake node with its local pod CIDR and waits
// for KWOK to make it Ready.
func (e *Env) createNode(ctx context.Context) error {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("250"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: NodeName,
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName,
				"kubernetes.io/os":       "linux",
				"type":                   "kwok",
			},
			Annotations: map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: e.PodCIDR, PodCIDRs: []string{e.PodCIDR}},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res,
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		},
	}
	if _, err := e.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating node %s: %w", NodeName, err)
	}
	return e.poll(ctx, "node "+NodeName+" Ready", func() (bool, error) {
		n, err := e.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// RestartAPIServer stops kube-apiserver (SIGTERM, SIGKILL after 3 s) and
// starts it again on the same port with the same certificate, token and
// etcd, and returns once it is ready. Clients keep working after it: their
// next request reconnects. The harness's own controllers (controller
// manager, scheduler, KWOK) are restarted with it, see restartControllers.
func (e *Env) RestartAPIServer(t testing.TB) {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	began := time.Now()
	e.proc("kube-apiserver").stop(apiServerGrace)
	stopped := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := e.startAPIServer(ctx); err != nil {
		t.Fatalf("kubetest: restarting kube-apiserver: %v", err)
	}
	ready := time.Now()
	if err := e.restartControllers(); err != nil {
		t.Fatalf("kubetest: restarting the controllers: %v", err)
	}
	t.Logf("kubetest: kube-apiserver stopped in %v, ready again %v later; controllers restarted in %v",
		stopped.Sub(began).Round(time.Millisecond), ready.Sub(stopped).Round(time.Millisecond), time.Since(ready).Round(time.Millisecond))
}

// StopAPIServer stops kube-apiserver until StartAPIServer, for tests of
// what a component does while the API is away.
func (e *Env) StopAPIServer(t testing.TB) {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	e.proc("kube-apiserver").stop(apiServerGrace)
}

// StartAPIServer starts kube-apiserver again after StopAPIServer and
// returns once it is ready, restarting the harness's controllers as
// RestartAPIServer does.
func (e *Env) StartAPIServer(t testing.TB) {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if e.proc("kube-apiserver").alive() == nil {
		t.Fatalf("kubetest: StartAPIServer: kube-apiserver is running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := e.startAPIServer(ctx); err != nil {
		t.Fatalf("kubetest: starting kube-apiserver: %v", err)
	}
	if err := e.restartControllers(); err != nil {
		t.Fatalf("kubetest: restarting the controllers: %v", err)
	}
}

// restartControllers restarts kube-controller-manager, kube-scheduler and
// KWOK with the same flags. After an API server restart their informers
// come back only after a backoff that grows with every restart (here: 2 s
// after the first, 14 s after the second, over a minute after the fourth),
// and they are the harness, not what a test examines; fresh processes take
// about a second.
func (e *Env) restartControllers() error {
	for _, name := range []string{"kwok", "kube-scheduler", "kube-controller-manager"} {
		old := e.proc(name)
		old.stop(10 * time.Second)
		p, err := startProc(e.Dir, name, old.bin, old.args...)
		if err != nil {
			return err
		}
		e.mu.Lock()
		e.procs[name] = p
		e.mu.Unlock()
	}
	return nil
}

// stop ends every component, the API's clients first, etcd last; the
// real node, if one was started, goes before them all, while the API
// server can still tell its kubelet to stop its pods.
func (e *Env) stop() {
	e.nodeMu.Lock()
	if e.node != nil {
		e.node.stop()
		e.node = nil
	}
	e.nodeMu.Unlock()
	for _, name := range []string{"kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		if p := e.proc(name); p != nil {
			grace := 10 * time.Second
			if name == "kube-apiserver" {
				grace = apiServerGrace
			}
			p.stop(grace)
		}
	}
	if d, err := os.Readlink(filepath.Join(e.Dir, "etcd")); err == nil && strings.HasPrefix(d, "/dev/shm/") {
		os.RemoveAll(d)
	}
	if e.cidr != nil {
		e.cidr.release()
	}
}

// logTails prints the end of each component's log.
func (e *Env) logTails(t testing.TB) {
	t.Helper()
	for _, name := range append(components, "containerd", "kubelet") {
		if p := e.proc(name); p != nil {
			state := "running"
			if p.alive() != nil {
				state = "exited"
			}
			t.Logf("kubetest: %s (%s), last lines of %s:\n%s", name, state, p.logPath, tail(p.logPath, 15))
		}
	}
}

// waitHTTP polls url until it answers 200, failing early when the
// component exits. cfg, when set, supplies the token and CA.
func (e *Env) waitHTTP(ctx context.Context, name, url string, cfg *rest.Config) error {
	client := &http.Client{Timeout: 2 * time.Second}
	if cfg != nil {
		tc, err := rest.TransportFor(cfg)
		if err != nil {
			return err
		}
		client.Transport = tc
	} else {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{}}
	}
	defer client.CloseIdleConnections()
	p := e.proc(name)
	var last error
	for {
		if err := p.alive(); err != nil {
			return err
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v); its log:\n%s", name, ctx.Err(), last, tail(p.logPath, 30))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// poll calls cond every 50ms until it returns true or an error, or ctx ends.
func (e *Env) poll(ctx context.Context, what string, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		e.mu.Lock()
		procs := make([]*proc, 0, len(e.procs))
		for _, p := range e.procs {
			procs = append(procs, p)
		}
		e.mu.Unlock()
		for _, p := range procs {
			if err := p.crashed(); err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
