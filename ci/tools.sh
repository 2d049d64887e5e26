#!/usr/bin/env bash
# Builds the real components the tests run against, from the Go module proxy
# (this machine has no Docker and can download nothing else), into a cache keyed
# by tool, version and the exact sources that build it. A second run finds every
# key in the cache and only refreshes the links in $MESHBUNDLE_BIN.
#
#   ci/tools.sh            build what is missing (all tools)
#   ci/tools.sh NAME...    only these (kube-apiserver etcd kube-controller-manager
#                          kube-scheduler kwok helm helm4 pilot-discovery pilot-discovery-prev
#                          promtool staticcheck)
#
# Environment:
#   MESHBUNDLE_TOOLS_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/meshbundle/tools)
#   MESHBUNDLE_BIN          where links to the built binaries go (default <repo>/.tools/bin)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=ci/toolcache.sh
. "$repo/ci/toolcache.sh"

# Pinned versions. Kubernetes, etcd and the earlier Istio build are pinned by
# the go.mod files under ci/tools/; Helm and Istio by the main go.mod (so tests
# use what we ship).
KUBE_VERSION=v1.37.2
KWOK_VERSION=v0.8.0
STATICCHECK_VERSION=v0.8.2

kube_ldflags() {
	local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
	echo "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION" \
		"-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
		"-X k8s.io/component-base/version.gitTreeState=clean"
}

build_kube() { # kube-apiserver, kube-controller-manager, kube-scheduler
	local name=$1 dir=$repo/ci/tools/kube
	build "$name" "$dir/go.mod" "$dir/go.sum" "$dir/$name/main.go" -- \
		bash -c "cd '$dir' && go build -trimpath -ldflags '$(kube_ldflags)' -o \"\$out/$name\" ./$name"
}

build_etcd() {
	local dir=$repo/ci/tools/etcd
	build etcd "$dir/go.mod" "$dir/go.sum" "$dir/main.go" -- \
		bash -c "cd '$dir' && go build -trimpath -ldflags '-s -w' -o \"\$out/etcd\" ."
}

build_kwok() {
	# kwok's stage manifests (what a fake node and pod go through) ship in its
	# module; copy the ones the harness uses beside the binary.
	build kwok /dev/null -- bash -c "
		GOBIN=\"\$out\" GOFLAGS=-trimpath go install -ldflags '-s -w' sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION &&
		src=\$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage &&
		mkdir -p \"\$out/kwok-stages\" &&
		cp \$src/node/fast/node-initialize.yaml \$src/pod/fast/pod-ready.yaml \
		   \$src/pod/fast/pod-complete.yaml \$src/pod/fast/pod-delete.yaml \"\$out/kwok-stages/\" &&
		chmod -R u+w \"\$out/kwok-stages\"" "$KWOK_VERSION"
}

build_helm() {
	local v minor
	v=$(modversion "$repo" helm.sh/helm/v3)
	minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
	# Without the Kubernetes version stamp, `helm template` assumes v1.20 and
	# refuses charts that need a newer cluster (Istio's do).
	build helm "$(depsfile "$repo" helm.sh/helm/v3/cmd/helm)" -- bash -c "cd '$repo' && go build -trimpath -ldflags '-s -w \
		-X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
		-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
		-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor' \
		-o \"\$out/helm\" helm.sh/helm/v3/cmd/helm"
}

build_helm4() {
	# Helm 4 accepts only plugins as post-renderers; tests drive the real CLI.
	# It reads the Kubernetes version from its client-go build info.
	local v
	v=$(modversion "$repo" helm.sh/helm/v4)
	build helm4 "$(depsfile "$repo" helm.sh/helm/v4/cmd/helm)" -- bash -c "cd '$repo' && go build -trimpath -ldflags '-s -w \
		-X helm.sh/helm/v4/internal/version.version=$v -X helm.sh/helm/v4/internal/version.gitTreeState=clean' \
		-o \"\$out/helm4\" helm.sh/helm/v4/cmd/helm"
}

build_pilot() {
	build pilot-discovery "$(depsfile "$repo" istio.io/istio/pilot/cmd/pilot-discovery)" -- \
		bash -c "cd '$repo' && go build -trimpath -ldflags '-s -w' -o \"\$out/pilot-discovery\" istio.io/istio/pilot/cmd/pilot-discovery"
}

build_pilot_prev() {
	# An earlier Istio build (ci/tools/istio-prev/go.mod pins it) for the
	# upgrade e2e: its pilot-discovery, and its charts copied beside it
	# (istio-prev-charts, laid out like manifests/charts) for
	# `meshbundle install --charts`.
	local dir=$repo/ci/tools/istio-prev
	build pilot-discovery-prev "$dir/go.mod" "$dir/go.sum" -- bash -c "cd '$dir' &&
		go build -trimpath -ldflags '-s -w' -o \"\$out/pilot-discovery-prev\" istio.io/istio/pilot/cmd/pilot-discovery &&
		cp -R \"\$(go list -m -f '{{.Dir}}' istio.io/istio)/manifests/charts\" \"\$out/istio-prev-charts\" &&
		chmod -R u+w \"\$out/istio-prev-charts\""
}

build_promtool() {
	local v
	v=$(modversion "$repo" github.com/prometheus/prometheus)
	build promtool "$(depsfile "$repo" github.com/prometheus/prometheus/cmd/promtool)" -- \
		bash -c "cd '$repo' && go build -trimpath -ldflags '-s -w \
		-X github.com/prometheus/common/version.Version=$v' -o \"\$out/promtool\" github.com/prometheus/prometheus/cmd/promtool"
}

build_staticcheck() {
	build staticcheck /dev/null -- bash -c \
		"GOBIN=\"\$out\" go install honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" "$STATICCHECK_VERSION"
}

all=(etcd kube-apiserver kube-scheduler kube-controller-manager kwok helm helm4 pilot-discovery pilot-discovery-prev promtool staticcheck)
[ $# -gt 0 ] || set -- "${all[@]}"
for tool in "$@"; do
	case $tool in
	kube-apiserver | kube-controller-manager | kube-scheduler) build_kube "$tool" ;;
	etcd) build_etcd ;;
	kwok) build_kwok ;;
	helm) build_helm ;;
	helm4) build_helm4 ;;
	pilot-discovery) build_pilot ;;
	pilot-discovery-prev) build_pilot_prev ;;
	promtool) build_promtool ;;
	staticcheck) build_staticcheck ;;
	*) echo "tools: unknown tool $tool (want one of: ${all[*]})" >&2; exit 2 ;;
	esac
done
