package kubetest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What the real node changes on this machine, and how it is put back:
// a bridge and a pod CIDR (locked, so that two test binaries never take
// the same), a cgroup root in every hierarchy, the mounts of its pods and
// images, and the kernel settings the kubelet insists on.

// nodeCIDRRange is where the real nodes' pod CIDRs come from: 10.218.N.0/24,
// away from the KWOK node's 198.18.0.0/15 (routed to lo, podcidr.go) and
// from the container runtime's 10.213.0.0/16 (runtime/container).
const nodeCIDRRange = "10.218.0.0/16"

// nodeNet is the network of one real node: its /24, the bridge named
// after it and the lock that holds both.
type nodeNet struct {
	index  int // N of 10.218.N.0/24
	cidr   string
	gw     string // N.1, the bridge's address and the node's IP
	bridge string
	lock   *os.File
	ip     string // the ip command
}

// acquireNodeNet locks a free /24 of nodeCIDRRange for the node whose
// files are in dir and makes its bridge with the gateway address on it
// (the CNI bridge plugin takes it over). The lock file names dir, so that
// the next holder can clean up after a test binary that was killed.
func acquireNodeNet(dir string) (*nodeNet, error) {
	ipCmd, err := findIP()
	if err != nil {
		return nil, err
	}
	for i := range 256 {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("wake-kubetest-nodecidr-10.218.%d.lock", i))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		prev, _ := io.ReadAll(f)
		if len(prev) > 0 {
			sweepStaleNode(string(prev), fmt.Sprintf("/wake-kubetest-%d", i))
		}
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt([]byte(dir), 0)
		}
		n := &nodeNet{index: i, cidr: fmt.Sprintf("10.218.%d.0/24", i), gw: fmt.Sprintf("10.218.%d.1", i),
			bridge: fmt.Sprintf("wkt%d", i), lock: f, ip: ipCmd}
		// A bridge left by a test binary that was killed goes first.
		_ = exec.Command(ipCmd, "link", "del", n.bridge).Run()
		for _, args := range [][]string{
			{"link", "add", n.bridge, "type", "bridge"},
			{"addr", "add", n.gw + "/24", "dev", n.bridge},
			{"link", "set", n.bridge, "up"},
		} {
			if out, err := exec.Command(ipCmd, args...).CombinedOutput(); err != nil {
				n.release()
				return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
			}
		}
		return n, nil
	}
	return nil, errors.New("no free pod CIDR in " + nodeCIDRRange)
}

// release removes the bridge and unlocks the CIDR. The lock file keeps
// naming the node's dir; the next holder finds nothing left to sweep.
func (n *nodeNet) release() {
	_ = exec.Command(n.ip, "link", "del", n.bridge).Run()
	n.lock.Close()
}

// sweepStaleNode cleans up after a real node whose test binary was killed
// before it could stop the node (a `go test -timeout`, say): its kubelet
// and containerd died with it (parent-death signal), but its pods'
// processes, their shims, its mounts and cgroups stay. Only what carries
// that node's dir or cgroup root is touched.
func sweepStaleNode(dir, cgroupRoot string) {
	if !strings.HasPrefix(dir, os.TempDir()) || !strings.Contains(dir, "wake-kubetest-") {
		return // not a dir this harness made
	}
	var pids []int
	hier, _ := cgroupHierarchies()
	for _, h := range hier {
		_ = filepath.WalkDir(filepath.Join(h, cgroupRoot), func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	// The pods' network namespaces, which containerd bind-mounts in
	// /var/run/netns and which keep their veths on the host: those a
	// process of the node is in.
	podNets := map[uint64]bool{}
	for _, pid := range pids {
		var st syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) == nil {
			podNets[st.Ino] = true
		}
	}
	if nets, err := os.ReadDir("/var/run/netns"); err == nil {
		for _, ne := range nets {
			p := filepath.Join("/var/run/netns", ne.Name())
			var st syscall.Stat_t
			if syscall.Stat(p, &st) == nil && podNets[st.Ino] {
				_ = syscall.Unmount(p, syscall.MNT_DETACH)
				_ = os.Remove(p)
			}
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// The shims of its containers: containerd-shim-runc-v2 ... -address
	// DIR/containerd/containerd.sock.
	procs, _ := os.ReadDir("/proc")
	for _, pe := range procs {
		pid, err := strconv.Atoi(pe.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", pe.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if !strings.HasSuffix(args[0], "containerd-shim-runc-v2") {
			continue
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && strings.HasPrefix(args[i+1], dir+"/") {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for range 20 { // killed processes leave their cgroups within moments
		unmountUnder(dir)
		removeCgroupRoot(cgroupRoot)
		if !cgroupRootExists(cgroupRoot) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cgroupRootExists reports whether root is left in any hierarchy.
func cgroupRootExists(root string) bool {
	hier, _ := cgroupHierarchies()
	for _, h := range hier {
		if _, err := os.Stat(filepath.Join(h, root)); err == nil {
			return true
		}
	}
	return false
}

// cgroupHierarchies returns the mount points of the cgroup hierarchies
// (v1 controllers, and the v2 one where there is one).
func cgroupHierarchies() ([]string, error) {
	mounts, err := mountPoints(func(fstype string) bool { return fstype == "cgroup" || fstype == "cgroup2" })
	if err != nil {
		return nil, err
	}
	return mounts, nil
}

// makeCgroupRoot creates root (e.g. /wake-kubetest-3) in every hierarchy:
// the kubelet refuses a cgroup root that does not exist. A new cpuset
// cgroup starts with no CPUs and no memory nodes, so those are copied from
// the parent.
func makeCgroupRoot(root string) error {
	hier, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	removeCgroupRoot(root) // left by a test binary that was killed
	for _, h := range hier {
		dir := filepath.Join(h, root)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			b, err := os.ReadFile(filepath.Join(h, f))
			if err != nil {
				continue // not the cpuset hierarchy
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				return fmt.Errorf("setting %s of cgroup %s: %w", f, dir, err)
			}
		}
	}
	return nil
}

// removeCgroupRoot removes root and every cgroup under it, deepest first,
// in every hierarchy. A cgroup that still has processes stays.
func removeCgroupRoot(root string) {
	hier, err := cgroupHierarchies()
	if err != nil {
		return
	}
	for _, h := range hier {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, root), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			_ = syscall.Rmdir(d)
		}
	}
}

// unmountUnder detaches every mount at or below dir, deepest first: the
// kubelet's volumes, containerd's rootfs and shm mounts.
func unmountUnder(dir string) {
	mounts, err := mountPoints(nil)
	if err != nil {
		return
	}
	var under []string
	for _, m := range mounts {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			under = append(under, m)
		}
	}
	sort.Slice(under, func(i, j int) bool { return len(under[i]) > len(under[j]) })
	for _, m := range under {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

// mountPoints returns the mount points of this mount namespace whose
// filesystem type keep accepts (all, for nil), from /proc/self/mountinfo.
func mountPoints(keep func(fstype string) bool) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		fstype := ""
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				fstype = fields[i+1]
				break
			}
		}
		if keep != nil && !keep(fstype) {
			continue
		}
		out = append(out, unescapeMount(fields[4]))
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
