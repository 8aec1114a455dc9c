#!/usr/bin/env bash
# kube-testenv.sh builds the binaries of the real Kubernetes control plane
# that internal/kubetest starts for tests (issue 8): etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl and kwok. KWOK plays the
# kubelet of a fake node: it makes nodes and pods Ready, and everything else
# is the real thing. It also makes sure `ip` (iproute2) is there: the
# harness routes its pod CIDR to lo.
#
# For the one real node beside it (issue 22, internal/kubetest/realnode.go)
# it builds the kubelet at the same version and, as root, installs
# containerd, runc and the CNI plugins from Debian (hack/install-containerd.sh).
# A real kubelet runs on the test machines (Firecracker VMs, cgroup v1, root
# without CAP_SYS_RESOURCE) with: the cgroupfs driver under a cgroup root of
# its own, failSwapOn false, oomScoreAdj 0 (root may not lower its score
# to the default -999, which the kubelet would only log), containerd's
# restrict_oom_score_adj (else CRI cannot start the pause container, which
# asks for -998), and a sandbox image built locally, since no registry is
# reachable. It sets vm.overcommit_memory, kernel.panic and
# kernel.panic_on_oops at its start; the harness puts them back after.
#
# The binaries go into a cache OUTSIDE the work tree and the script prints
# that bin dir on stdout (progress goes to stderr):
#
#   ${WAKE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wake/kube-testenv}/bin
#
# It is idempotent: every step writes a stamp naming what it built, and a
# step whose stamp and binaries are there is skipped, so a second run takes
# about a second. Two runs at once serialise on a lock file (flock) instead
# of building over each other.
#
# Costs on a 2-core machine (measured): kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl from the
# k8s.io/kubernetes module, 22 minutes cold with other builds sharing the
# cores (one `go build`, sharing most packages; about 10 alone); kwok about
# 5 minutes; etcd is Debian's etcd-server 3.4 (seconds), or with
# WAKE_KUBE_ETCD=source (or when apt cannot install it) etcd 3.6 built from
# the module proxy (77 s). 27 minutes in all from nothing; 0.1 s cached.
# The kubelet after them: 66 s, most of its packages being built already
# for the others; alone from an empty Go build cache, 15 minutes (913 s,
# at nice 19 on 2 cores that other builds kept at a load of 6 to 13).
#
# Environment:
#   WAKE_KUBE_CACHE     the cache dir (default above)
#   WAKE_KUBE_VERSION   the Kubernetes release (default v1.33.4)
#   WAKE_KUBE_ETCD      "apt" (default) or "source"
set -euo pipefail

KUBE_VERSION=${WAKE_KUBE_VERSION:-v1.33.4}
# The staging modules (k8s.io/api, k8s.io/client-go, ...) are tagged
# v0.MINOR.PATCH for the release v1.MINOR.PATCH.
STAGING_VERSION=v0.${KUBE_VERSION#v1.}
KWOK_VERSION=v0.8.0
ETCD_VERSION=v3.6.5
CACHE=${WAKE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wake/kube-testenv}
BIN=$CACHE/bin
export PATH="/usr/local/go/bin:$PATH"

log() { echo "kube-testenv: $*" >&2; }

mkdir -p "$BIN" "$CACHE/src"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
	log "another kube-testenv.sh holds $CACHE/.lock; waiting for it"
	flock 9
fi

# stamped NAME WANT BINARIES... is true when the stamp of step NAME says WANT
# and every binary is there.
stamped() {
	local name=$1 want=$2
	shift 2
	[ "$(cat "$BIN/.stamp-$name" 2>/dev/null)" = "$want" ] || return 1
	for b in "$@"; do
		[ -x "$BIN/$b" ] || return 1
	done
}
stamp() { echo "$2" >"$BIN/.stamp-$1"; }

# The builds below are their own modules: no workspace, no -race or -tags
# from the caller, and go.mod may be completed from the proxy.
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

# ---- etcd ----------------------------------------------------------------

etcd_from_source() {
	local src=$CACHE/src/etcd-$ETCD_VERSION
	mkdir -p "$src"
	cat >"$src/go.mod" <<EOF
module wake.local/kube-testenv/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
	cat >"$src/main.go" <<'EOF'
// Command etcd is etcd's own main, built from the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
	log "building etcd $ETCD_VERSION from the module proxy (about 75 s)"
	(cd "$src" && go mod tidy && go build -o "$BIN/etcd.new" .)
	mv -f "$BIN/etcd.new" "$BIN/etcd"
	stamp etcd "source $ETCD_VERSION"
}

etcd_from_apt() {
	if [ ! -x /usr/bin/etcd ]; then
		local sudo=
		[ "$(id -u)" = 0 ] || sudo=sudo
		log "installing Debian's etcd-server"
		if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
			$sudo apt-get update -qq >&2 || return 1
		fi
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends etcd-server >&2 || return 1
		# The package starts a system etcd where systemd runs; the harness
		# starts its own on free ports.
		if command -v systemctl >/dev/null 2>&1; then
			$sudo systemctl disable --now etcd >/dev/null 2>&1 || true
		fi
	fi
	/usr/bin/etcd --version >/dev/null 2>&1 || return 1
	ln -sfn /usr/bin/etcd "$BIN/etcd"
	stamp etcd "apt"
}

case ${WAKE_KUBE_ETCD:-apt} in
source)
	stamped etcd "source $ETCD_VERSION" etcd || etcd_from_source
	;;
