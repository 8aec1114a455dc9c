package kubetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wakefn/wake/internal/imagebuild"
)

// RealNodeName is the Node the real kubelet registers as.
const RealNodeName = "real-node-0"

// RealNodeTaintKey is the key of the NoSchedule taint the real node
// registers with: pods land there only when they ask to (RealNode.Pin),
// so the KWOK tests' pods, whose images are never pulled, never do.
const RealNodeTaintKey = "wake.dev/real-node"

// RealNodeLabel is the label (with value "real") the real node carries,
// for nodeSelectors.
const RealNodeLabel = "wake.dev/node"

// errNotRoot is the one lack no setup script can mend: RealNode skips on
// it even under WAKE_KUBE_REQUIRED, which `make test` sets whenever the
// control plane could be built, root or not.
var errNotRoot = errors.New("a kubelet and containerd need root")

// realNodeTimeout bounds the start of the real node: containerd in about
// a second, the kubelet Ready in about 10 s here.
const realNodeTimeout = 2 * time.Minute

// RealNode is the one node of an Env where pods really run: a kubelet
// (hack/kube-testenv.sh builds it at the control plane's version) on
// containerd, runc and the CNI bridge plugin (Debian's packages), beside
// the KWOK node. It is started by Env.RealNode, on first use, and stopped
// with the control plane. Its fields are read-only.
type RealNode struct {
	// Name is the Node's name, RealNodeName.
	Name string
	// IP is the node's InternalIP: the address of its pod bridge on this
	// machine, where the kubelet listens.
	IP string
	// PodCIDR is where its pods' IPs come from, a /24 of 10.218.0.0/16;
	// this machine reaches every one of them through the bridge.
	PodCIDR string
	// Registry is host:port of a registry on 127.0.0.1 that the node
	// pulls from over plain HTTP: push a test's images there
	// (testimage.Push(t, node.Registry+"/NAME:TAG")).
	Registry string
	// Dir holds the node's files: containerd's and the kubelet's state,
	// configs and pod logs. Its logs are containerd.log and kubelet.log
	// in the Env's Dir.
	Dir string

	e           *Env
	net         *nodeNet
	registry    *httptest.Server
	socket      string
	pauseImage  string
	cniBin      string
	cgroupRoot  string
	kubeletPort int
	healthzPort int
	sysctls     *sysctlGuard
}

// RealNode returns the real node of this control plane, starting it on
// first use. It skips t where the machine cannot run one, saying what is
// missing: root (always a skip), the kubelet (hack/kube-testenv.sh),
// containerd, runc or the CNI plugins (hack/install-containerd.sh); those
// fail t under WAKE_KUBE_REQUIRED. A node that fails to start fails t with
// the end of its logs.
func (e *Env) RealNode(t testing.TB) *RealNode {
	t.Helper()
	e.nodeMu.Lock()
	defer e.nodeMu.Unlock()
	if e.node == nil && e.nodeErr == nil {
		began := time.Now()
		e.node, e.nodeErr = e.startRealNode()
		if e.nodeErr == nil {
			t.Logf("kubetest: real node %s Ready in %v (pods in %s, registry %s)", RealNodeName, time.Since(began).Round(time.Millisecond), e.node.PodCIDR, e.node.Registry)
		}
	}
	if errors.Is(e.nodeErr, errNotRoot) {
		t.Skipf("kubetest: no real node: %v", e.nodeErr)
	}
	if errors.Is(e.nodeErr, errEnvironment) {
		skipOrFail(t, "no real node: %v", e.nodeErr)
	}
	if e.nodeErr != nil {
		t.Fatalf("kubetest: starting the real node: %v", e.nodeErr)
	}
	return e.node
}

// Pin makes spec run on the real node: a nodeSelector for it and a
// toleration of its taint.
func (n *RealNode) Pin(spec *corev1.PodSpec) {
	if spec.NodeSelector == nil {
		spec.NodeSelector = map[string]string{}
	}
	spec.NodeSelector[RealNodeLabel] = "real"
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{
		Key: RealNodeTaintKey, Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule,
	})
}

