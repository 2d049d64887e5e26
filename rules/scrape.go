package rules

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v2"
)

// ScrapeConfigs are the plain-Prometheus equivalent of PodMonitor and
// ServiceMonitor, for clusters without prometheus-operator. They produce the
// same target labels the operator would (namespace, pod, pod labels), so the
// recording rules and dashboards work unchanged on either.
func ScrapeConfigs(o Options) []*promconfig.ScrapeConfig {
	interval := model.Duration(15 * time.Second)

	proxies := promconfig.DefaultScrapeConfig
	proxies.JobName = "istio-proxies"
	proxies.ScrapeInterval = interval
	proxies.MetricsPath = MergedMetricsPath
	proxies.ServiceDiscoveryConfigs = discovery.Configs{&kubernetes.SDConfig{
		Role:             kubernetes.RolePod,
		HTTPClientConfig: proxies.HTTPClientConfig,
	}}
	proxies.RelabelConfigs = []*relabel.Config{
		relabelRule(relabel.Drop, []model.LabelName{"__meta_kubernetes_pod_labelpresent_istio_prometheus_ignore"}, "true", "", ""),
		relabelRule(relabel.Keep, []model.LabelName{"__meta_kubernetes_pod_container_name", "__meta_kubernetes_pod_container_port_name"},
			ProxyContainer+";"+EnvoyPromPortName, "", ""),
		// __address__ is <ip>:15090 or [<ipv6>]:15090 for the kept port:
		// swap the port, keep the host part as discovered.
		relabelRule(relabel.Replace, []model.LabelName{"__address__"}, `(.+):\d+`, "__address__", fmt.Sprintf("${1}:%d", MergedMetricsPort)),
		relabelRule(relabel.LabelMap, nil, "__meta_kubernetes_pod_label_(.+)", "", "${1}"),
		relabelRule(relabel.Replace, []model.LabelName{"__meta_kubernetes_namespace"}, "(.*)", "namespace", "${1}"),
		relabelRule(relabel.Replace, []model.LabelName{"__meta_kubernetes_pod_name"}, "(.*)", "pod", "${1}"),
	}

	istiod := promconfig.DefaultScrapeConfig
	istiod.JobName = "istiod"
	istiod.ScrapeInterval = interval
	istiod.ServiceDiscoveryConfigs = discovery.Configs{&kubernetes.SDConfig{
		Role:               kubernetes.RoleEndpointSlice,
		HTTPClientConfig:   istiod.HTTPClientConfig,
		NamespaceDiscovery: kubernetes.NamespaceDiscovery{Names: []string{o.Namespace}},
	}}
	istiod.RelabelConfigs = []*relabel.Config{
		relabelRule(relabel.Keep, []model.LabelName{"__meta_kubernetes_service_name", "__meta_kubernetes_endpointslice_port_name"},
			"istiod;"+IstiodMonitoringPort, "", ""),
		relabelRule(relabel.LabelMap, nil, "__meta_kubernetes_pod_label_(app)", "", "${1}"),
		relabelRule(relabel.Replace, []model.LabelName{"__meta_kubernetes_namespace"}, "(.*)", "namespace", "${1}"),
		relabelRule(relabel.Replace, []model.LabelName{"__meta_kubernetes_pod_name"}, "(.*)", "pod", "${1}"),
	}
	return []*promconfig.ScrapeConfig{&proxies, &istiod}
}

func relabelRule(action relabel.Action, source []model.LabelName, regex, target, replacement string) *relabel.Config {
	c := relabel.DefaultRelabelConfig
	c.Action = action
	c.SourceLabels = source
	c.Regex = relabel.MustNewRegexp(regex)
	c.TargetLabel = target
	if replacement != "" {
		c.Replacement = replacement
	}
	return &c
}

// ScrapeConfigsYAML renders the scrape jobs as a `scrape_configs:` block to
// merge into prometheus.yml.
func ScrapeConfigsYAML(o Options) ([]byte, error) {
	doc := struct {
		ScrapeConfigs []*promconfig.ScrapeConfig `yaml:"scrape_configs"`
	}{ScrapeConfigs(o)}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("render scrape_configs: %w", err)
	}
	return out, nil
}
