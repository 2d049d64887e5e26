// Package e2e links two local control planes started side by side and
// reads the secrets with istiod's own multicluster code.
package e2e

import (
	"context"
	"testing"
	"time"

	istiomc "istio.io/istio/pkg/kube/multicluster"
	istiolog "istio.io/istio/pkg/log"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/multicluster"
)

// startIstioCluster starts one control plane with controllers (the token
// controller fills the reader's token Secret) and Istio's base and istiod
// charts (they create istio-reader-service-account and its read-only RBAC).
func startIstioCluster(t *testing.T, ctx context.Context) *testcluster.Cluster {
	t.Helper()
	c, err := testcluster.Start(ctx, testcluster.WithPods())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	if err := c.InstallIstioCharts(ctx); err != nil {
		t.Fatalf("install Istio charts: %v\n%s", err, c.Logs(30))
	}
	return c
}

func TestClusterLink(t *testing.T) {
	for _, s := range istiolog.Scopes() {
		s.SetOutputLevel(istiolog.NoneLevel)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	a, b := startIstioCluster(t, ctx), startIstioCluster(t, ctx)
	t.Logf("two clusters with Istio's charts up in %s", time.Since(start).Round(time.Millisecond))

	sideA := multicluster.Cluster{Kubeconfig: a.Kubeconfig, Name: "cluster-a"}
	sideB := multicluster.Cluster{Kubeconfig: b.Kubeconfig, Name: "cluster-b"}
	res, err := multicluster.Link(ctx, sideA, sideB)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 2 {
		t.Errorf("warnings %v: want one per cluster about the 127.0.0.1 API server address", res.Warnings)
	}

	// Each cluster holds the other's secret in istiod's format, and
	// istiod's own code builds a working client for the other cluster
	// from it.
	for _, tt := range []struct {
		in    *testcluster.Cluster // the cluster whose istiod reads the secret
		other *testcluster.Cluster // the cluster the secret gives access to
		name  string               // the other cluster's name
	}{
		{a, b, "cluster-b"},
		{b, a, "cluster-a"},
	} {
		t.Run("secret for "+tt.name, func(t *testing.T) {
			var sec corev1.Secret
			key := types.NamespacedName{Namespace: "istio-system", Name: "istio-remote-secret-" + tt.name}
			if err := tt.in.Client.Get(ctx, key, &sec); err != nil {
				t.Fatal(err)
			}
			if sec.Labels[istiomc.MultiClusterSecretLabel] != "true" || sec.Annotations["networking.istio.io/cluster"] != tt.name {
				t.Errorf("secret %s labels %v annotations %v", key, sec.Labels, sec.Annotations)
			}
			kc, err := istiomc.DefaultBuildClientsFromConfig(sec.Data[tt.name], "")
			if err != nil {
				t.Fatalf("istiod cannot read the secret's kubeconfig: %v", err)
			}
			// The reader sees the other cluster's Services (what istiod
			// discovers endpoints from) ...
			svcs, err := kc.Kube().CoreV1().Services("istio-system").List(ctx, metav1.ListOptions{})
			if err != nil || len(svcs.Items) == 0 {
				t.Fatalf("list Services of %s with the secret: %d, %v", tt.name, len(svcs.Items), err)
			}
			// ... and cannot write: the token is the read-only reader's.
			_, err = kc.Kube().CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			if !apierrors.IsForbidden(err) {
				t.Errorf("writing with the remote secret's token: %v, want Forbidden", err)
			}
		})
	}

	// Linking again updates the secrets in place.
	res, err = multicluster.Link(ctx, sideA, sideB)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Secrets {
		if s.Action != "updated" {
			t.Errorf("re-link: %+v, want updated", s)
		}
	}
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}
