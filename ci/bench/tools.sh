#!/usr/bin/env bash
# Builds the tools `make bench` compares meshbundle against — kustomize, yq and
# istioctl — from the Go module proxy into a cache keyed like ci/tools.sh does
# (tool, version, Go version, and for istioctl every module it is built from),
# and links them into $MESHBUNDLE_BIN. ci/tools.sh (the test harness tools) is
# not touched: these binaries are only needed by the benchmark.
#
#   ci/bench/tools.sh            build what is missing (kustomize yq istioctl)
#   ci/bench/tools.sh NAME...    only these
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${MESHBUNDLE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshbundle/tools}
bin=${MESHBUNDLE_BIN:-$repo/.tools/bin}
mkdir -p "$cache" "$bin"

# kustomize v5.8.2 is the newest release whose go.mod accepts go1.26 (v5.8.3
# needs go1.27); yq v4.54.3 likewise.
KUSTOMIZE_VERSION=v5.8.2
YQ_VERSION=v4.54.3

# build NAME KEYPARTS... -- COMMAND...: as in ci/tools.sh.
build() {
	local name=$1; shift
	local keyparts=()
	while [ "$1" != "--" ]; do keyparts+=("$1"); shift; done
	shift
	local key
	key=$( { go version; printf '%s\n' "${*//$repo/REPO}"; cat "${keyparts[@]}"; } | sha256sum | cut -c1-16)
	local dir=$cache/$name/$key
	if [ ! -x "$dir/$name" ]; then
		echo "bench tools: building $name ($key)" >&2
		local start=$SECONDS
		rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
		out=$dir.tmp "$@"
		rm -rf "$dir" && mv "$dir.tmp" "$dir"
		echo "bench tools: built $name in $((SECONDS - start))s" >&2
	fi
	ln -sfn "$dir/$name" "$bin/$name"
}

depsfile() { # as in ci/tools.sh: every module@version PACKAGE is built from
	local f=$cache/.deps-${2//\//_}
	(cd "$1" && go list -deps -f '{{with .Module}}{{.Path}}@{{.Version}}{{end}}' "$2" | sort -u) >"$f"
	echo "$f"
}

build_kustomize() {
	build kustomize /dev/null -- bash -c \
		"GOBIN=\"\$out\" GOFLAGS=-trimpath go install -ldflags '-s -w' sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" "$KUSTOMIZE_VERSION"
}

build_yq() {
	build yq /dev/null -- bash -c \
		"GOBIN=\"\$out\" GOFLAGS=-trimpath go install -ldflags '-s -w' github.com/mikefarah/yq/v4@$YQ_VERSION" "$YQ_VERSION"
}

build_istioctl() {
	# ci/bench/istioctl is its own module (istioctl needs modules meshbundle
	# does not); its go.mod pins the same istio.io/istio as the main go.mod.
	# Stamped like a released istioctl with the images meshbundle pins
	# (installer/images.go), so both installs render the same images.
	local dir=$repo/ci/bench/istioctl hub tag
	hub=$(sed -n 's/^[[:space:]]*PinnedHub *= *"\(.*\)"/\1/p' "$repo/installer/images.go")
	tag=$(sed -n 's/^[[:space:]]*PinnedTag *= *"\(.*\)"/\1/p' "$repo/installer/images.go")
	build istioctl "$(depsfile "$dir" istio.io/istio/istioctl/cmd/istioctl)" -- bash -c \
		"cd '$dir' && go build -trimpath -ldflags '-s -w -X istio.io/istio/pkg/version.buildHub=$hub \
		-X istio.io/istio/pkg/version.buildVersion=$tag -X istio.io/istio/pkg/version.buildTag=$tag' -o \"\$out/istioctl\" istio.io/istio/istioctl/cmd/istioctl"
}

all=(kustomize yq istioctl)
[ $# -gt 0 ] || set -- "${all[@]}"
for tool in "$@"; do
	case $tool in
	kustomize) build_kustomize ;;
	yq) build_yq ;;
	istioctl) build_istioctl ;;
	*) echo "bench tools: unknown tool $tool (want one of: ${all[*]})" >&2; exit 2 ;;
	esac
done
