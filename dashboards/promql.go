package dashboards

import (
	"fmt"
	"strings"

	"github.com/meshbundle/meshbundle/rules"
)

// Istio metric names. Panels about mesh traffic read the workload-level
// rate recording rules (rules.RateRecordName): the same labels minus
// instance and pod, so a panel scans one series per workload pair instead of
// one per pod. Variables list label values from the workload sums.
const (
	requests     = "istio_requests_total"
	duration     = "istio_request_duration_milliseconds_bucket"
	requestSize  = "istio_request_bytes_bucket"
	responseSize = "istio_response_bytes_bucket"
	tcpSent      = "istio_tcp_sent_bytes_total"
	tcpReceived  = "istio_tcp_received_bytes_total"
	tcpOpened    = "istio_tcp_connections_opened_total"
	tcpClosed    = "istio_tcp_connections_closed_total"
)

// rw is Grafana's rate window (at least four scrape intervals) for the
// metrics without rate rules: istiod's and the kubelet's.
const rw = "[$__rate_interval]"

// Matchers that split traffic by transport security. Server-side reports
// carry connection_security_policy; client-side reports only know the peer's
// SPIFFE identity (destination_principal), which is set exactly when mTLS is used.
const (
	mtls          = `connection_security_policy="mutual_tls"`
	plain         = `connection_security_policy!="mutual_tls"`
	mtlsOutbound  = `destination_principal=~"spiffe.*"`
	plainOutbound = `destination_principal!~"spiffe.*"`
)

// wl is the workload-aggregated series of an Istio metric.
func wl(metric string) string { return rules.RecordName(metric) }

// sel renders metric{m1,m2,...}.
func sel(metric string, matchers ...string) string {
	if len(matchers) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(matchers, ", ") + "}"
}

func by(labels []string) string {
	if len(labels) == 0 {
		return "sum"
	}
	return "sum by (" + strings.Join(labels, ", ") + ")"
}

// rated is `sum by (labels) (<workload rate of metric>{matchers})`: the
// per-second rate of an Istio counter from its rate recording rule
// (rules.RateRecordName), already summed over pods, so panels neither scan
// per-pod series nor call rate() themselves.
func rated(labels []string, metric string, matchers ...string) string {
	return fmt.Sprintf("%s (%s)", by(labels), sel(rules.RateRecordName(metric), matchers...))
}

// quantile is the q-quantile of a histogram's buckets, per labels.
func quantile(q string, labels []string, metric string, matchers ...string) string {
	return fmt.Sprintf("histogram_quantile(%s, %s)", q, rated(append([]string{"le"}, labels...), metric, matchers...))
}

// successRate is the share of non-5xx responses.
func successRate(labels []string, matchers ...string) string {
	ok := append(append([]string(nil), matchers...), `response_code!~"5.."`)
	return fmt.Sprintf("%s / %s", rated(labels, requests, ok...), rated(labels, requests, matchers...))
}

func with(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// percentiles are the quantiles latency and size panels show.
var percentiles = []struct{ q, name string }{{"0.50", "P50"}, {"0.90", "P90"}, {"0.95", "P95"}, {"0.99", "P99"}}
