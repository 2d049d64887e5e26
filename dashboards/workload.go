//lint:file-ignore SA1019 Classic (v1) dashboard JSON on purpose: Grafana's /api/dashboards/db, the sidecar, grafana-operator and grafana-tools/sdk all take it; v2 needs Grafana 12 with a feature flag.

package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// workload is "Istio Workload Dashboard" (grafana.com 7630): one workload's
// inbound traffic by client and its outbound traffic by destination service.
func workload() *dashboard.DashboardBuilder {
	inbound := []string{`reporter=~"$qrep"`, `destination_workload_namespace=~"$namespace"`, `destination_workload=~"$workload"`}
	outbound := []string{`reporter="source"`, `source_workload_namespace=~"$namespace"`, `source_workload=~"$workload"`}
	tcpBoth := func(m ...string) string {
		return rated(nil, tcpSent, m...) + " + " + rated(nil, tcpReceived, m...)
	}
	d := dashboard.NewDashboardBuilder("Istio Workload Dashboard").
		WithVariable(datasourceVar()).
		WithVariable(listVar("namespace", "Namespace", "destination_workload_namespace",
			`sum by (destination_workload_namespace) (`+wl(requests)+`) or sum by (destination_workload_namespace) (`+wl(tcpSent)+`)`, false)).
		WithVariable(listVar("workload", "Workload", "destination_workload",
			`sum by (destination_workload) (`+sel(wl(requests), `destination_workload_namespace=~"$namespace"`)+`) or sum by (destination_workload) (`+sel(wl(tcpSent), `destination_workload_namespace=~"$namespace"`)+`)`, false)).
		WithVariable(reporterVar()).
		WithVariable(listVar("srcns", "Inbound Workload Namespace", "source_workload_namespace",
			`sum by (source_workload_namespace) (`+sel(wl(requests), inbound...)+`) or sum by (source_workload_namespace) (`+sel(wl(tcpSent), inbound...)+`)`, true)).
		WithVariable(listVar("srcwl", "Inbound Workload", "source_workload",
			`sum by (source_workload) (`+sel(wl(requests), with(inbound, `source_workload_namespace=~"$srcns"`)...)+`) or sum by (source_workload) (`+sel(wl(tcpSent), with(inbound, `source_workload_namespace=~"$srcns"`)...)+`)`, true)).
		WithVariable(listVar("dstsvc", "Destination Service", "destination_service",
			`sum by (destination_service) (`+sel(wl(requests), outbound...)+`) or sum by (destination_service) (`+sel(wl(tcpSent), outbound...)+`)`, true)).
		WithRow(row("General")).
		WithPanel(textPanel("# WORKLOAD: $workload.$namespace", fullWidth)).
		WithPanel(statPanel("Incoming Request Volume", "reqps", smallStat, q(requestVolume(inbound...), ""))).
		WithPanel(statPanel("Incoming Success Rate (non-5xx responses)", "percentunit", smallStat, q(successRate(nil, inbound...), ""))).
		WithPanel(timeseriesPanel("Request Duration", "ms", smallStat, latency(inbound...)...)).
		WithPanel(statPanel("TCP Server Traffic", "Bps", 3, q(tcpBoth(inbound...), ""))).
		WithPanel(statPanel("TCP Client Traffic", "Bps", 3,
			q(tcpBoth(`reporter=~"$qrep"`, `source_workload_namespace=~"$namespace"`, `source_workload=~"$workload"`), "")))
	d = addBreakdown(d, "Inbound Workloads", "# INBOUND WORKLOADS", breakdown{
		base:     with(inbound, `source_workload=~"$srcwl"`, `source_workload_namespace=~"$srcns"`),
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
	return addBreakdown(d, "Outbound Services", "# OUTBOUND SERVICES", breakdown{
		base:     with(outbound, `destination_service=~"$dstsvc"`),
		labels:   []string{"destination_service"},
		legend:   "{{destination_service}}",
		secure:   mtlsOutbound,
		insecure: plainOutbound,
		titles: [7]string{
			"Outgoing Requests By Destination And Response Code",
			"Outgoing Success Rate (non-5xx responses) By Destination",
			"Outgoing Request Duration By Destination",
			"Outgoing Request Size By Destination",
			"Response Size By Destination",
			"Bytes Sent on Outgoing TCP Connection",
			"Bytes Received from Outgoing TCP Connection",
		},
	})
}
