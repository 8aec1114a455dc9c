#!/usr/bin/env bash
# run.sh: the k6 scale-out acceptance test against a real `wake serve`.
#
# Builds wake and internal/testfn (no race detector), installs k6 with
# `go install` if it is missing, starts `wake serve` on free loopback ports
# with a temporary state directory, applies scaleout.yaml (initial-scale 0),
# runs scaleout.js against the data plane with the function's Host header,
# prints k6's summary, stops wake and exits with k6's exit code (99 when a
# threshold failed).
#
# Environment: RATE (default 200), DURATION (default 2m), K6 (a k6 binary
# to use instead of installing one), K6_SUMMARY_EXPORT (a file for k6's
# summary as JSON), KEEP=1 (keep the temporary directory and wake's log).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
cd "$root"

work=$(mktemp -d "${TMPDIR:-/tmp}/wake-k6.XXXXXX")
wake_pid=""
cleanup() {
	if [[ -n "$wake_pid" ]] && kill -0 "$wake_pid" 2>/dev/null; then
		kill -TERM "$wake_pid" 2>/dev/null || true
		for _ in $(seq 600); do kill -0 "$wake_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$wake_pid" 2>/dev/null || true
		wait "$wake_pid" 2>/dev/null || true
	fi
	if [[ "${KEEP:-}" == 1 ]]; then
		echo "k6: kept $work (wake's log: $work/wake.log)" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "k6: building wake and testfn in $work" >&2
go build -o "$work/wake" ./cmd/wake
mkdir -p "$work/fn"
go build -o "$work/fn/testfn" ./internal/testfn
cp "$here/scaleout.yaml" "$work/fn/"

k6=${K6:-}
if [[ -z "$k6" ]]; then
	k6="$(go env GOPATH)/bin/k6"
	if [[ ! -x "$k6" ]]; then
		if command -v k6 >/dev/null; then
			k6=$(command -v k6)
		else
			echo "k6: installing with go install go.k6.io/k6@latest (a few minutes the first time)" >&2
			if ! go install go.k6.io/k6@latest; then
				echo "k6: go install go.k6.io/k6@latest failed (Go $(go env GOVERSION), GOPROXY=$(go env GOPROXY)); install k6 (https://k6.io) and set K6=/path/to/k6" >&2
				exit 2
			fi
		fi
	fi
fi
"$k6" version >&2

# wake serve picks free ports (:0) and says which in its first lines.
"$work/wake" serve --http 127.0.0.1:0 --admin 127.0.0.1:0 --state-dir "$work/state" >"$work/wake.log" 2>&1 &
wake_pid=$!
data="" admin=""
for _ in $(seq 600); do
	if line=$(grep -m1 -o 'functions on http://[^ ]* .*admin API on http://[^,]*' "$work/wake.log"); then
		data=$(sed -E 's|functions on http://([^ ]*) .*|\1|' <<<"$line")
		admin=$(sed -E 's|.*admin API on http://(.*)|\1|' <<<"$line")
		break
	fi
	kill -0 "$wake_pid" 2>/dev/null || { cat "$work/wake.log" >&2; echo "k6: wake serve exited at start" >&2; exit 2; }
	sleep 0.1
done
[[ -n "$data" ]] || { cat "$work/wake.log" >&2; echo "k6: wake serve did not listen within 60s" >&2; exit 2; }
echo "k6: wake serve: data plane $data, admin API $admin" >&2

export WAKE_STATE_DIR="$work/state" WAKE_SERVER="http://$admin"
"$work/wake" apply -f "$work/fn/scaleout.yaml" >&2
"$work/wake" get revisions >&2

status=0
"$k6" run --quiet \
	-e TARGET="http://$data" -e HOST=scaleout.default.localhost \
	-e RATE="${RATE:-200}" -e DURATION="${DURATION:-2m}" \
	${K6_SUMMARY_EXPORT:+--summary-export "$K6_SUMMARY_EXPORT"} \
	"$here/scaleout.js" || status=$?

echo "k6: after the run:" >&2
"$work/wake" get revisions >&2 || true
if [[ $status -ne 0 ]]; then
	echo "k6: exit status $status (99: a threshold failed); wake's log follows" >&2
	tail -n 50 "$work/wake.log" >&2
fi
exit "$status"
