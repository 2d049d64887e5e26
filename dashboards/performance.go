//lint:file-ignore SA1019 Classic (v1) dashboard JSON on purpose: Grafana's /api/dashboards/db, the sidecar, grafana-operator and grafana-tools/sdk all take it; v2 needs Grafana 12 with a feature flag.

package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// performance is "Istio Performance Dashboard" (grafana.com 11829): proxy
// and istiod cost per request, the numbers Istio's performance docs quote.
// The ingress gateway's workload name is a variable: ours is installed by the
// gateway chart and need not be called istio-ingressgateway.
func performance() *dashboard.DashboardBuilder {
	gwCPU := `sum(rate(container_cpu_usage_seconds_total{pod=~"$gateway-.*", container="istio-proxy"}` + rw + `))`
	meshCPU := `sum(rate(container_cpu_usage_seconds_total{namespace!="istio-system", container="istio-proxy"}` + rw + `))`
	gwRPS := rated(nil, requests, `source_workload="$gateway"`, `reporter="source"`)
	meshRPS := rated(nil, requests, `reporter="destination"`)
	return dashboard.NewDashboardBuilder("Istio Performance Dashboard").
		WithVariable(datasourceVar()).
		WithVariable(dashboard.NewCustomVariableBuilder("gateway").
			Label("Ingress gateway workload").
			Values(dashboard.StringOrMap{String: cog.ToPtr("istio-ingressgateway")})).
		WithRow(row("vCPU Usage")).
		WithPanel(timeseriesPanel("vCPU / 1k rps", "short", halfWidth,
			q(gwCPU+" / (round("+gwRPS+", 0.001) / 1000)", "istio-ingressgateway"),
			q(meshCPU+" / (round("+meshRPS+", 0.001) / 1000)", "istio-proxy"))).
		WithPanel(timeseriesPanel("vCPU", "cores", halfWidth,
			q(gwCPU, "istio-ingressgateway"),
			q(meshCPU, "istio-proxy"))).
		WithRow(row("Memory and Data Rates")).
		WithPanel(timeseriesPanel("Memory Usage", "bytes", halfWidth,
			q(`sum(container_memory_working_set_bytes{pod=~"$gateway-.*", container="istio-proxy"}) / count(container_memory_working_set_bytes{pod=~"$gateway-.*", container="istio-proxy"})`, "per istio-ingressgateway"),
			q(`sum(container_memory_working_set_bytes{namespace!="istio-system", container="istio-proxy"}) / count(container_memory_working_set_bytes{namespace!="istio-system", container="istio-proxy"})`, "per istio proxy"))).
		WithPanel(timeseriesPanel("Bytes transferred / sec", "Bps", halfWidth,
			q(rated(nil, "istio_response_bytes_sum", `source_workload="$gateway"`, `reporter="source"`), "istio-ingressgateway"),
			q(rated(nil, "istio_response_bytes_sum", `source_workload_namespace!="istio-system"`, `reporter="source"`)+" + "+
				rated(nil, "istio_request_bytes_sum", `source_workload_namespace!="istio-system"`, `reporter="source"`), "istio-proxy"))).
		WithRow(row("Istio Component Versions")).
		WithPanel(timeseriesPanel("Istio Components by Version", "short", fullWidth,
			q(`sum by (component, tag) (istio_build)`, "{{component}}: {{tag}}"))).
		WithRow(row("Proxy Resource Usage")).
		WithPanel(timeseriesPanel("Memory", "bytes", thirdWidth,
			q(`sum(container_memory_working_set_bytes{container="istio-proxy"})`, "Total (k8s)"))).
		WithPanel(timeseriesPanel("vCPU", "cores", thirdWidth,
			q(`sum(rate(container_cpu_usage_seconds_total{container="istio-proxy"}`+rw+`))`, "Total (k8s)"))).
		WithPanel(timeseriesPanel("Disk", "bytes", thirdWidth,
			q(`sum(container_fs_usage_bytes{container="istio-proxy"})`, "Total (k8s)"))).
		WithRow(row("Istiod Resource Usage")).
		WithPanel(timeseriesPanel("Memory", "bytes", smallStat,
			q(`process_virtual_memory_bytes{`+istiod+`}`, "Virtual Memory"),
			q(`process_resident_memory_bytes{`+istiod+`}`, "Resident Memory"),
			q(`go_memstats_heap_sys_bytes{`+istiod+`}`, "Heap (sys)"))).
		WithPanel(timeseriesPanel("vCPU", "cores", smallStat,
			q(`sum by (container) (rate(container_cpu_usage_seconds_total{container=~"discovery|istio-proxy", pod=~"istiod-.*"}`+rw+`))`, "{{container}} (k8s)"),
			q(`rate(process_cpu_seconds_total{`+istiod+`}`+rw+`)`, "pilot (self-reported)"))).
		WithPanel(timeseriesPanel("Disk", "short", smallStat,
			q(`process_open_fds{`+istiod+`}`, "Open FDs (pilot)"),
			q(`sum by (container) (container_fs_usage_bytes{container=~"discovery|istio-proxy", pod=~"istiod-.*"})`, "{{container}}"))).
		WithPanel(timeseriesPanel("Goroutines", "short", smallStat,
			q(`go_goroutines{`+istiod+`}`, "Number of Goroutines")))
}