*)
	if ! stamped etcd apt etcd && ! stamped etcd "source $ETCD_VERSION" etcd; then
		etcd_from_apt || {
			log "Debian's etcd-server is not installable here; building etcd instead"
			etcd_from_source
		}
	fi
	;;
esac

# ---- iproute2 -------------------------------------------------------------
# internal/kubetest routes its pod CIDR to lo with `ip route` (pod IPs may
# not be loopback addresses: EndpointSlices refuse them).
if ! command -v ip >/dev/null 2>&1 && [ ! -x /usr/sbin/ip ] && [ ! -x /sbin/ip ]; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	log "installing Debian's iproute2"
	if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
		$sudo apt-get update -qq >&2 || true
	fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends iproute2 >&2 ||
		log "could not install iproute2; the Kubernetes tests will say so"
fi

# ---- kube-apiserver, kube-controller-manager, kube-scheduler, kubectl ------

KUBE_BINS="kube-apiserver kube-controller-manager kube-scheduler kubectl"
if ! stamped kube "$KUBE_VERSION" $KUBE_BINS; then
	src=$CACHE/src/kubernetes-$KUBE_VERSION
	mkdir -p "$src"
	# k8s.io/kubernetes replaces its staging modules with ./staging/src/...,
	# which a dependent module cannot see: replace each with its tag. The
	# list is the replace block of kubernetes' own go.mod at this release.
	{
		echo "module wake.local/kube-testenv/kubernetes"
		echo
		echo "go 1.24"
		echo
		echo "require k8s.io/kubernetes $KUBE_VERSION"
		echo
		echo "replace ("
		for m in api apiextensions-apiserver apimachinery apiserver cli-runtime \
			client-go cloud-provider cluster-bootstrap code-generator \
			component-base component-helpers controller-manager cri-api \
			cri-client csi-translation-lib dynamic-resource-allocation \
			endpointslice externaljwt kms kube-aggregator \
			kube-controller-manager kube-proxy kube-scheduler kubectl kubelet \
			metrics mount-utils pod-security-admission sample-apiserver \
			sample-cli-plugin sample-controller; do
			echo "	k8s.io/$m => k8s.io/$m $STAGING_VERSION"
		done
		echo ")"
	} >"$src/go.mod"
	cat >"$src/tools.go" <<'EOF'
//go:build tools

// Package tools pins the commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
	minor=${KUBE_VERSION#v1.}
	minor=${minor%%.*}
	ldflags="-s -w"
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags="$ldflags -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
	done
	log "building $KUBE_BINS at $KUBE_VERSION (10 to 25 minutes cold)"
	start=$(date +%s)
	(
		cd "$src"
		go mod tidy >&2
		mkdir -p "$src/out"
		go build -ldflags "$ldflags" -o "$src/out/" \
			k8s.io/kubernetes/cmd/kube-apiserver \
			k8s.io/kubernetes/cmd/kube-controller-manager \
			k8s.io/kubernetes/cmd/kube-scheduler \
			k8s.io/kubernetes/cmd/kubectl >&2
	)
	for b in $KUBE_BINS; do
		mv -f "$src/out/$b" "$BIN/$b"
	done
	stamp kube "$KUBE_VERSION"
	log "built in $(($(date +%s) - start)) s"
fi

# ---- kubelet ---------------------------------------------------------------
# Built from the same module and go.mod as the control plane, so that it is
# the same release and shares the packages built above.

if ! stamped kubelet "$KUBE_VERSION" kubelet; then
	src=$CACHE/src/kubernetes-$KUBE_VERSION
	cat >"$src/tools-kubelet.go" <<'EOF'
//go:build tools

// Package tools pins the commands this module builds.
package tools

import _ "k8s.io/kubernetes/cmd/kubelet"
EOF
	minor=${KUBE_VERSION#v1.}
	minor=${minor%%.*}
	ldflags="-s -w"
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags="$ldflags -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
	done
	log "building kubelet at $KUBE_VERSION (about a minute after the control plane)"
	start=$(date +%s)
	(
		cd "$src"
		go mod tidy >&2
		mkdir -p "$src/out"
		go build -ldflags "$ldflags" -o "$src/out/" k8s.io/kubernetes/cmd/kubelet >&2
	)
	mv -f "$src/out/kubelet" "$BIN/kubelet"
	stamp kubelet "$KUBE_VERSION"
	log "built in $(($(date +%s) - start)) s"
fi

# ---- containerd, runc, CNI plugins -------------------------------------------
# Only as root: without root no container runs, and the real-node tests
# skip saying so.

if [ "$(id -u)" = 0 ]; then
	"$(dirname "$0")/install-containerd.sh" >&2 ||
		log "could not install containerd, runc and the CNI plugins; the real-node tests will skip, saying what is missing"
else
	log "not root: no containerd; the real-node tests will skip"
fi

# ---- kwok ----------------------------------------------------------------

if ! stamped kwok "$KWOK_VERSION" kwok; then
	log "installing kwok $KWOK_VERSION (3 to 5 minutes cold)"
	start=$(date +%s)
	GOBIN=$CACHE/src/kwok-out go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
	mv -f "$CACHE/src/kwok-out/kwok" "$BIN/kwok"
	stamp kwok "$KWOK_VERSION"
	log "built in $(($(date +%s) - start)) s"
fi

echo "$BIN"
