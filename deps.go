//go:build deps

// This file pins, for `go mod tidy`, the packages the next issues build on, so
// parallel work never races on go.mod. Delete a line once real code imports it.
package meshbundle

import (
	_ "github.com/go-git/go-git/v5"
	_ "github.com/grafana-tools/sdk"
	_ "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "github.com/prometheus/prometheus/promql/parser"
	_ "helm.sh/helm/v3/pkg/action"
	_ "istio.io/client-go/pkg/apis/networking/v1"
	_ "istio.io/istio/manifests"
	_ "istio.io/istio/operator/pkg/render"
	_ "istio.io/istio/pilot/pkg/simulation"
	_ "istio.io/istio/pilot/test/xds"
	_ "istio.io/istio/pkg/config/analysis/analyzers"
	_ "istio.io/istio/pkg/config/analysis/local"
	_ "istio.io/istio/pkg/config/protocol"
	_ "istio.io/istio/pkg/config/validation"
	_ "sigs.k8s.io/controller-runtime/pkg/client"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "sigs.k8s.io/yaml"
)
