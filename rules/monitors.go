package rules

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Istio's well-known ports and paths (istio.io/latest/docs/ops/deployment/application-requirements/#ports-used-by-istio).
const (
	// MergedMetricsPort is the pilot-agent port serving Envoy's and the
	// application's metrics merged (metrics merging), so one scrape per pod
	// covers both.
	MergedMetricsPort = 15020
	// MergedMetricsPath is where pilot-agent serves the merged metrics.
	MergedMetricsPath = "/stats/prometheus"
	// EnvoyPromPortName is the one container port the injected istio-proxy
	// container declares (15090). Keeping only that port yields exactly one
	// target per injected pod, which is then pointed at MergedMetricsPort.
	EnvoyPromPortName = "http-envoy-prom"
	// ProxyContainer is the name of the injected sidecar (and gateway) container.
	ProxyContainer = "istio-proxy"
	// IstiodMonitoringPort is the istiod Service port serving control plane metrics (15014).
	IstiodMonitoringPort = "http-monitoring"
	// ScrapeInterval is the interval of both monitors.
	ScrapeInterval = "15s"
	// IgnoreLabel opts a pod out of scraping (the label Istio's own samples use).
	IgnoreLabel = "istio-prometheus-ignore"
)

// PodMonitor scrapes every injected pod (sidecars and gateways) in every
// namespace on the merged metrics endpoint.
func PodMonitor(o Options) *monitoringv1.PodMonitor {
	return &monitoringv1.PodMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PodMonitorsKind},
		ObjectMeta: o.meta("istio-proxies"),
		Spec: monitoringv1.PodMonitorSpec{
			Selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: IgnoreLabel, Operator: metav1.LabelSelectorOpDoesNotExist,
			}}},
			NamespaceSelector: monitoringv1.NamespaceSelector{Any: true},
			PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{
				// portNumber makes the operator rewrite the target address to
				// <pod IP>:15020 (IPv4 and IPv6), a port the pod does not declare.
				PortNumber: ptr.To[int32](MergedMetricsPort),
				Path:       MergedMetricsPath,
				Interval:   monitoringv1.Duration(ScrapeInterval),
				RelabelConfigs: []monitoringv1.RelabelConfig{
					{
						// Pod discovery yields one target per declared container
						// port; keep the sidecar's own port only.
						Action:       "keep",
						SourceLabels: []monitoringv1.LabelName{"__meta_kubernetes_pod_container_name", "__meta_kubernetes_pod_container_port_name"},
						Separator:    ptr.To(";"),
						Regex:        ProxyContainer + ";" + EnvoyPromPortName,
					},
					{
						// Pod labels (app, version, ...) help dashboards and Kiali
						// join on workloads; the recording rules drop pod and instance.
						Action: "labelmap",
						Regex:  "__meta_kubernetes_pod_label_(.+)",
					},
				},
			}},
		},
	}
}

// ServiceMonitor scrapes istiod's monitoring port.
func ServiceMonitor(o Options) *monitoringv1.ServiceMonitor {
	return &monitoringv1.ServiceMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.ServiceMonitorsKind},
		ObjectMeta: o.meta("istiod"),
		Spec: monitoringv1.ServiceMonitorSpec{
			// The istiod chart labels its Service app=istiod.
			Selector:          metav1.LabelSelector{MatchLabels: map[string]string{"app": "istiod"}},
			NamespaceSelector: monitoringv1.NamespaceSelector{MatchNames: []string{o.Namespace}},
			Endpoints: []monitoringv1.Endpoint{{
				Port:     IstiodMonitoringPort,
				Interval: monitoringv1.Duration(ScrapeInterval),
				// The control plane dashboard selects istiod's process metrics by app="istiod".
				RelabelConfigs: []monitoringv1.RelabelConfig{{
					Action: "labelmap",
					Regex:  "__meta_kubernetes_pod_label_(app)",
				}},
			}},
		},
	}
}
