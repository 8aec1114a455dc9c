package container

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"golang.org/x/sys/unix"
)

// network gives each instance a network namespace of its own, attached by
// Debian's CNI plugins (bridge with host-local addresses, and loopback) to
// a bridge on the host that wake reaches the instances through. With
// iptables present, one masquerade rule for the whole subnet, added once,
// lets the instances reach what the host reaches: the bridge plugin's own
// ipMasq would add and remove a chain per instance, several iptables runs
// on every cold start.
type network struct {
	cni     *libcni.CNIConfig
	list    *libcni.NetworkConfigList
	lo      *libcni.PluginConfig
	nsDir   string // named namespaces: bind mounts of nsfs
	scope   string // prefixed to instance ids for CNI, whose address pool every wake on the machine shares
	subnet  string
	bridge  string
	masq    bool
	pathEnv []string
}

func newNetwork(stateDir, scope, ipamDir string, pluginDirs []string, subnet, bridge string) (*network, error) {
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := findPlugin(pluginDirs, p); err != nil {
			return nil, err
		}
	}
	_, masqErr := exec.LookPath("iptables")
	n := &network{
		nsDir:  filepath.Join(stateDir, "netns"),
		scope:  scope,
		subnet: subnet,
		bridge: bridge,
		masq:   masqErr == nil,
	}
	if err := os.MkdirAll(n.nsDir, 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"wake","plugins":[{"type":"bridge","bridge":%q,"isGateway":true,"hairpinMode":true,"ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"dataDir":%q}}]}`,
		bridge, subnet, ipamDir)
	list, err := libcni.ConfListFromBytes([]byte(conf))
	if err != nil {
		return nil, fmt.Errorf("CNI config: %w", err)
	}
	lo, err := libcni.NetworkPluginConfFromBytes([]byte(`{"cniVersion":"1.0.0","name":"wake-lo","type":"loopback"}`))
	if err != nil {
		return nil, fmt.Errorf("CNI loopback config: %w", err)
	}
	n.list, n.lo = list, lo
	if n.masq {
		if err := masquerade(subnet); err != nil {
			return nil, err
		}
	}
	// An explicit exec: libcni would otherwise create one lazily, racing
	// between instances started at once.
	exec := &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}}
	n.cni = libcni.NewCNIConfigWithCacheDir(pluginDirs, filepath.Join(stateDir, "cni-cache"), exec)
	return n, nil
}

func findPlugin(dirs []string, name string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("CNI plugin %q not found in %v (Debian package containernetworking-plugins; hack/install-containers.sh installs it)", name, dirs)
}

func (n *network) nsPath(id string) string { return filepath.Join(n.nsDir, id) }

func (n *network) rtConf(id string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: n.scope + "-" + id, NetNS: n.nsPath(id), IfName: "eth0"}
}

// add creates the instance's namespace and attaches it; it returns the
// instance's address. On failure nothing is left behind.
func (n *network) add(ctx context.Context, id string) (net.IP, error) {
	if err := newNamespace(n.nsPath(id)); err != nil {
		return nil, fmt.Errorf("creating the network namespace: %w", err)
	}
	if _, err := n.cni.AddNetwork(ctx, n.lo, n.rtConf(id)); err != nil {
		n.remove(context.WithoutCancel(ctx), id)
		return nil, fmt.Errorf("CNI loopback: %w", err)
	}
	res, err := n.cni.AddNetworkList(ctx, n.list, n.rtConf(id))
	if err != nil {
		n.remove(context.WithoutCancel(ctx), id)
		return nil, fmt.Errorf("CNI bridge: %w", err)
	}
	r, err := current.NewResultFromResult(res)
	if err != nil || len(r.IPs) == 0 {
		n.remove(context.WithoutCancel(ctx), id)
		return nil, fmt.Errorf("CNI bridge gave no address (%v)", err)
	}
	return r.IPs[0].Address.IP, nil
}

// remove detaches and deletes the instance's namespace. It is idempotent:
// what is already gone is skipped.
func (n *network) remove(ctx context.Context, id string) error {
	var errs []error
	if _, err := os.Stat(n.nsPath(id)); err == nil {
		if err := n.cni.DelNetworkList(ctx, n.list, n.rtConf(id)); err != nil {
			errs = append(errs, fmt.Errorf("CNI bridge: %w", err))
		}
		if err := n.cni.DelNetwork(ctx, n.lo, n.rtConf(id)); err != nil {
			errs = append(errs, fmt.Errorf("CNI loopback: %w", err))
		}
	}
	if err := removeNamespace(n.nsPath(id)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// leftovers lists the namespaces a previous wake left.
func (n *network) leftovers() []string {
	entries, _ := os.ReadDir(n.nsDir)
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}

// newNamespace creates a network namespace and keeps it alive by a bind
// mount at path (as `ip netns add` does). The unshare happens on a thread
// locked for the purpose, which returns to wake's namespace after; if it
// cannot, the thread is left locked and Go ends it with the goroutine.
func newNamespace(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		tid := strconv.Itoa(unix.Gettid())
		err = unix.Mount("/proc/self/task/"+tid+"/ns/net", path, "", unix.MS_BIND, "")
		if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr == nil {
			goruntime.UnlockOSThread()
		}
		if err != nil {
			err = fmt.Errorf("bind mount: %w", err)
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

func removeNamespace(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// masquerade makes sure the nat table masquerades what leaves subnet for
// elsewhere: one rule, added if missing (iptables -C checks for it).
func masquerade(subnet string) error {
	rule := []string{"POSTROUTING", "-s", subnet, "!", "-d", subnet, "-m", "comment", "--comment", "wake instances", "-j", "MASQUERADE"}
	check := append([]string{"-w", "-t", "nat", "-C"}, rule...)
	if exec.Command("iptables", check...).Run() == nil {
		return nil
	}
	add := append([]string{"-w", "-t", "nat", "-A"}, rule...)
	if out, err := exec.Command("iptables", add...).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables %v: %v: %s", add, err, out)
	}
	return nil
}
