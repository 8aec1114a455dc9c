package kubetest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// kubeletSysctls are the kernel settings the kubelet sets at its start
// unless protectKernelDefaults is on, in which case it refuses to start
// where they differ (pkg/kubelet/cm setupKernelTunables). The harness puts
// the machine's own back when the last real node on it stops: a test
// machine should not keep kernel.panic_on_oops=1 and kernel.panic=10,
// which reboot it on an oops.
var kubeletSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// sysctlGuard is one real node's hold on the machine's kernel settings.
// The first node to start saves them in a file; every running node holds
// a shared lock; the node that stops with no other running (it gets the
// lock exclusively) writes them back and removes the file. A test binary
// that was killed holds nothing and leaves the file, so the originals
// survive it: the next node keeps the file rather than save the
// kubelet's values over it.
type sysctlGuard struct {
	lock *os.File
}

func sysctlFiles() (lock, saved string) {
	return filepath.Join(os.TempDir(), "wake-kubetest-sysctl.lock"), filepath.Join(os.TempDir(), "wake-kubetest-sysctl.saved")
}

// guardSysctls saves the settings unless a saved copy is there, and
// holds them shared until release.
func guardSysctls() (*sysctlGuard, error) {
	lockPath, savedPath := sysctlFiles()
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", lockPath, err)
	}
	if _, err := os.Stat(savedPath); errors.Is(err, os.ErrNotExist) {
		var b strings.Builder
		for _, k := range kubeletSysctls {
			if v, err := os.ReadFile("/proc/sys/" + k); err == nil {
				fmt.Fprintf(&b, "%s=%s\n", k, strings.TrimSpace(string(v)))
			}
		}
		err := os.WriteFile(savedPath+".new", []byte(b.String()), 0o644)
		if err == nil {
			err = os.Rename(savedPath+".new", savedPath)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("saving the kernel settings the kubelet changes: %w", err)
		}
	}
	if err := syscall.Flock(fd, syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, err
	}
	return &sysctlGuard{lock: f}, nil
}

// release writes the saved settings back when no other real node runs.
func (g *sysctlGuard) release() {
	fd := int(g.lock.Fd())
	_ = syscall.Flock(fd, syscall.LOCK_UN)
	if syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		_, savedPath := sysctlFiles()
		if f, err := os.Open(savedPath); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.Contains(k, "..") {
					_ = os.WriteFile("/proc/sys/"+k, []byte(v+"\n"), 0o644)
				}
			}
			f.Close()
			_ = os.Remove(savedPath)
		}
	}
	g.lock.Close()
}
