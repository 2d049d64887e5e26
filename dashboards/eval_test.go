package dashboards

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/internal/promtool"
	"github.com/meshbundle/meshbundle/rules"
)

// TestQueriesReturnData evaluates every dashboard query with promtool's rule
// engine, on top of the generated recording rules, against series shaped like
// what Istio's proxies, istiod and the kubelet export. A query that returns
// nothing (or only NaN) would be a panel that can never show anything.
func TestQueriesReturnData(t *testing.T) {
	dir := t.TempDir()
	ruleFile, err := filepath.Abs(filepath.Join("..", "rules", "generated", rules.FileRuleFile))
	if err != nil {
		t.Fatal(err)
	}
	type sample struct {
		Labels string  `json:"labels"`
		Value  float64 `json:"value"`
	}
	type exprTest struct {
		Expr       string   `json:"expr"`
		EvalTime   string   `json:"eval_time"`
		ExpSamples []sample `json:"exp_samples"`
	}
	var tests []exprTest
	for _, s := range All() {
		for _, e := range dashboardExprs(t, s) {
			// "or vector(0)" makes a stat show 0 instead of "No data"; it
			// would also make this check pass on any query, so drop it.
			e.promql = strings.ReplaceAll(e.promql, " or vector(0)", "")
			// x == x drops NaN samples (0/0 rates, quantiles of empty
			// histograms); count > bool 0 is 1 exactly when data remains.
			tests = append(tests, exprTest{
				Expr:       fmt.Sprintf("count((%s) == (%s)) > bool 0", e.promql, e.promql),
				EvalTime:   "10m",
				ExpSamples: []sample{{Labels: "{}", Value: 1}},
			})
		}
	}
	doc := map[string]any{
		"rule_files":          []string{ruleFile},
		"evaluation_interval": "15s",
		"tests": []any{map[string]any{
			"interval":         "15s",
			"input_series":     istioSeries().list(),
			"promql_expr_test": tests,
		}},
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dashboards_test.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d queries evaluated", len(tests))
	promtool.Run(t, "test", "rules", path)
}

// seriesSet builds promtool input series.
type seriesSet map[string]string // series selector -> promtool values notation

// counter adds a counter growing by step every 15s for 10 minutes.
func (s seriesSet) counter(metric string, labels map[string]string, step float64) {
	s[render(metric, labels)] = fmt.Sprintf("0+%gx40", step)
}

// gauge adds a constant gauge.
func (s seriesSet) gauge(metric string, labels map[string]string, v float64) {
	s[render(metric, labels)] = fmt.Sprintf("%gx40", v)
}

// histogram adds Prometheus histogram series (_bucket with le, _sum, _count)
// observing perStep values every 15s, spread over the buckets.
func (s seriesSet) histogram(metric string, labels map[string]string, bounds []string, perStep float64) {
	for i, le := range bounds {
		s.counter(metric+"_bucket", merge(labels, map[string]string{"le": le}), perStep*float64(i+1)/float64(len(bounds)))
	}
	s.counter(metric+"_sum", labels, perStep*10)
	s.counter(metric+"_count", labels, perStep)
}

func (s seriesSet) list() []map[string]string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]map[string]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, map[string]string{"series": k, "values": s[k]})
	}
	return out
}

