# meshbundle — `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Where ci/tools.sh links the binaries it builds (the cache lives in ~/.cache).
export MESHBUNDLE_BIN ?= $(CURDIR)/.tools/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/meshbundle/meshbundle/version.Version=$(VERSION)
# Go test flags; e.g. make test TESTFLAGS='-run TestHelm -v'.
TESTFLAGS ?=
# Packages `make test` runs; e.g. make test PKGS=./kialiproxy/...
PKGS ?= ./...
# How long `make test` fuzzes the post-renderer (`make fuzz FUZZTIME=10m` for more).
FUZZTIME ?= 15s
FUZZLONG ?= 5m
# Every Go module in the repository (the control-plane tools are their own).
MODULES := . ci/tools/kube ci/tools/etcd ci/tools/istio-prev ci/bench/istioctl

##@ Build
.PHONY: deps
deps: ## Install the Debian packages the tests and the demo need when missing (git, make, chromium, iproute2, ...)
	ci/deps.sh

.PHONY: build
build: ## Build meshbundle and meshbundle-postrender into bin/ (static, as the images ship them)
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

# Tests, the demo and the bench run in a network namespace with no way out
# (docs/harness.md), so every module they build or read is fetched before:
# the build list of every package and test, and modules tests read but do
# not build (prometheus-operator's CRD manifests, charts/meshbundle-addons/e2e).
TEST_MODULES := github.com/prometheus-operator/prometheus-operator@v0.85.0
.PHONY: modules
modules: ## Download every Go module the tests, the demo and the bench use (they run offline, in their own network namespace)
	go list -deps -test ./... > /dev/null
	go mod download $(TEST_MODULES)

.PHONY: images
images: deps ## OCI images of meshbundle (Argo CD plugin sidecar) and kiali-proxy into bin/images/*.tar, without Docker
	go run ./ci/images -out bin/images -version $(VERSION)

.PHONY: tools
tools: deps ## Build the real components tests run against (kube-apiserver, etcd, kwok, helm, istiod, ...); cached
	ci/tools.sh

##@ Use
.PHONY: demo
demo: deps tools modules build ## Local control plane: install Istio, then the example app through the post-renderer (DEMO_FLAGS=--keep keeps it up)
	go run ./ci/demo $(DEMO_FLAGS)

##@ Test
.PHONY: test
test: deps tools modules ## Run every test, end-to-end ones on local control planes included, and a short fuzz run
	@# -count=1: never reuse cached results; tests exec built binaries Go cannot track.
	go test -count=1 -timeout 30m $(TESTFLAGS) $(PKGS)
	go test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./renderer

.PHONY: fuzz
fuzz: ## Fuzz the post-renderer for longer (FUZZLONG=5m by default)
	go test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZLONG) ./renderer

.PHONY: bench
bench: deps tools modules build ## Measure against helm template, kustomize, yq, istioctl; writes BENCHMARKS.md (~15 min; BENCH_SIZES=10,100 BENCH_REPS=3 BENCH_SKIP=install trims)
	ci/bench/tools.sh
	go run ./ci/bench -out BENCHMARKS.md

.PHONY: verify
verify: ## gofmt, go vet, staticcheck, go mod tidy leaves no diff, generated files up to date
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	ci/tools.sh staticcheck
	$(MESHBUNDLE_BIN)/staticcheck ./...
	@# Compare the tree before and after, so uncommitted work does not count.
	@before=$$(git status --porcelain=v1 -uall; git diff | sha256sum); \
	for m in $(MODULES); do (cd $$m && go mod tidy); done; \
	after=$$(git status --porcelain=v1 -uall; git diff | sha256sum); \
	[ "$$before" = "$$after" ] || { echo "go mod tidy changed go.mod/go.sum: commit the result"; git status --short; exit 1; }
	@before=$$(git status --porcelain=v1 -uall; git diff | sha256sum); \
	go generate ./...; \
	after=$$(git status --porcelain=v1 -uall; git diff | sha256sum); \
	[ "$$before" = "$$after" ] || { echo "generated files are stale: commit the output of go generate"; git status --short; exit 1; }

##@ Help
.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-z-]+:.*##/ {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
