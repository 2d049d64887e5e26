#!/usr/bin/env bash
# Installs the Debian packages `make test`, `make demo` and `make bench` need
# beyond Go and the Go module proxy, when they are missing; the Makefile runs
# it before anything else, so the README's commands work on a fresh machine.
# As root it runs apt-get; otherwise it prints the command to run and fails.
#
# What needs what (a tool is looked up the way its user looks it up):
#   git              `make`'s version stamp (git describe); go build stamps VCS
#                    info from a clone and fails without git
#   make             the README's commands themselves (for .ci/run's first call)
#   ca-certificates  HTTPS to the Go module proxy (make tools)
#   chromium         kialiproxy's TestBrowserEmbedding (exec.LookPath("chromium");
#                    $CHROMIUM names another browser binary instead)
#   iproute2         `ip`: the network namespace tests and the demo run in
#
#   ci/deps.sh           install what is missing
#   ci/deps.sh --check   only report what is missing (exit 1 if anything is)
set -euo pipefail

check_only=false
[ "${1:-}" = "--check" ] && check_only=true

# has PACKAGE: whether what the package provides is there. Commands are
# looked up on PATH (a chromium from elsewhere counts), not in dpkg's
# database, so non-Debian machines with the tools pass too.
has() {
	case $1 in
	chromium) [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ] || command -v chromium >/dev/null ;;
	ca-certificates) [ -s /etc/ssl/certs/ca-certificates.crt ] ;;
	iproute2) command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] ;;
	*) command -v "$1" >/dev/null ;;
	esac
}

missing=()
for p in git make ca-certificates chromium iproute2; do
	has "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if $check_only; then
	echo "deps: missing ${missing[*]}; install with: $cmd" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	{
		echo "deps: missing Debian packages: ${missing[*]}"
		if command -v apt-get >/dev/null; then
			echo "deps: not root, so not installing them; run:"
			echo "  sudo sh -c '$cmd'"
		else
			echo "deps: no apt-get on this machine; install the equivalent of: ${missing[*]}"
		fi
		echo "deps: then run the make target again."
	} >&2
	exit 1
fi

echo "deps: apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
for p in "${missing[@]}"; do
	has "$p" || { echo "deps: $p still missing after apt-get install" >&2; exit 1; }
done
