package gateway

import (
	"context"
	"fmt"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/installer"
	"github.com/meshbundle/meshbundle/rollout"
)

// Info is one gateway as the cluster has it.
type Info struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Class     Class  `json:"class"`
	// API is istio (a Helm release) or gateway-api (a Gateway API Gateway).
	API API `json:"api"`
	// Status is, for API istio, Helm's release status (deployed, failed,
	// pending-upgrade, ...); for API gateway-api "programmed" or "not
	// programmed" (the Gateway's Programmed condition; Message says why).
	Status string `json:"status"`
	// Revision is the Helm release revision, or the Gateway's generation.
	// Chart is the release's chart, or "gatewayclass/<class>".
	Revision int    `json:"revision"`
	Chart    string `json:"chart"`
	Updated  string `json:"updated"`
	// Ready says whether the gateway Deployment is Available (and, for API
	// gateway-api, the Gateway Programmed); Message why not.
	Ready   bool   `json:"ready"`
	Message string `json:"message,omitempty"`
	// ServiceType and Addresses of the gateway Service (load balancer
	// ingress, else the cluster IP).
	ServiceType string   `json:"serviceType,omitempty"`
	Addresses   []string `json:"addresses,omitempty"`
	// Deployment istiod created for a Gateway API gateway.
	Deployment string `json:"deployment,omitempty"`
	// Network of an east-west gateway.
	Network string `json:"network,omitempty"`
	// Hosts per port of the Istio Gateway in the cluster ("80/HTTP": [...]).
	Servers map[string][]string `json:"servers,omitempty"`
}

// List returns the gateways in namespace, or in every namespace when it is
// "": releases of the meshbundle-gateway chart and the Gateway API Gateways
// meshbundle made (labelled meshbundle.dev/gateway), never other Gateways.
func List(ctx context.Context, t Target, namespace string) ([]Info, error) {
	ctx, cancel := t.withTimeout(ctx)
	defer cancel()
	cl, err := t.connect()
	if err != nil {
		return nil, err
	}
	cfg, err := cl.Helm(namespace)
	if err != nil {
		return nil, err
	}
	l := action.NewList(cfg)
	l.AllNamespaces = namespace == ""
	l.StateMask = action.ListAll
	rels, err := l.Run()
	if err != nil {
		return nil, installer.Classify(fmt.Errorf("list releases: %w", err), "gateway list")
	}
	var out []Info
	for _, r := range rels {
		if r.Chart == nil || r.Chart.Metadata.Name != ChartName {
			continue
		}
		info, err := describe(ctx, cl, r)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	apiGateways, err := listGatewayAPI(ctx, cl, namespace)
	if err != nil {
		return nil, err
	}
	out = append(out, apiGateways...)
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out, nil
}

// Status reads one gateway; it writes nothing.
func Status(ctx context.Context, t Target, namespace, name string) (*Info, error) {
	ctx, cancel := t.withTimeout(ctx)
	defer cancel()
	cl, err := t.connect()
	if err != nil {
		return nil, err
	}
	cfg, err := cl.Helm(namespace)
	if err != nil {
		return nil, err
	}
	helm, gw, _, err := findGateway(ctx, cl, cfg, namespace, name)
	if err != nil {
		return nil, installer.Classify(fmt.Errorf("gateway %s/%s: %w", namespace, name, err), "gateway status")
	}
	if !helm {
		if gw == nil {
			return nil, notFound(namespace, name)
		}
		if !ours(gw) {
			return nil, failure.BadInputf("Gateway %s/%s%s; meshbundle reports only its own gateways (fix: look with `kubectl -n %s get gateway %s`)", namespace, name, notOursNote(gw), namespace, name)
		}
		info, err := describeGatewayAPI(ctx, cl, gw)
		return &info, err
	}
	last, err := cfg.Releases.Last(name)
	if err != nil {
		return nil, installer.Classify(fmt.Errorf("gateway %s/%s: %w", namespace, name, err), "gateway status")
	}
	info, err := describe(ctx, cl, last)
	return &info, err
}

// describe joins the release record with the Deployment, Service and
// Gateway in the cluster.
func describe(ctx context.Context, cl *installer.Cluster, r *release.Release) (Info, error) {
	info := Info{Name: r.Name, Namespace: r.Namespace, API: APIIstio, Status: r.Info.Status.String(), Revision: r.Version,
		Chart: r.Chart.Metadata.Name + "-" + r.Chart.Metadata.Version, Updated: r.Info.LastDeployed.UTC().Format(time.RFC3339)}
	if _, class, err := configOf(r.Config); err == nil {
		info.Class = class
	}
	if gw, ok := r.Config["gateway"].(map[string]any); ok {
		info.Network, _ = gw["networkGateway"].(string)
	}
	kube := cl.Kube()
	d, err := kube.AppsV1().Deployments(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		info.Message = "deployment not found"
	case err != nil:
		return info, installer.Classify(fmt.Errorf("deployment %s/%s: %w", r.Namespace, r.Name, err), "gateway status")
	default:
		info.Ready, info.Message = rollout.DeploymentDone(d)
	}
	svc, err := kube.CoreV1().Services(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	if err == nil {
		info.ServiceType = string(svc.Spec.Type)
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				info.Addresses = append(info.Addresses, in.IP)
			}
			if in.Hostname != "" {
				info.Addresses = append(info.Addresses, in.Hostname)
			}
		}
		if len(info.Addresses) == 0 && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != "None" {
			info.Addresses = []string{svc.Spec.ClusterIP}
		}
	} else if !apierrors.IsNotFound(err) {
		return info, installer.Classify(fmt.Errorf("service %s/%s: %w", r.Namespace, r.Name, err), "gateway status")
	}
	ic, err := istioclient.NewForConfig(cl.RESTConfig())
	if err != nil {
		return info, err
	}
	gw, err := ic.NetworkingV1().Gateways(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	if err == nil {
		info.Servers = map[string][]string{}
		for _, s := range gw.Spec.Servers {
			key := fmt.Sprintf("%d/%s", s.GetPort().GetNumber(), s.GetPort().GetProtocol())
			info.Servers[key] = append(info.Servers[key], s.Hosts...)
		}
	} else if !apierrors.IsNotFound(err) {
		return info, installer.Classify(fmt.Errorf("gateway resource %s/%s: %w", r.Namespace, r.Name, err), "gateway status")
	}
	return info, nil
}

// OK says whether the gateway serves: Ready and, for a Helm release,
// deployed (`gateway status` exits 1 otherwise).
func (i Info) OK() bool {
	return i.Ready && (i.API == APIGatewayAPI || i.Status == release.StatusDeployed.String())
}
