package argocd_test

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// repoServer builds an argocd-repo-server Deployment with the volumes Argo
// CD's install manifest gives it and the sidecar patch relies on
// (var-files: where argocd-cmp-server is copied to; plugins: the sockets).
func repoServer() *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/name": "argocd-repo-server"}
	empty := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "argocd-repo-server", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "argocd-repo-server", Image: "quay.io/argoproj/argocd:v3.5.7",
						VolumeMounts: []corev1.VolumeMount{{Name: "var-files", MountPath: "/var/run/argocd"}, {Name: "plugins", MountPath: "/home/argocd/cmp-server/plugins"}}}},
					Volumes: []corev1.Volume{{Name: "var-files", VolumeSource: empty}, {Name: "plugins", VolumeSource: empty}},
				},
			},
		},
	}
}

// TestRepoServerPatch applies charts/argocd-plugin/repo-server-patch.yaml as
// `kubectl patch` does (strategic merge) and has a real kube-apiserver
// validate the result: the sidecar runs argocd-cmp-server and mounts
// plugin.yaml from the ConfigMap the chart renders.
func TestRepoServerPatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := testcluster.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	repo, err := testcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	patchYAML, err := os.ReadFile(filepath.Join(repo, "charts", "argocd-plugin", "repo-server-patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	patch, err := yaml.YAMLToJSON(patchYAML)
	if err != nil {
		t.Fatal(err)
	}
	original, err := json.Marshal(repoServer())
	if err != nil {
		t.Fatal(err)
	}
	merged, err := strategicpatch.StrategicMergePatch(original, patch, appsv1.Deployment{})
	if err != nil {
		t.Fatalf("strategic merge: %v", err)
	}
	var dep appsv1.Deployment
	if err := json.Unmarshal(merged, &dep); err != nil {
		t.Fatal(err)
	}
	if err := c.Client.Create(ctx, &dep, client.DryRunAll); err != nil {
		t.Fatalf("the API server rejects the patched Deployment: %v", err)
	}

	pod := dep.Spec.Template.Spec
	// Containers merge by name: the repo server stays, the sidecar joins.
	names := map[string]corev1.Container{}
	for _, ctr := range pod.Containers {
		names[ctr.Name] = ctr
	}
	sidecar, ok := names["meshbundle-cmp"]
	if _, repoServer := names["argocd-repo-server"]; len(pod.Containers) != 2 || !repoServer || !ok {
		t.Fatalf("containers after the patch: %d, names %v", len(pod.Containers), slices.Sorted(maps.Keys(names)))
	}
	if !slices.Equal(sidecar.Command, []string{"/var/run/argocd/argocd-cmp-server"}) {
		t.Errorf("sidecar command %v", sidecar.Command)
	}
	cm := pluginConfigMapName(t)
	var mounted bool
	for _, m := range sidecar.VolumeMounts {
		if m.MountPath == "/home/argocd/cmp-server/config/plugin.yaml" && m.SubPath == "plugin.yaml" {
			for _, v := range pod.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm {
					mounted = true
				}
			}
		}
	}
	if !mounted {
		t.Errorf("the sidecar does not mount plugin.yaml from ConfigMap %s: %+v", cm, sidecar.VolumeMounts)
	}
}
