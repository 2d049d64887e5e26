package gateway

import (
	"embed"
	"fmt"
	"strconv"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/gatewayconfig"
	"github.com/meshbundle/meshbundle/gatewayconfig/gatewayobj"
	"github.com/meshbundle/meshbundle/installer"
)

// ChartName is the chart of every gateway release; `gateway list` finds
// gateways by it.
const ChartName = "meshbundle-gateway"

//go:embed all:chart
var chartFS embed.FS

// Chart is the meshbundle-gateway chart with Istio's gateway chart (embedded
// in the pinned istio.io/istio module) as its subchart "gateway", both
// stamped with the pinned Istio release like the installer's charts.
func Chart() (*chart.Chart, error) {
	ch, err := installer.LoadChartFS(chartFS, "chart")
	if err != nil {
		return nil, err
	}
	sub, err := installer.IstioChart("gateway")
	if err != nil {
		return nil, err
	}
	ch.AddDependency(sub)
	ch.Metadata.Version, ch.Metadata.AppVersion = installer.PinnedTag, installer.PinnedTag
	return ch, nil
}

// chartValues are the values of Istio's gateway chart for the options,
// checked against that chart's values.schema.json.
func chartValues(o AddOptions) (map[string]any, error) {
	vals := map[string]any{}
	set := func(s string) error { return strvals.ParseInto(s, vals) }
	st := o.ServiceType
	if st == "" {
		st = o.Class.defaultServiceType()
	}
	switch st {
	case "LoadBalancer", "NodePort", "ClusterIP", "None":
	default:
		return nil, failure.BadInputf("--service-type %q: not a Service type (fix: use LoadBalancer, NodePort, ClusterIP or None)", st)
	}
	if err := set("service.type=" + st); err != nil {
		return nil, err
	}
	if o.Class == ClassEastWest {
		// The chart turns networkGateway into the topology.istio.io/network
		// labels (pod and Service), ISTIO_META_REQUESTED_NETWORK_VIEW and the
		// 15021/15443/15012/15017 Service ports.
		vals["networkGateway"] = o.Network
	}
	if o.Replicas > 0 {
		vals["replicaCount"] = o.Replicas
		if err := set("autoscaling.enabled=false"); err != nil {
			return nil, err
		}
	}
	if o.MinReplicas > 0 {
		if err := set("autoscaling.minReplicas=" + strconv.Itoa(o.MinReplicas)); err != nil {
			return nil, err
		}
	}
	if o.MaxReplicas > 0 {
		if err := set("autoscaling.maxReplicas=" + strconv.Itoa(o.MaxReplicas)); err != nil {
			return nil, err
		}
	}
	if o.PDBMinAvailable != "" {
		if err := set("podDisruptionBudget.minAvailable=" + o.PDBMinAvailable); err != nil {
			return nil, failure.BadInputf("--pdb-min-available %q: %w (fix: give a number or a percentage, e.g. 1 or 50%%)", o.PDBMinAvailable, err)
		}
	}
	for _, s := range o.Set {
		if err := set(s); err != nil {
			return nil, failure.BadInputf("--set %s: %w (fix: use <key>=<value> with keys of Istio's gateway chart)", s, err)
		}
	}
	sub, err := installer.IstioChart("gateway")
	if err != nil {
		return nil, err
	}
	if err := chartutil.ValidateAgainstSchema(sub, vals); err != nil {
		return nil, failure.BadInputf("gateway chart values (--set, --replicas, ...): %w (fix: correct the value named; Istio's gateway chart values.schema.json lists the keys)", err)
	}
	return vals, nil
}

// releaseValues are the values of the whole release: Istio's chart values
// under "gateway", the class, the GatewayConfig and its rendered Gateway.
func releaseValues(chartVals map[string]any, class Class, gc *gatewayconfig.GatewayConfig) (map[string]any, error) {
	cfg, err := toMap(gc)
	if err != nil {
		return nil, err
	}
	gw, err := toMap(gatewayobj.Istio(gc))
	if err != nil {
		return nil, err
	}
	delete(gw, "status")
	return map[string]any{
		"gateway":    chartVals,
		"meshbundle": map[string]any{"class": string(class), "config": cfg, "gatewayResource": gw},
	}, nil
}

// toMap converts a typed object to Helm values (JSON types).
func toMap(v any) (map[string]any, error) {
	raw, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := yaml.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// configOf reads the GatewayConfig and class a release was installed with.
func configOf(vals map[string]any) (*gatewayconfig.GatewayConfig, Class, error) {
	mb, _ := vals["meshbundle"].(map[string]any)
	class, _ := mb["class"].(string)
	raw, err := yaml.Marshal(mb["config"])
	if err != nil {
		return nil, "", err
	}
	gc, err := gatewayconfig.Decode(raw)
	if err != nil {
		return nil, Class(class), fmt.Errorf("release values meshbundle.config: %w", err)
	}
	return gc, Class(class), nil
}
