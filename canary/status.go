package canary

import (
	"context"
	"fmt"
	"slices"
	"strings"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/renderer"
)

// Status is the canary state of an app as the cluster shows it.
type Status struct {
	App       string `json:"app"`
	Namespace string `json:"namespace"`
	// Running: a VirtualService route of the app has more than one
	// destination (the seed's definition of a running canary).
	Running bool `json:"running"`
	// Phase and Target come from the applied AppMesh (state ConfigMap).
	Phase  string `json:"phase,omitempty"`
	Target string `json:"target,omitempty"`
	// Versions: weight and readiness per version of the target.
	Versions []VersionStatus `json:"versions,omitempty"`
	// LastStep is the last step applied (release description or commit).
	LastStep string `json:"lastStep,omitempty"`
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

// ReadStatus reads the VirtualServices, Deployments and state ConfigMap of
// the app.
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
	for _, vs := range vss.Items {
		for _, r := range vs.Spec.Http {
			if len(r.Route) > 1 {
				st.Running = true
				for _, d := range r.Route {
					weights[d.Destination.Subset] = d.Weight
				}
			}
		}
	}
	deps, err := cl.Client.AppsV1().Deployments(cl.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Deployments: %w", err)
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
