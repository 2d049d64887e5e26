package rules

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// Generated file names, committed under rules/generated/ (and copied into the
// meshbundle-addons chart). `go generate ./rules` refreshes them.
const (
	FilePrometheusRule = "prometheusrule.yaml"
	FilePodMonitor     = "podmonitor.yaml"
	FileServiceMonitor = "servicemonitor.yaml"
	FileRuleFile       = "istio-recording-rules.yaml"
	FileScrapeConfigs  = "scrape-configs.yaml"
)

// Files renders every generated file: the prometheus-operator objects and,
// for clusters without the operator, a rule file and scrape_configs block.
func Files(o Options) (map[string][]byte, error) {
	objects := map[string]any{
		FilePrometheusRule: PrometheusRule(o),
		FilePodMonitor:     PodMonitor(o),
		FileServiceMonitor: ServiceMonitor(o),
		FileRuleFile:       RuleGroups(),
	}
	out := make(map[string][]byte, len(objects)+1)
	for name, obj := range objects {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", name, err)
		}
		out[name] = b
	}
	scrape, err := ScrapeConfigsYAML(o)
	if err != nil {
		return nil, err
	}
	out[FileScrapeConfigs] = scrape
	return out, nil
}
