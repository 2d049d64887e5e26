#!/usr/bin/env bash
# Builds the tools `make bench` compares meshbundle against — kustomize, yq and
# istioctl — from the Go module proxy into the same cache as ci/tools.sh
# (ci/toolcache.sh: keyed by tool, version, Go version, and for istioctl every
# module it is built from), and links them into $MESHBUNDLE_BIN. They are kept
# out of ci/tools.sh because only the benchmark needs them.
#
#   ci/bench/tools.sh            build what is missing (kustomize yq istioctl)
#   ci/bench/tools.sh NAME...    only these
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
label="bench tools"
# shellcheck source=ci/toolcache.sh
. "$repo/ci/toolcache.sh"

# kustomize v5.8.2 is the newest release whose go.mod accepts go1.26 (v5.8.3
# needs go1.27); yq v4.54.3 likewise.
KUSTOMIZE_VERSION=v5.8.2
YQ_VERSION=v4.54.3

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
