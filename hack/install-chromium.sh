#!/bin/sh
# install-chromium.sh installs Debian's Chromium for the console's browser
# test (e2e/console_test.go drives it headless through chromedp). It is
# idempotent: it does nothing when /usr/bin/chromium (or $WAKE_CHROMIUM)
# is there already, and runs `apt-get update` only when the package lists
# are missing or older than a day. It exits non-zero when it cannot
# install, and make test then lets that test skip.
set -eu

if [ -n "${WAKE_CHROMIUM:-}" ] && [ -x "$WAKE_CHROMIUM" ]; then
	exit 0
fi
if [ -x /usr/bin/chromium ]; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: no apt-get here; install Chromium and set WAKE_CHROMIUM" >&2
	exit 1
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-chromium: not root and no sudo" >&2
		exit 1
	fi
	SUDO="sudo -n"
fi

lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
	$SUDO apt-get update -qq
fi
# A lock held by another apt (a machine's first-boot updates) is waited
# for rather than failed on.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
	-o DPkg::Lock::Timeout=300 chromium >/dev/null
test -x /usr/bin/chromium
