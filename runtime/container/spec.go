package container

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultCaps are the capabilities a container's processes keep: the
// default set of Docker and containerd, which images are built for.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// ociSpec is the OCI runtime config of an instance: its own pid, ipc,
// uts and mount namespaces, the network namespace the CNI plugins set up
// (netns), a cgroup below wake's group for it (cgroupsPath, whose parent
// holds the limits), the default capabilities, no new privileges, the
// usual masked and read-only paths of /proc, and a writable /tmp.
func ociSpec(s Spec, netns, cgroupsPath, resolvConf, hosts string) *specs.Spec {
	caps := append([]string(nil), defaultCaps...)
	if s.UID != 0 || s.NoCapabilities {
		// A non-root user gets no effective capabilities, as under Docker.
		caps = nil
	}
	allCaps := append([]string(nil), defaultCaps...)
	if s.NoCapabilities {
		allCaps = nil
	}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			User:            specs.User{UID: s.UID, GID: s.GID, AdditionalGids: s.Groups},
			Args:            s.Args,
			Env:             s.Env,
			Cwd:             s.Cwd,
			NoNewPrivileges: true,
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  allCaps,
				Permitted: caps,
				Effective: caps,
			},
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: s.ReadOnlyRoot},
		Hostname: s.Hostname,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
			{Destination: "/etc/resolv.conf", Type: "bind", Source: resolvConf, Options: []string{"rbind", "ro"}},
			{Destination: "/etc/hosts", Type: "bind", Source: hosts, Options: []string{"rbind", "ro"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: cgroupsPath,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace, Path: netns},
			},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
				"/sys/firmware", "/sys/devices/virtual/powercap",
			},
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
		},
	}
}

// User resolves an image's or a manifest's user ("1000", "1000:1000",
// "app", "app:staff", "" for root) against the image's /etc/passwd and
// /etc/group, as container engines do.
func User(rootfs, user string) (uid, gid uint32, err error) {
	if user == "" {
		return 0, 0, nil
	}
	name, group, hasGroup := strings.Cut(user, ":")
	u, g, found, err := lookup(rootfs, "/etc/passwd", name)
	switch {
	case err != nil:
		return 0, 0, err
	case found:
		uid, gid = u, g
	default:
		n, perr := strconv.ParseUint(name, 10, 32)
		if perr != nil {
			return 0, 0, fmt.Errorf("user %q: not in the image's /etc/passwd", name)
		}
		uid, gid = uint32(n), uint32(n)
		if _, g, ok, _ := lookupUID(rootfs, uint32(n)); ok {
			gid = g
		}
	}
	if hasGroup {
		if g2, _, found, err := lookup(rootfs, "/etc/group", group); err == nil && found {
			gid = g2
		} else if n, perr := strconv.ParseUint(group, 10, 32); perr == nil {
			gid = uint32(n)
		} else {
			return 0, 0, fmt.Errorf("group %q: not in the image's /etc/group", group)
		}
	}
	return uid, gid, nil
}

// lookup finds name in a passwd- or group-format file of the image: its
// id (field 3) and, for passwd, its group (field 4).
func lookup(rootfs, file, name string) (id, gid uint32, found bool, err error) {
	err = scanIDs(rootfs, file, func(f []string) bool {
		if f[0] != name {
			return false
		}
		id, gid, found = parseIDs(f)
		return found
	})
	return id, gid, found, err
}

func lookupUID(rootfs string, uid uint32) (id, gid uint32, found bool, err error) {
	err = scanIDs(rootfs, "/etc/passwd", func(f []string) bool {
		if i, g, ok := parseIDs(f); ok && i == uid {
			id, gid, found = i, g, true
		}
		return found
	})
	return id, gid, found, err
}

func parseIDs(f []string) (id, gid uint32, ok bool) {
	n, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil {
		return 0, 0, false
	}
	id, gid = uint32(n), uint32(n)
	if len(f) > 3 {
		if g, err := strconv.ParseUint(f[3], 10, 32); err == nil {
			gid = uint32(g)
		}
	}
	return id, gid, true
}

func scanIDs(rootfs, file string, match func([]string) bool) error {
	p, err := securejoin.SecureJoin(rootfs, file)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 3 && match(fields) {
			return nil
		}
	}
	return sc.Err()
}

// writeEtc writes the files bind-mounted over the image's /etc/hosts and
// /etc/resolv.conf: the instance's own name, and the host's resolvers
// (without loopback ones, which mean nothing in another namespace).
func writeEtc(dir, hostname string) (resolv, hosts string, err error) {
	resolv, hosts = filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "hosts")
	var out strings.Builder
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
				continue
			}
			out.WriteString(line + "\n")
		}
	}
	if err := os.WriteFile(resolv, []byte(out.String()), 0o644); err != nil {
		return "", "", err
	}
	h := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"
	if err := os.WriteFile(hosts, []byte(h), 0o644); err != nil {
		return "", "", err
	}
	return resolv, hosts, nil
}
