// Package rules generates the Prometheus side of the observability bundle:
// Istio's workload-level recording rules, the prometheus-operator objects that
// scrape the mesh (PodMonitor for sidecars and gateways, ServiceMonitor for
// istiod), and the same rules and scrape jobs as plain Prometheus files for
// clusters without the operator.
package rules

import (
	"fmt"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Rule group names. The sums are Istio's documented rules (for federation
// and long-term storage); the rates are what dashboards read.
const (
	GroupName     = "istio.workload.recording-rules"
	RateGroupName = "istio.workload.rates"
)

// RateWindow is the rate() window of the rate rules: four scrape intervals,
// Grafana's $__rate_interval for a 15s scrape.
const RateWindow = "1m"

// EvaluationInterval matches the scrape interval of PodMonitor: evaluating a
// sum of counters more often than the counters change only burns CPU (Istio's
// docs use 5s together with a 15s scrape).
const EvaluationInterval = "15s"

// DroppedLabels are the per-instance labels the recording rules aggregate
// away. A workload's series then survive pod restarts and scale-out with a
// constant cardinality: the point of Istio's "workload-level aggregation".
var DroppedLabels = []string{"instance", "pod"}

// istioMetrics are the standard Istio metrics (telemetry v2) the rules
// aggregate, in the order of Istio's "Observability Best Practices" page.
// Histograms appear as their _count, _sum and _bucket series.
var istioMetrics = []string{
	"istio_requests_total",
	"istio_request_duration_milliseconds_count",
	"istio_request_duration_milliseconds_sum",
	"istio_request_duration_milliseconds_bucket",
	"istio_request_bytes_count",
	"istio_request_bytes_sum",
	"istio_request_bytes_bucket",
	"istio_response_bytes_count",
	"istio_response_bytes_sum",
	"istio_response_bytes_bucket",
	"istio_tcp_sent_bytes_total",
	"istio_tcp_received_bytes_total",
	"istio_tcp_connections_opened_total",
	// Istio's docs record this one from istio_tcp_connections_opened_total,
	// so "closed" silently equals "opened" there. Every rule here is derived
	// from its own metric name, which makes that mistake impossible; the
	// promtool unit test proves the values differ.
	"istio_tcp_connections_closed_total",
}

// RecordName is the series name a recording rule writes for an Istio metric:
// Istio's `workload:` prefix.
func RecordName(metric string) string { return "workload:" + metric }

// RateRecordName is the per-second rate of an Istio counter per workload,
// named level:metric:operation as Prometheus' naming practice asks
// (`_total` dropped once rated). Dashboards query these.
//
// Why not rate(workload:<metric>[...])? A sum of counters drops when a pod
// goes away or restarts; rate() reads the drop as a counter reset and shows
// a spike as large as the surviving pods' whole history. Rating each pod's
// counter first, then summing, is immune to that.
func RateRecordName(metric string) string {
	return "workload:" + strings.TrimSuffix(metric, "_total") + ":rate" + RateWindow
}

// Metrics lists the Istio metrics that have a workload recording rule.
func Metrics() []string { return append([]string(nil), istioMetrics...) }

// RecordingRules returns one rule per Istio metric, each summing the metric
// without the per-instance labels.
func RecordingRules() []monitoringv1.Rule {
	out := make([]monitoringv1.Rule, 0, len(istioMetrics))
	for _, m := range istioMetrics {
		out = append(out, monitoringv1.Rule{
			Record: RecordName(m),
			Expr:   intstr.FromString(aggregate(m)),
		})
	}
	return out
}

// RateRules returns one rule per Istio counter: the rate of each pod's
// series, summed without the per-instance labels.
func RateRules() []monitoringv1.Rule {
	out := make([]monitoringv1.Rule, 0, len(istioMetrics))
	for _, m := range istioMetrics {
		out = append(out, monitoringv1.Rule{
			Record: RateRecordName(m),
			Expr:   intstr.FromString(aggregate(fmt.Sprintf("rate(%s[%s])", m, RateWindow))),
		})
	}
	return out
}

// aggregate is the expression a recording rule evaluates.
func aggregate(expr string) string {
	return fmt.Sprintf("sum without(%s) (%s)", strings.Join(DroppedLabels, ", "), expr)
}

// RuleGroups is the rule file content: a Prometheus rule file and the spec of
// a PrometheusRule have the same `groups:` shape, so both are generated from it.
func RuleGroups() monitoringv1.PrometheusRuleSpec {
	interval := monitoringv1.Duration(EvaluationInterval)
	return monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{
		{Name: GroupName, Interval: &interval, Rules: RecordingRules()},
		{Name: RateGroupName, Interval: &interval, Rules: RateRules()},
	}}
}

// Options name and place the generated objects.
type Options struct {
	// Namespace the objects are created in; Istio's control plane namespace
	// by default, where prometheus-operator installs usually look.
	Namespace string
	// Labels added to every object, e.g. the `release: <name>` label a
	// kube-prometheus-stack Prometheus selects rules and monitors by.
	Labels map[string]string
}

// DefaultOptions puts everything into istio-system without extra labels.
func DefaultOptions() Options { return Options{Namespace: "istio-system"} }

func (o Options) meta(name string) metav1.ObjectMeta {
	labels := map[string]string{"app.kubernetes.io/part-of": "meshbundle"}
	for k, v := range o.Labels {
		labels[k] = v
	}
	return metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: labels}
}

// PrometheusRule wraps the recording rules for prometheus-operator.
func PrometheusRule(o Options) *monitoringv1.PrometheusRule {
	return &monitoringv1.PrometheusRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusRuleKind},
		ObjectMeta: o.meta("istio-workload-recording-rules"),
		Spec:       RuleGroups(),
	}
}
