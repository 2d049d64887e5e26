//lint:file-ignore SA1019 Classic (v1) dashboard JSON on purpose: Grafana's /api/dashboards/db, the sidecar, grafana-operator and grafana-tools/sdk all take it; v2 needs Grafana 12 with a feature flag.

package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// clientReports are the proxies that see every request once: client
// sidecars and, in ambient mode, waypoints.
const clientReports = `reporter=~"source|waypoint"`

// mesh is "Istio Mesh Dashboard" (grafana.com 7639): global request volume,
// success rate and errors, then one table row per HTTP/gRPC and TCP workload.
func mesh() *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder("Istio Mesh Dashboard").
		WithVariable(datasourceVar()).
		WithRow(row("Global Traffic")).
		WithPanel(statPanel("Traffic Volume", "reqps", smallStat,
			q("round("+rated(nil, requests, clientReports)+", 0.01)", ""))).
		WithPanel(statPanel("Success Rate", "percentunit", smallStat,
			q(successRate(nil, clientReports), ""))).
		WithPanel(statPanel("4xxs", "reqps", smallStat,
			q("round("+rated(nil, requests, clientReports, `response_code=~"4.."`)+", 0.01) or vector(0)", ""))).
		WithPanel(statPanel("5xxs", "reqps", smallStat,
			q("round("+rated(nil, requests, clientReports, `response_code=~"5.."`)+", 0.01) or vector(0)", ""))).
		WithPanel(tablePanel("HTTP/gRPC Workloads",
			q(workloadJoin(rated(destWorkload, requests, clientReports)), "Requests"),
			q(workloadJoin(quantile("0.50", destWorkloadOnly, duration, clientReports)), "P50 Latency"),
			q(workloadJoin(quantile("0.90", destWorkloadOnly, duration, clientReports)), "P90 Latency"),
			q(workloadJoin(quantile("0.99", destWorkloadOnly, duration, clientReports)), "P99 Latency"),
			q(workloadJoin(successRate(destWorkloadOnly, clientReports)), "Success Rate"))).
		WithPanel(tablePanel("TCP Workloads",
			q(workloadJoin(rated(destWorkload, tcpSent, clientReports)), "Bytes Sent"),
			q(workloadJoin(rated(destWorkload, tcpReceived, clientReports)), "Bytes Received"),
			q(workloadJoin(rated(destWorkload, tcpOpened, clientReports)), "Connections Opened"),
			q(workloadJoin(rated(destWorkload, tcpClosed, clientReports)), "Connections Closed"))).
		WithRow(row("Istio Component Versions")).
		WithPanel(timeseriesPanel("Istio Component Versions", "short", fullWidth,
			q(`sum by (component, tag) (istio_build)`, "{{component}}: {{tag}}")))
}

var (
	destWorkload     = []string{"destination_workload", "destination_workload_namespace", "destination_service"}
	destWorkloadOnly = []string{"destination_workload", "destination_workload_namespace"}
)

// workloadJoin adds destination_workload_var = "<workload>.<namespace>", the
// key the table rows merge on and the workload dashboard's link parameter.
func workloadJoin(expr string) string {
	return `label_join(` + expr + `, "destination_workload_var", ".", "destination_workload", "destination_workload_namespace")`
}
