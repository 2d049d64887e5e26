//lint:file-ignore SA1019 Classic (v1) dashboard JSON on purpose: Grafana's /api/dashboards/db, the sidecar, grafana-operator and grafana-tools/sdk all take it; v2 needs Grafana 12 with a feature flag.

package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// service is "Istio Service Dashboard" (grafana.com 7636): one Service's
// traffic as its clients and its workloads report it.
func service() *dashboard.DashboardBuilder {
	svc := `destination_service="$service"`
	client := []string{`reporter=~"$qrep"`, svc}
	server := []string{`reporter="destination"`, svc}
	d := dashboard.NewDashboardBuilder("Istio Service Dashboard").
		WithVariable(datasourceVar()).
		WithVariable(listVar("service", "Service", "destination_service",
			`sum by (destination_service) (`+wl(requests)+`) or sum by (destination_service) (`+wl(tcpSent)+`)`, false)).
		WithVariable(reporterVar()).
		WithVariable(listVar("srcns", "Client Workload Namespace", "source_workload_namespace",
			`sum by (source_workload_namespace) (`+sel(wl(requests), client...)+`) or sum by (source_workload_namespace) (`+sel(wl(tcpSent), client...)+`)`, true)).
		WithVariable(listVar("srcwl", "Client Workload", "source_workload",
			`sum by (source_workload) (`+sel(wl(requests), with(client, `source_workload_namespace=~"$srcns"`)...)+`) or sum by (source_workload) (`+sel(wl(tcpSent), with(client, `source_workload_namespace=~"$srcns"`)...)+`)`, true)).
		WithVariable(listVar("dstns", "Service Workload Namespace", "destination_workload_namespace",
			`sum by (destination_workload_namespace) (`+sel(wl(requests), server...)+`) or sum by (destination_workload_namespace) (`+sel(wl(tcpSent), server...)+`)`, true)).
		WithVariable(listVar("dstwl", "Service Workload", "destination_workload",
			`sum by (destination_workload) (`+sel(wl(requests), with(server, `destination_workload_namespace=~"$dstns"`)...)+`) or sum by (destination_workload) (`+sel(wl(tcpSent), with(server, `destination_workload_namespace=~"$dstns"`)...)+`)`, true)).
		WithRow(row("General")).
		WithPanel(textPanel("# SERVICE: $service", fullWidth)).
		WithPanel(statPanel("Client Request Volume", "reqps", smallStat, q(requestVolume(client...), ""))).
		WithPanel(statPanel("Client Success Rate (non-5xx responses)", "percentunit", smallStat, q(successRate(nil, client...), ""))).
		WithPanel(timeseriesPanel("Client Request Duration", "ms", smallStat, latency(client...)...)).
		WithPanel(statPanel("TCP Received Bytes", "Bps", smallStat, q(rated(nil, tcpReceived, client...), ""))).
		WithPanel(statPanel("Server Request Volume", "reqps", smallStat, q(requestVolume(server...), ""))).
		WithPanel(statPanel("Server Success Rate (non-5xx responses)", "percentunit", smallStat, q(successRate(nil, server...), ""))).
		WithPanel(timeseriesPanel("Server Request Duration", "ms", smallStat, latency(server...)...)).
		WithPanel(statPanel("TCP Sent Bytes", "Bps", smallStat, q(rated(nil, tcpSent, client...), "")))
	d = addBreakdown(d, "Client Workloads", "# CLIENT WORKLOADS", breakdown{
		base:     with(client, `source_workload=~"$srcwl"`, `source_workload_namespace=~"$srcns"`),
		labels:   []string{"source_workload", "source_workload_namespace"},
		legend:   "{{source_workload}}.{{source_workload_namespace}}",
		secure:   mtls,
		insecure: plain,
		titles: [7]string{
			"Incoming Requests By Source And Response Code",
			"Incoming Success Rate (non-5xx responses) By Source",
			"Incoming Request Duration By Source",
			"Incoming Request Size By Source",
			"Response Size By Source",
			"Bytes Received from Incoming TCP Connection",
			"Bytes Sent to Incoming TCP Connection",
		},
	})
	return addBreakdown(d, "Service Workloads", "# SERVICE WORKLOADS", breakdown{
		base:     with(server, `destination_workload=~"$dstwl"`, `destination_workload_namespace=~"$dstns"`),
		labels:   []string{"destination_workload", "destination_workload_namespace"},
		legend:   "{{destination_workload}}.{{destination_workload_namespace}}",
		secure:   mtls,
		insecure: plain,
		titles: [7]string{
			"Incoming Requests By Destination Workload And Response Code",
			"Incoming Success Rate (non-5xx responses) By Destination Workload",
			"Incoming Request Duration By Service Workload",
			"Incoming Request Size By Service Workload",
			"Response Size By Service Workload",
			"Bytes Received from Incoming TCP Connection",
			"Bytes Sent to Incoming TCP Connection",
		},
	})
}
