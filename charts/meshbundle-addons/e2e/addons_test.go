// Package e2e installs the meshbundle-addons chart on the local control
// plane (ci/testcluster) with prometheus-operator's CRDs, so the API server
// validates every rendered object against the real schemas.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/dashboards"
	"github.com/meshbundle/meshbundle/rules"
)

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.WithPods()) }

// operatorModule ships prometheus-operator's CRD manifests
// (example/prometheus-operator-crd). The apis module we build against
// (v0.95.2) carries only Go types, and the module proxy here serves the main
// module up to v0.85.0; monitoring.coreos.com/v1 is stable between them.
const operatorModule = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

// monitoringCRDs reads the module from the module cache and returns the three
// CRDs the chart uses. The test runs in a network namespace with no way out
// (docs/harness.md): `make modules` (which `make test` runs first) downloads
// it; keep its TEST_MODULES in step with this version.
func monitoringCRDs(t *testing.T) []*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", operatorModule).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v (not in the module cache: run `make modules` first, outside the test's network namespace)", operatorModule, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %s %v", operatorModule, mod.Error, err)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, name := range []string{"prometheusrules", "podmonitors", "servicemonitors"} {
		b, err := os.ReadFile(filepath.Join(mod.Dir, "example", "prometheus-operator-crd", "monitoring.coreos.com_"+name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(b, crd); err != nil {
			t.Fatalf("CRD %s: %v", name, err)
		}
		crds = append(crds, crd)
	}
	return crds
}

func TestAddonsChartInstalls(t *testing.T) {
	c := testcluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	for _, crd := range monitoringCRDs(t) {
		if err := c.Client.Create(ctx, crd); err != nil {
			t.Fatalf("create CRD %s: %v", crd.Name, err)
		}
	}
	waitFor(ctx, t, "monitoring.coreos.com/v1 served", func() error {
		for _, kind := range []string{"PrometheusRule", "PodMonitor", "ServiceMonitor"} {
			if _, err := c.Client.RESTMapper().RESTMapping(schema.GroupKind{Group: "monitoring.coreos.com", Kind: kind}, "v1"); err != nil {
				return err
			}
		}
		return nil
	})

	ch, err := loader.Load("..")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.HelmConfig("istio-system")
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace, install.CreateNamespace = "meshbundle-addons", "istio-system", true
	install.Timeout = 2 * time.Minute
	// kiali-proxy too, with the TLS Secret it mounts (kwok mounts nothing,
	// but the API server checks the Deployment and Service).
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tlsSecret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "kiali-proxy-tls", Namespace: "istio-system"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("key")},
	}
	if err := c.Client.Create(ctx, tlsSecret); err != nil {
		t.Fatal(err)
	}
	values := map[string]any{"kialiProxy": map[string]any{
		"enabled":        true,
		"consoleOrigins": []any{"https://console.example.com"},
		"hosts":          []any{"kiali.example.com"},
		"tls":            map[string]any{"secretName": tlsSecret.Name},
	}}
	if _, err := install.RunWithContext(ctx, ch, values); err != nil {
		t.Fatalf("helm install meshbundle-addons: %v", err)
	}
	t.Logf("CRDs + install in %s", time.Since(start).Round(time.Millisecond))

	// The monitoring objects exist (the API server accepted them against
	// the operator's schemas).
	for _, o := range []struct{ kind, name string }{
		{"PrometheusRule", "istio-workload-recording-rules"}, {"PodMonitor", "istio-proxies"}, {"ServiceMonitor", "istiod"},
	} {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: o.kind})
		if err := c.Client.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: o.name}, u); err != nil {
			t.Errorf("%s %s: %v", o.kind, o.name, err)
		}
	}
	var rule unstructured.Unstructured
	rule.SetGroupVersionKind(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"})
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: "istio-workload-recording-rules"}, &rule); err == nil {
		groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
		if want := len(rules.RuleGroups().Groups); len(groups) != want {
			t.Errorf("PrometheusRule stored %d groups, want %d", len(groups), want)
		}
	}

	var cms corev1.ConfigMapList
	if err := c.Client.List(ctx, &cms, client.InNamespace("istio-system"), client.MatchingLabels{dashboards.SidecarLabel: "1"}); err != nil {
		t.Fatal(err)
	}
	if len(cms.Items) != len(dashboards.All()) {
		t.Errorf("%d dashboard ConfigMaps, want %d", len(cms.Items), len(dashboards.All()))
	}

	for _, o := range []client.Object{
		&corev1.ServiceAccount{}, &corev1.ConfigMap{}, &corev1.Service{}, &appsv1.Deployment{},
	} {
		if err := c.Client.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: "kiali"}, o); err != nil {
			t.Errorf("Kiali %T: %v", o, err)
		}
	}
	for _, o := range []client.Object{&rbacv1.ClusterRole{}, &rbacv1.ClusterRoleBinding{}} {
		if err := c.Client.Get(ctx, types.NamespacedName{Name: "meshbundle-addons-kiali"}, o); err != nil {
			t.Errorf("Kiali %T: %v", o, err)
		}
	}
	// kwok runs the pod: the Deployment's spec is schedulable and complete.
	if _, err := c.WaitDeploymentAvailable(ctx, "istio-system", "kiali", time.Minute); err != nil {
		t.Errorf("Kiali Deployment: %v", err)
	}
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: "kiali-proxy"}, &corev1.Service{}); err != nil {
		t.Errorf("kiali-proxy Service: %v", err)
	}
	if _, err := c.WaitDeploymentAvailable(ctx, "istio-system", "kiali-proxy", time.Minute); err != nil {
		t.Errorf("kiali-proxy Deployment: %v", err)
	}
}

func waitFor(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	var last error
	for {
		if last = check(); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, fmt.Errorf("%w: %v", ctx.Err(), last))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
