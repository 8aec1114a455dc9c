#!/bin/sh
# install-containers.sh installs what wake needs to run image revisions as
# containers: runc (the OCI runtime) and the CNI plugins (bridge,
# host-local, loopback) from Debian's packages. It is idempotent: it does
# nothing when both are present, and runs `apt-get update` only when the
# package lists are missing or older than a day. It exits non-zero where
# containers cannot run at all (not root), so that `make test` knows to let
# the container tests skip rather than require them.
set -eu

if [ "$(id -u)" != 0 ]; then
	echo "install-containers: containers need root" >&2
	exit 1
fi
have_plugins() {
	for d in /usr/lib/cni /opt/cni/bin; do
		[ -x "$d/bridge" ] && [ -x "$d/host-local" ] && [ -x "$d/loopback" ] && return 0
	done
	return 1
}
if command -v runc >/dev/null 2>&1 && have_plugins && command -v iptables >/dev/null 2>&1; then
	exit 0
fi
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
	apt-get update -qq
fi
# iptables lets the bridge plugin masquerade containers' traffic to the
# host's network.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends runc containernetworking-plugins iptables >/dev/null
command -v runc >/dev/null 2>&1 && have_plugins