func render(metric string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return metric + "{" + strings.Join(parts, ",") + "}"
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// hop is one caller -> callee edge of the test mesh.
type hop struct {
	src, srcNS, dst, dstNS, svc string
}

// istioSeries is a small Bookinfo-like mesh: ingress gateway -> productpage
// -> reviews -> ratings, every hop reported by both proxies (two pods each),
// with and without mTLS, with 200, 404 and 503 responses and TCP traffic;
// plus istiod's and the kubelet's metrics the performance and control plane
// dashboards read.
func istioSeries() seriesSet {
	s := seriesSet{}
	hops := []hop{
		{"istio-ingressgateway", "istio-system", "productpage-v1", "default", "productpage.default.svc.cluster.local"},
		{"productpage-v1", "default", "reviews-v1", "default", "reviews.default.svc.cluster.local"},
		{"reviews-v1", "default", "ratings-v1", "default", "ratings.default.svc.cluster.local"},
	}
	for _, h := range hops {
		for _, reporter := range []string{"source", "destination"} {
			for _, secure := range []bool{true, false} {
				for pod := range 2 {
					reporterWL, reporterNS := h.src, h.srcNS
					if reporter == "destination" {
						reporterWL, reporterNS = h.dst, h.dstNS
					}
					l := map[string]string{
						"reporter":                       reporter,
						"source_workload":                h.src,
						"source_workload_namespace":      h.srcNS,
						"source_principal":               "spiffe://cluster.local/ns/" + h.srcNS + "/sa/" + h.src,
						"destination_workload":           h.dst,
						"destination_workload_namespace": h.dstNS,
						"destination_service":            h.svc,
						"destination_principal":          "spiffe://cluster.local/ns/" + h.dstNS + "/sa/" + h.dst,
						"connection_security_policy":     "mutual_tls",
						// target labels the PodMonitor / scrape config add
						"namespace": reporterNS,
						"pod":       fmt.Sprintf("%s-%d", reporterWL, pod),
						"instance":  fmt.Sprintf("10.0.%d.%d:15020", len(reporterWL), pod),
					}
					if !secure {
						l["source_principal"], l["destination_principal"] = "unknown", "unknown"
						l["connection_security_policy"] = "none"
					}
					if reporter == "source" {
						// client proxies cannot see the server's policy
						l["connection_security_policy"] = "unknown"
					}
					for code, step := range map[string]float64{"200": 10, "404": 2, "503": 1} {
						rl := merge(l, map[string]string{"response_code": code, "request_protocol": "http"})
						s.counter("istio_requests_total", rl, step)
						s.histogram("istio_request_duration_milliseconds", rl, []string{"5", "25", "100", "+Inf"}, step)
						s.histogram("istio_request_bytes", rl, []string{"100", "1000", "+Inf"}, step)
						s.histogram("istio_response_bytes", rl, []string{"100", "1000", "10000", "+Inf"}, step)
					}
					s.counter("istio_tcp_sent_bytes_total", l, 4096)
					s.counter("istio_tcp_received_bytes_total", l, 512)
					s.counter("istio_tcp_connections_opened_total", l, 3)
					s.counter("istio_tcp_connections_closed_total", l, 2)
				}
			}
		}
	}
	// kubelet (cAdvisor) container metrics for proxies and istiod
	containers := []map[string]string{
		{"namespace": "istio-system", "pod": "istio-ingressgateway-0", "container": "istio-proxy"},
		{"namespace": "default", "pod": "productpage-v1-0", "container": "istio-proxy"},
		{"namespace": "default", "pod": "reviews-v1-0", "container": "istio-proxy"},
		{"namespace": "istio-system", "pod": "istiod-0", "container": "discovery"},
	}
	for _, c := range containers {
		s.counter("container_cpu_usage_seconds_total", c, 0.5)
		s.gauge("container_memory_working_set_bytes", c, 64<<20)
		s.gauge("container_fs_usage_bytes", c, 1<<20)
	}
	// istiod's own metrics; the ServiceMonitor maps app and adds pod
	pilot := map[string]string{"app": "istiod", "pod": "istiod-0", "namespace": "istio-system", "instance": "10.0.9.9:15014"}
	s.gauge("istio_build", merge(pilot, map[string]string{"component": "pilot", "tag": "1.31.0"}), 1)
	s.gauge("istio_build", map[string]string{"component": "proxy", "tag": "1.31.0", "pod": "reviews-v1-0"}, 1)
	for _, m := range []string{"process_virtual_memory_bytes", "process_resident_memory_bytes", "go_memstats_heap_sys_bytes",
		"go_memstats_stack_inuse_bytes", "go_memstats_heap_inuse_bytes", "process_open_fds", "go_goroutines", "pilot_xds", "pilot_total_xds_internal_errors"} {
		s.gauge(m, pilot, 100)
	}
	for _, m := range []string{"process_cpu_seconds_total", "go_memstats_alloc_bytes_total", "go_memstats_mallocs_total",
		"galley_validation_passed", "galley_validation_failed", "sidecar_injection_success_total", "sidecar_injection_failure_total"} {
		s.counter(m, pilot, 5)
	}
	for _, typ := range []string{"cds", "eds", "lds", "rds"} {
		s.counter("pilot_xds_pushes", merge(pilot, map[string]string{"type": typ}), 3)
		s.gauge("pilot_total_xds_rejects", merge(pilot, map[string]string{"type": typ}), 1)
	}
	s.counter("pilot_k8s_reg_events", merge(pilot, map[string]string{"type": "Services", "event": "add"}), 1)
	s.counter("pilot_k8s_cfg_events", merge(pilot, map[string]string{"type": "VirtualService", "event": "update"}), 1)
	s.counter("pilot_push_triggers", merge(pilot, map[string]string{"type": "endpoint"}), 2)
	s.histogram("pilot_xds_push_time", pilot, []string{"0.01", "0.1", "1", "+Inf"}, 3)
	s.histogram("pilot_xds_config_size_bytes", pilot, []string{"1000", "10000", "100000", "+Inf"}, 3)
	s.gauge("envoy_cluster_upstream_cx_active", map[string]string{"cluster_name": "xds-grpc", "pod": "reviews-v1-0"}, 1)
	return s
}
