#!/bin/sh
# install-containerd.sh installs what the real node of internal/kubetest
# needs beside the kubelet (which hack/kube-testenv.sh builds): runc, the
# CNI plugins and iptables through hack/install-containers.sh, and
# containerd (1.6 on Debian 12) from Debian's packages. The harness starts
# a containerd of its own, with its own config, state and socket, so the
# system service the package sets up is disabled where systemd runs. It is
# idempotent, runs `apt-get update` only when the package lists are missing
# or older than a day, and exits non-zero where containers cannot run at
# all (not root), so that callers let the real-node tests skip.
set -eu

here=$(dirname "$0")
"$here/install-containers.sh"
if command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 &&
	command -v containerd-shim-runc-v2 >/dev/null 2>&1; then
	exit 0
fi
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
	apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd >/dev/null
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now containerd >/dev/null 2>&1 || true
fi
command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1
