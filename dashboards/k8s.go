package dashboards

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Conventions of the consumers the Kubernetes objects are for.
const (
	// SidecarLabel is the label kube-prometheus-stack's Grafana sidecar
	// (k8s-sidecar) watches ConfigMaps for.
	SidecarLabel = "grafana_dashboard"
	// SidecarFolderAnnotation names the Grafana folder the sidecar files the
	// dashboard under (with the chart's folderAnnotation setting).
	SidecarFolderAnnotation = "grafana_folder"
	// DefaultFolder is the Grafana folder dashboards go to.
	DefaultFolder = "Istio"
	// GrafanaOperatorAPIVersion is grafana-operator v5's API.
	GrafanaOperatorAPIVersion = "grafana.integreatly.org/v1beta1"
)

// ObjectName is the Kubernetes name of a dashboard's ConfigMap or
// GrafanaDashboard: the JSON file name without extension.
func (s Spec) ObjectName() string { return strings.TrimSuffix(s.File, ".json") }

// ConfigMaps renders one ConfigMap per dashboard for the Grafana sidecar.
func ConfigMaps(namespace, folder string) ([]*corev1.ConfigMap, error) {
	var out []*corev1.ConfigMap
	for _, s := range All() {
		b, err := s.JSON()
		if err != nil {
			return nil, err
		}
		out = append(out, &corev1.ConfigMap{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{
				Name:        s.ObjectName(),
				Namespace:   namespace,
				Labels:      map[string]string{SidecarLabel: "1", "app.kubernetes.io/part-of": "meshbundle"},
				Annotations: map[string]string{SidecarFolderAnnotation: folder},
			},
			Data: map[string]string{s.File: string(b)},
		})
	}
	return out, nil
}

// GrafanaDashboardOptions shape grafana-operator objects.
type GrafanaDashboardOptions struct {
	Namespace string
	Folder    string
	// InstanceSelector selects the Grafana instances (labels of their
	// Grafana objects) the dashboards are provisioned into.
	InstanceSelector map[string]string
	// Online makes the operator download the pinned grafana.com revision
	// (spec.grafanaCom) instead of embedding our JSON.
	Online bool
}

// GrafanaDashboards renders grafana-operator GrafanaDashboard objects. The
// operator's Go types are not a dependency of meshbundle, so these are
// unstructured objects following its v1beta1 CRD.
func GrafanaDashboards(o GrafanaDashboardOptions) ([]*unstructured.Unstructured, error) {
	if len(o.InstanceSelector) == 0 {
		return nil, fmt.Errorf("GrafanaDashboard spec.instanceSelector: empty; pass the labels of your Grafana object (e.g. dashboards=grafana)")
	}
	selector := map[string]any{}
	for k, v := range o.InstanceSelector {
		selector[k] = v
	}
	var out []*unstructured.Unstructured
	for _, s := range All() {
		spec := map[string]any{
			"instanceSelector": map[string]any{"matchLabels": selector},
			"folder":           o.Folder,
		}
		if o.Online {
			spec["grafanaCom"] = map[string]any{"id": int64(s.GnetID), "revision": int64(s.Revision)}
		} else {
			b, err := s.JSON()
			if err != nil {
				return nil, err
			}
			spec["json"] = string(b)
		}
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetAPIVersion(GrafanaOperatorAPIVersion)
		u.SetKind("GrafanaDashboard")
		u.SetName(s.ObjectName())
		u.SetNamespace(o.Namespace)
		u.SetLabels(map[string]string{"app.kubernetes.io/part-of": "meshbundle"})
		out = append(out, u)
	}
	return out, nil
}
