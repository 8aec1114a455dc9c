#!/bin/sh
# install-nginx.sh installs nginx from Debian's packages for `make bench`,
# which runs it as a reverse proxy to compare with wake. It is idempotent:
# it does nothing when an nginx binary is already on PATH or in /usr/sbin,
# and runs `apt-get update` only when the package lists are missing or
# older than a day.
set -eu

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
	exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi

lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
	$SUDO apt-get update -qq
fi
# nginx-light is the smaller build; plain nginx where a release lacks it.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx-light ||
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx
# The package starts a system nginx on port 80 where systemd runs; the
# harness starts its own, so stop that one if it is there.
if command -v systemctl >/dev/null 2>&1; then
	$SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
fi
