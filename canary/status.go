package canary

import (
	"context"
	"fmt"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/renderer"
)

// Status is the canary state of an app as the cluster shows it.
type Status struct {
	App       string `json:"app"`
	Namespace string `json:"namespace"`
	// Running: a VirtualService route of the app (HTTP, TCP or TLS; or,
	// with routeAPI gateway-api, an HTTPRoute, GRPCRoute or TCPRoute rule)
	// has more than one destination (the seed's definition of a running
	// canary).
	Running bool `json:"running"`
	// Phase and Target come from the applied AppMesh (state ConfigMap).
	Phase  string `json:"phase,omitempty"`
	Target string `json:"target,omitempty"`
	// Versions: weight and readiness per version of the target.
	Versions []VersionStatus `json:"versions,omitempty"`
	// LastStep is the last step applied (release description or commit).
	LastStep string `json:"lastStep,omitempty"`
	// Promoted: the applied AppMesh's spec.promoted entries.
	Promoted []PromotionStatus `json:"promoted,omitempty"`
}

// PromotionStatus is one spec.promoted entry as the cluster runs it.
type PromotionStatus struct {
	Deployment string `json:"deployment"`
	Image      string `json:"image"`
	Replaces   string `json:"replaces,omitempty"`
	// Running is the image the Deployment's container runs.
	Running string `json:"running,omitempty"`
	// Stale: the chart renders neither Replaces nor Image any more, so the
	// chart won and the entry does nothing (remove it).
	Stale bool `json:"stale,omitempty"`
}

// VersionStatus is one version of the target.
type VersionStatus struct {
	Version    string `json:"version"`
	Deployment string `json:"deployment,omitempty"`
	Weight     int32  `json:"weight"`
	Ready      int32  `json:"readyReplicas"`
	Replicas   int32  `json:"replicas"`
	Image      string `json:"image,omitempty"`
}

// ReadStatus reads the state ConfigMap, the routes (VirtualServices, or
// with routeAPI gateway-api the Gateway API routes and per-version
// Services, through cl.Gateway) and the Deployments of the app.
func ReadStatus(ctx context.Context, cl *Cluster, istio istioclient.Interface) (*Status, error) {
	st := &Status{App: cl.App, Namespace: cl.Namespace}
	am, err := cl.AppliedAppMesh(ctx)
	if err != nil {
		return nil, err
	}
	if am == nil {
		return nil, &failure.BadInputError{Err: fmt.Errorf("app %q: no ConfigMap %s in namespace %s (fix: check the app name and -n)", cl.App, renderer.StateConfigMapName(cl.App), cl.Namespace)}
	}
	if c := am.Spec.Canary; c != nil {
		st.Phase, st.Target = string(c.Phase), c.Target
	}
	vss, err := istio.NetworkingV1().VirtualServices(cl.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "meshbundle.dev/app=" + cl.App})
	if err != nil {
		return nil, fmt.Errorf("list VirtualServices: %w", err)
	}
	weights := map[string]int32{} // subset -> weight
	split := func(dests []*networking.RouteDestination) {
		if len(dests) > 1 {
			st.Running = true
			for _, d := range dests {
				weights[d.Destination.Subset] = d.Weight
			}
		}
	}
	for _, vs := range vss.Items {
		for _, r := range vs.Spec.Http {
			if len(r.Route) > 1 {
				st.Running = true
				for _, d := range r.Route {
					weights[d.Destination.Subset] = d.Weight
				}
			}
		}
		// A canary of a TCP (or TLS passthrough) Service splits these.
		for _, r := range vs.Spec.Tcp {
			split(r.Route)
		}
		for _, r := range vs.Spec.Tls {
			split(r.Route)
		}
	}
	if am.Spec.RouteAPI == appmesh.RouteAPIGatewayAPI {
		if err := gatewayAPIWeights(ctx, cl, st, weights); err != nil {
			return nil, err
		}
	}
	deps, err := cl.Client.AppsV1().Deployments(cl.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Deployments: %w", err)
	}
	for _, p := range am.Spec.Promoted {
		ps := PromotionStatus{Deployment: p.Deployment, Image: p.Image, Replaces: p.Replaces}
		for _, d := range deps.Items {
			if d.Name != p.Deployment {
				continue
			}
			for i, ct := range d.Spec.Template.Spec.Containers {
				if (p.Container == "" && i == 0) || ct.Name == p.Container {
					ps.Running = ct.Image
				}
			}
		}
		// The renderer pins Image unless the chart moved on; a canary of
		// the same Deployment in Stabilizing runs its own image.
		ps.Stale = p.Replaces != "" && ps.Running != "" && ps.Running != p.Image && !(st.Target == p.Deployment && st.Phase == "Stabilizing")
		st.Promoted = append(st.Promoted, ps)
	}
	for _, d := range deps.Items {
		isTarget := st.Target != "" && d.Name == st.Target
		if !isTarget && (st.Target == "" || d.Labels[renderer.CanaryOfLabel] != st.Target) {
			continue
		}
		v := d.Spec.Template.Labels["version"]
		vs := VersionStatus{Version: v, Deployment: d.Name, Weight: weights[v], Ready: d.Status.ReadyReplicas, Replicas: d.Status.Replicas}
		if len(d.Spec.Template.Spec.Containers) > 0 {
			vs.Image = d.Spec.Template.Spec.Containers[0].Image
		}
		st.Versions = append(st.Versions, vs)
	}
	slices.SortFunc(st.Versions, func(a, b VersionStatus) int { return strings.Compare(a.Deployment, b.Deployment) })
	return st, nil
}