// Ctr runs containerd's ctr against the node's containerd, in the
// namespace the kubelet's containers live in (k8s.io), and returns its
// output; `n.Ctr(ctx, "containers", "ls", "-q")` lists every container.
func (n *RealNode) Ctr(ctx context.Context, args ...string) (string, error) {
	ctr, err := lookTool("ctr")
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, ctr, append([]string{"--address", n.socket, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Containers returns the IDs of the containers containerd holds for the
// node's pods, sandboxes included (`ctr -n k8s.io containers ls -q`).
func (n *RealNode) Containers(ctx context.Context) ([]string, error) {
	out, err := n.Ctr(ctx, "containers", "ls", "-q")
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// lookTool finds a command on PATH or in the sbin dirs, which a test's
// PATH may lack.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("no %s on PATH", name)
}

// checkRealNodeHost returns an errEnvironment error naming what this
// machine lacks for a real node, and the CNI plugin dir.
func checkRealNodeHost(bin string) (cniBin string, err error) {
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%w (euid is %d)", errNotRoot, os.Geteuid())
	}
	if st, err := os.Stat(filepath.Join(bin, "kubelet")); err != nil || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: no kubelet in %s: run %s", errEnvironment, bin, setupCommand)
	}
	var missing []string
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc"} {
		if _, err := lookTool(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, d := range []string{"/usr/lib/cni", "/opt/cni/bin"} {
		if isExec(filepath.Join(d, "bridge")) && isExec(filepath.Join(d, "host-local")) && isExec(filepath.Join(d, "loopback")) {
			cniBin = d
			break
		}
	}
	if cniBin == "" {
		missing = append(missing, "the CNI plugins bridge, host-local and loopback (in /usr/lib/cni or /opt/cni/bin)")
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: no %s: run hack/install-containerd.sh (or %s)", errEnvironment, strings.Join(missing, ", "), setupCommand)
	}
	return cniBin, nil
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// startRealNode starts containerd and the kubelet and waits until the
// node is Ready. On failure it undoes what it did.
func (e *Env) startRealNode() (n *RealNode, err error) {
	cniBin, err := checkRealNodeHost(e.bin)
	if err != nil {
		return nil, err
	}
	n = &RealNode{Name: RealNodeName, Dir: filepath.Join(e.Dir, "node"), e: e, cniBin: cniBin}
	defer func() {
		if err != nil {
			n.stop()
			n = nil
		}
	}()
	for _, d := range []string{"containerd", "cni/net.d", "kubelet", "pod-logs"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o755); err != nil {
			return n, err
		}
	}
	if n.net, err = acquireNodeNet(n.Dir); err != nil {
		return n, fmt.Errorf("%w: %w", errEnvironment, err)
	}
	n.IP, n.PodCIDR = n.net.gw, n.net.cidr
	n.cgroupRoot = fmt.Sprintf("/wake-kubetest-%d", n.net.index)
	n.socket = filepath.Join(n.Dir, "containerd", "containerd.sock")
	if n.kubeletPort, err = freePort(); err != nil {
		return n, err
	}
	if n.healthzPort, err = freePort(); err != nil {
		return n, err
	}

	n.registry = httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	n.Registry = strings.TrimPrefix(n.registry.URL, "http://")
	if n.pauseImage, err = n.pushPause(); err != nil {
		return n, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), realNodeTimeout)
	defer cancel()
	if err := n.startContainerd(ctx); err != nil {
		return n, err
	}
	if err := makeCgroupRoot(n.cgroupRoot); err != nil {
		return n, err
	}
	if err := n.startKubelet(ctx); err != nil {
		return n, err
	}
	return n, nil
}

// pushPause builds the sandbox image (internal/kubetest/pause) and pushes
// it to the node's registry.
func (n *RealNode) pushPause() (string, error) {
	bin := filepath.Join(n.Dir, "pause")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/wakefn/wake/internal/kubetest/pause")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the pause image's binary: %v: %s", err, out)
	}
	img, err := imagebuild.Image([]imagebuild.File{{Path: "/pause", Source: bin, Mode: 0o755}},
		v1.Config{Entrypoint: []string{"/pause"}, WorkingDir: "/"}, runtime.GOARCH)
	if err != nil {
		return "", err
	}
	ref := n.Registry + "/kubetest/pause:1"
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	return ref, nil
}

