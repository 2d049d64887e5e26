package multicluster

import (
	"context"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/installer"
)

// TestInstallerTakesMeshIdentity: the installer needs no new options for a
// multi-cluster mesh: mesh ID, cluster name and network are IstioOperator
// values that Istio's own translation carries into istiod (the commands in
// docs/gateways.md). Checked on the installer's dry run.
func TestInstallerTakesMeshIdentity(t *testing.T) {
	res, err := installer.Install(context.Background(), installer.Options{DryRun: true, Source: installer.Source{NoGateway: true, Set: []string{
		"values.global.meshID=mesh1", "values.global.multiCluster.clusterName=cluster-a", "values.global.network=network-a",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var clusterID, mesh, injector string
	for _, doc := range releaseutil.SplitManifests(res.Manifests()) {
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch {
		case meta.Kind == "Deployment" && meta.Metadata.Name == "istiod":
			var d appsv1.Deployment
			if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
				t.Fatal(err)
			}
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				if e.Name == "CLUSTER_ID" {
					clusterID = e.Value
				}
			}
		case meta.Kind == "ConfigMap" && (meta.Metadata.Name == "istio" || meta.Metadata.Name == "istio-sidecar-injector"):
			var cm corev1.ConfigMap
			if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
				t.Fatal(err)
			}
			if meta.Metadata.Name == "istio" {
				mesh = cm.Data["mesh"]
			} else {
				injector = cm.Data["values"]
			}
		}
	}
	if clusterID != "cluster-a" {
		t.Errorf("istiod CLUSTER_ID = %q, want cluster-a (values.global.multiCluster.clusterName)", clusterID)
	}
	if !strings.Contains(mesh, "meshId: mesh1") {
		t.Errorf("mesh config lacks meshId: mesh1:\n%s", mesh)
	}
	if !strings.Contains(injector, `"network": "network-a"`) {
		t.Errorf("injector values lack the network (sidecars get ISTIO_META_NETWORK from it)")
	}
}
