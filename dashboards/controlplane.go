//lint:file-ignore SA1019 Classic (v1) dashboard JSON on purpose: Grafana's /api/dashboards/db, the sidecar, grafana-operator and grafana-tools/sdk all take it; v2 needs Grafana 12 with a feature flag.

package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// istiod selects istiod's own process metrics (the ServiceMonitor maps the
// pod's app label onto the target).
const istiod = `app="istiod"`

// controlPlane is "Istio Control Plane Dashboard" (grafana.com 7645):
// istiod versions, resources, xDS pushes and errors, webhooks.
func controlPlane() *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder("Istio Control Plane Dashboard").
		WithVariable(datasourceVar()).
		WithRow(row("Deployed Versions")).
		WithPanel(timeseriesPanel("Pilot Versions", "short", fullWidth,
			q(`sum by (tag) (istio_build{component="pilot"})`, "Version ({{tag}})"))).
		WithRow(row("Resource Usage")).
		WithPanel(timeseriesPanel("Memory Usage", "bytes", smallStat,
			q(`sum by (pod) (container_memory_working_set_bytes{container="discovery", pod=~"istiod-.*"})`, "Container ({{pod}})"),
			q(`sum by (pod) (go_memstats_stack_inuse_bytes{`+istiod+`})`, "Stack ({{pod}})"),
			q(`sum by (pod) (go_memstats_heap_inuse_bytes{`+istiod+`})`, "Heap (In Use) ({{pod}})"))).
		WithPanel(timeseriesPanel("Memory Allocations", "Bps", smallStat,
			q(`sum by (pod) (rate(go_memstats_alloc_bytes_total{`+istiod+`}`+rw+`))`, "Bytes ({{pod}})"),
			q(`sum by (pod) (rate(go_memstats_mallocs_total{`+istiod+`}`+rw+`))`, "Objects ({{pod}})"))).
		WithPanel(timeseriesPanel("CPU Usage", "cores", smallStat,
			q(`sum by (pod) (rate(container_cpu_usage_seconds_total{container="discovery", pod=~"istiod-.*"}`+rw+`))`, "Container ({{pod}})"))).
		WithPanel(timeseriesPanel("Goroutines", "short", smallStat,
			q(`sum by (pod) (go_goroutines{`+istiod+`})`, "Goroutines ({{pod}})"))).
		WithRow(row("Push Information")).
		WithPanel(timeseriesPanel("XDS Pushes", "ops", thirdWidth,
			q(`sum by (type) (rate(pilot_xds_pushes`+rw+`))`, "{{type}}"))).
		WithPanel(timeseriesPanel("Events", "eps", thirdWidth,
			q(`sum by (type, event) (rate(pilot_k8s_reg_events`+rw+`))`, "{{event}} {{type}}"),
			q(`sum by (type, event) (rate(pilot_k8s_cfg_events`+rw+`))`, "{{event}} {{type}}"),
			q(`sum by (type) (rate(pilot_push_triggers`+rw+`))`, "Push {{type}}"))).
		WithPanel(timeseriesPanel("Connections", "short", thirdWidth,
			q(`sum(envoy_cluster_upstream_cx_active{cluster_name="xds-grpc"})`, "Connections (client reported)"),
			q(`sum(pilot_xds)`, "Connections (server reported)"))).
		WithPanel(timeseriesPanel("Push Errors", "short", thirdWidth,
			q(`sum by (type) (pilot_total_xds_rejects)`, "Rejected Config ({{type}})"),
			q(`sum(pilot_total_xds_internal_errors)`, "Internal Errors"))).
		WithPanel(heatmapPanel("Push Time", "s", thirdWidth,
			q(`sum by (le) (rate(pilot_xds_push_time_bucket`+rw+`))`, "{{le}}"))).
		WithPanel(heatmapPanel("Push Size", "bytes", thirdWidth,
			q(`sum by (le) (rate(pilot_xds_config_size_bytes_bucket`+rw+`))`, "{{le}}"))).
		WithRow(row("Webhooks")).
		WithPanel(timeseriesPanel("Validation", "reqps", halfWidth,
			q(`sum(rate(galley_validation_passed`+rw+`))`, "Success"),
			q(`sum(rate(galley_validation_failed`+rw+`))`, "Failure"))).
		WithPanel(timeseriesPanel("Injection", "reqps", halfWidth,
			q(`sum(rate(sidecar_injection_success_total`+rw+`))`, "Success"),
			q(`sum(rate(sidecar_injection_failure_total`+rw+`))`, "Failure")))
}
