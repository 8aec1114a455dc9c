// Package container runs instances of images: each in its own network
// namespace, mount of the image, and control group, under runc, the OCI
// runtime from Debian's package.
//
// wake lays out an OCI bundle per instance and runs `runc run` in the
// foreground as the instance's process: runc's exit is the container's,
// its stdout and stderr are the container's (no terminal, so runc passes
// them through), and the SIGTERM wake sends it is forwarded to the
// container. So runtime/process supervises a container exactly as it does
// a command (probes, warm-up, logs, backoff, drain), and this package owns
// only what is particular to images:
//
//   - the instance's root: an overlay of the unpacked image (shared by
//     every instance of the digest, never written) and a directory of its
//     own, removed with it; read-only when securityContext asks;
//   - its network: a namespace attached to the bridge Options.Bridge with
//     an address from Options.Subnet, by the CNI plugins bridge,
//     host-local and loopback through libcni;
//   - its limits: a control group (runtime/cgroup) holding the memory, CPU
//     and pids limits, runc's own group for the container below it, so
//     that a kill for the memory limit can be reported as OOMKilled;
//   - cleanup: every container, namespace and group a SIGKILLed wake left
//     is found and removed by the next New.
//
// Layout under Options.StateDir:
//
//	runc/                runc's state (its --root)
//	bundles/ID/          an instance's config.json, rootfs (overlay), upper, work, etc files
//	netns/ID             its network namespace
//	cni-cache/           the CNI plugins' results
package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/wakefn/wake/runtime/cgroup"
)

// Defaults of the Options fields left zero.
var (
	DefaultPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
)

const (
	DefaultSubnet = "10.213.0.0/16"
	DefaultBridge = "wake0"
	// ipamDir holds the addresses handed out on each bridge, shared by
	// every wake on the machine (host-local locks it), in a tmpfs so that
	// a reboot frees them.
	ipamDir = "/run/wake/ipam"
)

// Options configure an Engine.
type Options struct {
	// StateDir holds runc's state, the bundles and the namespaces. Required.
	StateDir string
	// Runc is the OCI runtime binary; "" means "runc" on PATH.
	Runc string
	// PluginDirs are searched for the CNI plugins; nil means
	// DefaultPluginDirs (Debian's and the usual upstream place).
	PluginDirs []string
	// Subnet is the instances' address range; "" means DefaultSubnet.
	Subnet string
	// Bridge is the host bridge the instances attach to; "" means
	// DefaultBridge.
	Bridge string
	// Logger gets a line per leftover removed. nil means none.
	Logger *zap.Logger
}

// Engine starts containers. Safe for concurrent use.
type Engine struct {
	opts Options
	runc string
	// cgroups is the parent of the instances' groups: wake/ and a hash of
	// the state directory, so that two wakes on one machine never remove
	// each other's.
	cgroups string
	net     *network
	log     *zap.Logger
	lock    *os.File // flock held while the engine is in use
}

// Close releases the engine's directory for the next one. Instances must
// have been cleaned up first.
func (e *Engine) Close() error {
	cgroup.Prune("wake")
	return e.lock.Close()
}

