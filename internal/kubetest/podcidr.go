package kubetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Why pod IPs are not on 127.0.0.0/8: the API server refuses loopback
// addresses in EndpointSlices and Endpoints ("may not be in the loopback
// range"), so a node whose podCIDR is 127.x.y.0/24 gets Ready pods whose
// EndpointSlice never validates. The pod CIDR is a /24 of 198.18.0.0/15
// instead (RFC 2544, set aside for benchmarks and never routed on a real
// network), made local to this machine with an AnyIP route on lo:
//
//	ip route replace local 198.18.X.0/24 dev lo
//
// after which every address of the /24 can be bound and dialed here, like
// 127.0.0.0/8, and nothing sent to it leaves the machine. That takes
// CAP_NET_ADMIN (root in the sandbox and in CI). KWOK's default pod range,
// 10.0.0.0/24, is never used: the node carries the local CIDR.

// podCIDRRange is where the per-process pod CIDRs are taken from.
const podCIDRRange = "198.18.0.0/15"

// podCIDR is a pod CIDR this process holds: a lock file keeps other test
// binaries from picking the same /24 while this one runs.
type podCIDR struct {
	cidr string
	lock *os.File
	ip   string // the ip command
}

// acquirePodCIDR picks a free /24 of podCIDRRange, locks it and routes it
// to lo.
func acquirePodCIDR() (*podCIDR, error) {
	ipCmd, err := findIP()
	if err != nil {
		return nil, err
	}
	for range 64 {
		n := rand.IntN(512)
		cidr := fmt.Sprintf("198.%d.%d.0/24", 18+n/256, n%256)
		path := filepath.Join(os.TempDir(), fmt.Sprintf("wake-kubetest-podcidr-198.%d.%d.lock", 18+n/256, n%256))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue // another test binary holds it
		}
		out, err := exec.Command(ipCmd, "route", "replace", "local", cidr, "dev", "lo").CombinedOutput()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("routing the pod CIDR %s to lo (ip route replace local %s dev lo): %v: %s; the harness needs CAP_NET_ADMIN (root)",
				cidr, cidr, err, strings.TrimSpace(string(out)))
		}
		return &podCIDR{cidr: cidr, lock: f, ip: ipCmd}, nil
	}
	return nil, errors.New("no free pod CIDR in " + podCIDRRange + " after 64 tries")
}

// release removes the route and the lock.
func (p *podCIDR) release() {
	_ = exec.Command(p.ip, "route", "del", "local", p.cidr, "dev", "lo").Run()
	p.lock.Close()
}

func findIP() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no ip command (Debian's iproute2) to route the pod CIDR to lo")
}