func (n *RealNode) startContainerd(ctx context.Context) error {
	certs := filepath.Join(n.Dir, "containerd", "certs.d", n.Registry)
	if err := os.MkdirAll(certs, 0o755); err != nil {
		return err
	}
	files := map[string]string{
		filepath.Join(certs, "hosts.toml"):                           hostsTOML(n.Registry),
		filepath.Join(n.Dir, "containerd", "config.toml"):            n.containerdConfig(),
		filepath.Join(n.Dir, "cni", "net.d", "10-kubetest.conflist"): n.cniConfig(),
	}
	for p, data := range files {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
	}
	containerd, err := lookTool("containerd")
	if err != nil {
		return err
	}
	p, err := startProc(n.e.Dir, "containerd", containerd, "--config", filepath.Join(n.Dir, "containerd", "config.toml"))
	if err != nil {
		return err
	}
	n.e.mu.Lock()
	n.e.procs["containerd"] = p
	n.e.mu.Unlock()
	return n.e.poll(ctx, "containerd's socket", func() (bool, error) {
		c, err := net.Dial("unix", n.socket)
		if err != nil {
			return false, nil
		}
		c.Close()
		return true, nil
	})
}

func (n *RealNode) startKubelet(ctx context.Context) error {
	kubeconfig := filepath.Join(n.Dir, "kubelet.kubeconfig")
	if err := n.writeKubeletKubeconfig(kubeconfig); err != nil {
		return err
	}
	config := filepath.Join(n.Dir, "kubelet.yaml")
	if err := os.WriteFile(config, []byte(n.kubeletConfig()), 0o644); err != nil {
		return err
	}
	var err error
	if n.sysctls, err = guardSysctls(); err != nil {
		return err
	}
	p, err := startProc(n.e.Dir, "kubelet", filepath.Join(n.e.bin, "kubelet"),
		"--config="+config,
		"--kubeconfig="+kubeconfig,
		"--root-dir="+filepath.Join(n.Dir, "kubelet"),
		"--hostname-override="+RealNodeName,
		"--node-ip="+n.IP,
		"--node-labels="+RealNodeLabel+"=real",
		// Only pins the image against the kubelet's image GC; containerd
		// starts sandboxes from its own sandbox_image.
		"--pod-infra-container-image="+n.pauseImage,
		"--v=2",
	)
	if err != nil {
		return err
	}
	n.e.mu.Lock()
	n.e.procs["kubelet"] = p
	n.e.mu.Unlock()
	return n.e.poll(ctx, "node "+RealNodeName+" Ready", func() (bool, error) {
		node, err := n.e.Client.CoreV1().Nodes().Get(ctx, RealNodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// stop ends the node's pods, the kubelet and containerd, and puts the
// machine back as it was: pods bound to the node are deleted (the
// kubelet stops their sandboxes, which tears their network down), then
// what is left in containerd is killed and removed with ctr, the
// processes stop, and their mounts, cgroups, bridge and kernel settings
// go.
func (n *RealNode) stop() {
	e := n.e
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if kubelet := e.proc("kubelet"); kubelet != nil && kubelet.alive() == nil {
		pods, err := e.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + RealNodeName})
		if err == nil {
			for _, p := range pods.Items {
				_ = e.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
			}
		}
		// The kubelet stops the sandboxes of the pods it was told about.
		for ctx.Err() == nil {
			out, err := n.Ctr(ctx, "tasks", "ls", "-q")
			if err != nil || strings.TrimSpace(out) == "" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		kubelet.stop(10 * time.Second)
	}
	if c := e.proc("containerd"); c != nil && c.alive() == nil {
		if out, err := n.Ctr(ctx, "tasks", "ls", "-q"); err == nil {
			for _, id := range strings.Fields(out) {
				_, _ = n.Ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
				_, _ = n.Ctr(ctx, "tasks", "delete", "--force", id)
			}
		}
		if ids, err := n.Containers(ctx); err == nil && len(ids) > 0 {
			_, _ = n.Ctr(ctx, append([]string{"containers", "delete"}, ids...)...)
		}
		c.stop(10 * time.Second)
	}
	if n.registry != nil {
		n.registry.Close()
	}
	unmountUnder(n.Dir)
	if n.cgroupRoot != "" {
		removeCgroupRoot(n.cgroupRoot)
	}
	if n.net != nil {
		n.net.release()
	}
	if n.sysctls != nil {
		n.sysctls.release()
	}
}