// New checks that this machine can run containers (root, runc, the CNI
// plugins, writable cgroups) and removes what a previous wake left in
// opts.StateDir. Its error says what is missing.
func New(opts Options) (*Engine, error) {
	if opts.StateDir == "" {
		return nil, errors.New("container engine: Options.StateDir is required")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("container engine: running images needs root (namespaces, mounts, cgroups)")
	}
	if opts.Runc == "" {
		opts.Runc = "runc"
	}
	runc, err := exec.LookPath(opts.Runc)
	if err != nil {
		return nil, fmt.Errorf("container engine: %w (Debian package runc; hack/install-containers.sh installs it)", err)
	}
	if opts.PluginDirs == nil {
		opts.PluginDirs = DefaultPluginDirs
	}
	if opts.Subnet == "" {
		opts.Subnet = DefaultSubnet
	}
	if opts.Bridge == "" {
		opts.Bridge = DefaultBridge
	}
	if err := cgroup.Available(); err != nil {
		return nil, fmt.Errorf("container engine: %w", err)
	}
	for _, d := range []string{"runc", "bundles"} {
		if err := os.MkdirAll(filepath.Join(opts.StateDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("container engine: %w", err)
		}
	}
	// One engine per directory: the next one removes what it finds.
	lock, err := os.OpenFile(filepath.Join(opts.StateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("container engine: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("container engine: %s is in use by another wake", opts.StateDir)
	}
	scope := cgroup.Scope(opts.StateDir)
	n, err := newNetwork(opts.StateDir, scope, filepath.Join(ipamDir, opts.Bridge), opts.PluginDirs, opts.Subnet, opts.Bridge)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("container engine: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	e := &Engine{opts: opts, runc: runc, net: n, log: log, cgroups: "wake/" + scope, lock: lock}
	e.removeLeftovers()
	cgroup.Prune("wake")
	return e, nil
}

// Spec is what an instance runs.
type Spec struct {
	// ID names the instance: its container, bundle, namespace and group.
	ID string
	// Rootfs is the unpacked image (runtime/image), shared and never written.
	Rootfs string
	// Args, Env and Cwd are the process, as the caller merged them from the
	// image's config and the manifest.
	Args []string
	Env  []string
	Cwd  string
	// UID, GID and Groups are the user it runs as (see User).
	UID, GID uint32
	Groups   []uint32
	// ReadOnlyRoot makes the root read-only (/tmp stays writable).
	ReadOnlyRoot bool
	// NoCapabilities drops every capability (capabilities.drop: [ALL]).
	NoCapabilities bool
	Hostname       string
	Limits         cgroup.Limits
}

// Instance is a prepared container. Cmd runs it; Cleanup, after Cmd has
// exited (or was never started), removes everything it held.
type Instance struct {
	// Cmd is `runc run` for the container, to be started by the caller
	// (with its stdout and stderr set) and waited for.
	Cmd *exec.Cmd
	// IP is the container's address on the bridge.
	IP net.IP

	e      *Engine
	id     string
	bundle string
	group  *cgroup.Group
}

// Prepare lays out the instance's bundle, group and network, and returns
// it with the runc command not started. On error nothing is left behind.
func (e *Engine) Prepare(ctx context.Context, s Spec) (inst *Instance, err error) {
	if s.ID == "" || strings.ContainsAny(s.ID, "/ ") {
		return nil, fmt.Errorf("container id %q: must be a non-empty name", s.ID)
	}
	in := &Instance{e: e, id: s.ID, bundle: filepath.Join(e.opts.StateDir, "bundles", s.ID)}
	defer func() {
		if err != nil {
			in.Cleanup()
		}
	}()
	if err := os.MkdirAll(in.bundle, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{"rootfs", "upper", "work"} {
		if err := os.MkdirAll(filepath.Join(in.bundle, d), 0o755); err != nil {
			return nil, err
		}
	}
	opts := "lowerdir=" + s.Rootfs + ",upperdir=" + filepath.Join(in.bundle, "upper") + ",workdir=" + filepath.Join(in.bundle, "work")
	if err := unix.Mount("overlay", filepath.Join(in.bundle, "rootfs"), "overlay", 0, opts); err != nil {
		return nil, fmt.Errorf("mounting the image (overlay): %w", err)
	}
	g, err := cgroup.New(e.cgroups, s.ID, s.Limits)
	if err != nil {
		return nil, err
	}
	in.group = g
	ip, err := e.net.add(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	in.IP = ip
	resolv, hosts, err := writeEtc(in.bundle, s.Hostname)
	if err != nil {
		return nil, err
	}
	spec := ociSpec(s, e.net.nsPath(s.ID), "/"+e.cgroups+"/"+s.ID+"/ctr", resolv, hosts)
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(in.bundle, "config.json"), b, 0o644); err != nil {
		return nil, err
	}
	in.Cmd = exec.Command(e.runc, "--root", filepath.Join(e.opts.StateDir, "runc"), "run",
		"--bundle", in.bundle, "--no-new-keyring", s.ID)
	return in, nil
}

// Kill SIGKILLs every process of the container. runc, whose child the
// container's init is not (it runs in its own session and pid namespace),
// then sees it exit and returns.
func (in *Instance) Kill() {
	if in.group != nil {
		_ = in.group.Kill(2 * time.Second)
	}
}

// OOMKilled says whether the container was killed for its memory limit.
func (in *Instance) OOMKilled() bool {
	return in.group != nil && in.group.MemoryLimit() > 0 && in.group.OOMKilled()
}

// Cleanup removes the container, its network, its group and its bundle.
// It is idempotent and reports only what it could not remove.
func (in *Instance) Cleanup() error {
	e := in.e
	var errs []error
	if err := e.runcQuiet("delete", "--force", in.id); err != nil && !strings.Contains(err.Error(), "does not exist") {
		errs = append(errs, err)
	}
	if in.group != nil {
		errs = append(errs, in.group.Kill(2*time.Second), in.group.Remove())
	} else {
		g := cgroup.Open(e.cgroups, in.id)
		errs = append(errs, g.Kill(2*time.Second), g.Remove())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	errs = append(errs, e.net.remove(ctx, in.id))
	cancel()
	rootfs := filepath.Join(in.bundle, "rootfs")
	if err := unix.Unmount(rootfs, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmounting %s: %w", rootfs, err))
	}
	if err := os.RemoveAll(in.bundle); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// runcTimeout bounds a short runc command (delete, kill).
const runcTimeout = 30 * time.Second

// runcQuiet runs a short runc command with its output in a file (never a
// pipe a container could inherit and hold open), within runcTimeout.
func (e *Engine) runcQuiet(args ...string) error {
	f, err := os.CreateTemp("", "wake-runc-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), runcTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.runc, append([]string{"--root", filepath.Join(e.opts.StateDir, "runc")}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(f.Name())
		return fmt.Errorf("runc %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Containers lists the ids of the containers runc knows in this engine's
// state: none once every instance is cleaned up.
func (e *Engine) Containers() []string {
	entries, _ := os.ReadDir(filepath.Join(e.opts.StateDir, "runc"))
	var ids []string
	for _, en := range entries {
		if en.IsDir() {
			ids = append(ids, en.Name())
		}
	}
	return ids
}

// removeLeftovers removes the containers, bundles, namespaces and groups
// a previous wake left (it was SIGKILLed: runc died with it, the
// containers did not).
func (e *Engine) removeLeftovers() {
	ids := map[string]bool{}
	for _, id := range e.Containers() {
		ids[id] = true
	}
	entries, _ := os.ReadDir(filepath.Join(e.opts.StateDir, "bundles"))
	for _, en := range entries {
		ids[en.Name()] = true
	}
	for _, id := range e.net.leftovers() {
		ids[id] = true
	}
	for _, id := range cgroup.List(e.cgroups) {
		ids[id] = true
	}
	for id := range ids {
		in := &Instance{e: e, id: id, bundle: filepath.Join(e.opts.StateDir, "bundles", id)}
		err := in.Cleanup()
		e.log.Info("removed a container left by a previous wake", zap.String("container", id), zap.Error(err))
	}
}
