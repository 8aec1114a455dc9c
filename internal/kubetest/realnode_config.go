package kubetest

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
)

// The files the real node is started with, all under RealNode.Dir. What
// each setting is for is written beside it: every one that departs from a
// stock install is there because of this machine (a VM where root lacks
// CAP_SYS_RESOURCE, cgroup v1, no registry reachable) or because two test
// binaries may each run a real node at once.

// containerdConfig is containerd 1.6's config (version 2) for the node.
// Everything it writes lives under dir, so that nothing outlives the node
// and two nodes never share state; only the netns bind mounts
// (/var/run/netns) and the shims' sockets (/run/containerd/s) are at
// containerd's fixed paths, under unique names.
func (n *RealNode) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q

[plugins."io.containerd.grpc.v1.cri"]
  # No registry is reachable from here: the sandbox image is built by the
  # harness (internal/kubetest/pause) and served by its own registry.
  sandbox_image = %[5]q
  # Root lacks CAP_SYS_RESOURCE on the test machines, so no process may
  # lower an oom_score_adj. Unrestricted, every sandbox fails (the pause
  # container asks for -998): "RunPodSandbox ... failed to create shim
  # task: OCI runtime create failed: runc create failed: unable to start
  # container process: can't get final child's PID from pipe: EOF".
  # Restricted, containerd raises each request to its own score (0).
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # The kubelet's cgroup driver is cgroupfs (no systemd here).
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[7]q
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    # hosts.toml per registry, read at every pull: the harness's registry
    # on 127.0.0.1:PORT is plain HTTP.
    config_path = %[8]q
`,
		filepath.Join(n.Dir, "containerd", "root"),
		filepath.Join(n.Dir, "containerd", "state"),
		n.socket,
		filepath.Join(n.Dir, "containerd", "opt"),
		n.pauseImage,
		n.cniBin,
		filepath.Join(n.Dir, "cni", "net.d"),
		filepath.Join(n.Dir, "containerd", "certs.d"),
	)
}

// hostsTOML lets containerd pull from a registry at host (host:port) over
// plain HTTP.
func hostsTOML(host string) string {
	return fmt.Sprintf(`server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
`, host)
}

// cniConfig is the node's pod network: a bridge of its own with the
// gateway address on it, so that this machine reaches every pod IP
// directly. No masquerading (no iptables rules to leave behind): pods
// talk to this machine and to each other, which is all the tests need.
func (n *RealNode) cniConfig() string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }]
}
`, "wake-kubetest-"+n.net.bridge, n.net.bridge, n.PodCIDR, n.IP, filepath.Join(n.Dir, "cni", "ipam"))
}

// kubeletConfig is the KubeletConfiguration of the node.
func (n *RealNode) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The API server reaches the kubelet (logs, exec) on the node's IP, the
# bridge's own address; nothing else can.
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
# The API server calls the kubelet without a client certificate here.
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
# No systemd: cgroupfs, under a cgroup root of this node's own (cgroup
# v1: cpu, cpuacct, cpuset, memory, pids, devices, freezer, blkio).
cgroupDriver: cgroupfs
cgroupRoot: %[4]s
failSwapOn: false
# The kubelet lowers its own oom_score_adj to -999 by default, which root
# may not do here (no CAP_SYS_RESOURCE): it would only log "Failed to
# ApplyOOMScoreAdj ... permission denied". Keep the score it has.
oomScoreAdj: 0
containerRuntimeEndpoint: unix://%[5]s
podLogsDir: %[6]s
registerWithTaints:
- key: %[7]s
  value: "true"
  effect: NoSchedule
serializeImagePulls: false
# A shared test machine's disk and memory are not this node's to guard:
# evict only when they are truly exhausted.
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
  nodefs.inodesFree: 1%%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 2s
rotateCertificates: false
`, n.IP, n.kubeletPort, n.healthzPort, n.cgroupRoot, n.socket, filepath.Join(n.Dir, "pod-logs"), RealNodeTaintKey)
}

// writeKubeletKubeconfig writes the kubelet's kubeconfig: the test CA and
// the node's token (user system:node:RealNodeName).
func (n *RealNode) writeKubeletKubeconfig(path string) error {
	e := n.e
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: kubetest
  context:
    cluster: kubetest
    user: %s
current-context: kubetest
`, e.Server, base64.StdEncoding.EncodeToString(e.creds.caPEM), RealNodeName, e.creds.nodeToken, RealNodeName)
	return os.WriteFile(path, []byte(cfg), 0o600)
}