// gatewayAPIWeights reads the weights of the app's Gateway API routes like
// those of VirtualServices: a rule with several backendRefs is a running
// canary, and each backend is the per-version Service "<service>-<version>"
// the renderer made, whose version label names the version.
func gatewayAPIWeights(ctx context.Context, cl *Cluster, st *Status, weights map[string]int32) error {
	if cl.Gateway == nil {
		return fmt.Errorf("app %s renders Gateway API routes (routeAPI gateway-api), and no Gateway API client was given to read them", cl.App)
	}
	app := metav1.ListOptions{LabelSelector: "meshbundle.dev/app=" + cl.App}
	var rules [][]gwapi.BackendRef
	gw := cl.Gateway.GatewayV1()
	https, err := gw.HTTPRoutes(cl.Namespace).List(ctx, app)
	if err != nil {
		return fmt.Errorf("list HTTPRoutes: %w", err)
	}
	for _, r := range https.Items {
		for _, rule := range r.Spec.Rules {
			var refs []gwapi.BackendRef
			for _, b := range rule.BackendRefs {
				refs = append(refs, b.BackendRef)
			}
			rules = append(rules, refs)
		}
	}
	grpcs, err := gw.GRPCRoutes(cl.Namespace).List(ctx, app)
	if err != nil {
		return fmt.Errorf("list GRPCRoutes: %w", err)
	}
	for _, r := range grpcs.Items {
		for _, rule := range r.Spec.Rules {
			var refs []gwapi.BackendRef
			for _, b := range rule.BackendRefs {
				refs = append(refs, b.BackendRef)
			}
			rules = append(rules, refs)
		}
	}
	tcps, err := gw.TCPRoutes(cl.Namespace).List(ctx, app)
	if err != nil {
		return fmt.Errorf("list TCPRoutes: %w", err)
	}
	for _, r := range tcps.Items {
		for _, rule := range r.Spec.Rules {
			rules = append(rules, rule.BackendRefs)
		}
	}
	svcs, err := cl.Client.CoreV1().Services(cl.Namespace).List(ctx, metav1.ListOptions{LabelSelector: renderer.VersionOfLabel})
	if err != nil {
		return fmt.Errorf("list per-version Services: %w", err)
	}
	version := map[string]string{} // Service name -> version
	for _, s := range svcs.Items {
		version[s.Name] = s.Labels["version"]
	}
	for _, refs := range rules {
		if len(refs) < 2 {
			continue
		}
		st.Running = true
		for _, b := range refs {
			w := int32(1)
			if b.Weight != nil {
				w = *b.Weight
			}
			weights[version[string(b.Name)]] = w
		}
	}
	return nil
}
