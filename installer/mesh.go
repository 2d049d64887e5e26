package installer

import (
	"embed"

	"helm.sh/helm/v3/pkg/chart"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
)

// meshConfig is Istio's MeshConfig proto, as istiod reads it.
type meshConfig = meshv1alpha1.MeshConfig

// The meshbundle-mesh chart: mesh-wide Telemetry and optional Jaeger.
//
//go:embed all:charts/mesh
var meshChartFS embed.FS

func meshChart() (*chart.Chart, error) {
	return loadFS(meshChartFS, "charts/mesh")
}
