package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/gateway"
	"github.com/meshbundle/meshbundle/installer"
)

var (
	virtualServices  = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	destinationRules = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
)

// istioObject builds a networking.istio.io/v1 object for a tenant.
func istioObject(kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec,
	}}
}

// installWithIstiod installs and starts the local istiod once the istiod
// release is in place (as its pod would start), so injection and
// validation are real for the rest of the run.
func installWithIstiod(ctx context.Context, t *testing.T, c *testcluster.Cluster, opts installer.Options) *installer.Result {
	t.Helper()
	var istiodErr error
	started := false
	opts.Progress = func(e installer.Event) {
		if e.Phase == installer.PhaseIstiod && e.State != "" && e.State != installer.StateFailed && !started {
			started = true
			istiodErr = c.StartIstiod(ctx)
		}
	}
	res, err := installer.Install(ctx, opts)
	if istiodErr != nil {
		t.Fatalf("start local istiod: %v", istiodErr)
	}
	if err != nil {
		t.Fatalf("install: %v\nistiod log: %s", err, c.IstiodLog())
	}
	return res
}

// uninstallStoppingIstiod uninstalls; istiod stops when its release goes.
func uninstallStoppingIstiod(ctx context.Context, c *testcluster.Cluster, opts installer.Options) (*installer.Result, error) {
	var stopErr error
	opts.Progress = func(e installer.Event) {
		if e.Phase == installer.PhaseIstiod && e.State != "" {
			stopErr = c.StopIstiod()
		}
	}
	res, err := installer.Uninstall(ctx, opts)
	return res, errors.Join(err, stopErr)
}

func namespaceGone(ctx context.Context, cl clients, ns string) error {
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cl.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// TestUninstallKeepsTenants is the manual check as a test, on a
// shared cluster: a tenant's Istio config in its own namespace, an app
// team's gateway (`gateway add pub -n shop2`) with an app beside it, and an
// app deployed into the installer's gateway namespace. Uninstall refuses to
// delete the CRDs while that config exists, by default keeps the CRDs,
// shop2 and istio-ingress (saying why), and deletes istio-system, which
// holds only the installer's and istiod's objects (the control that the
// content check does delete).
func TestUninstallKeepsTenants(t *testing.T) {
	c := testcluster.Shared(t)
	cl := newClients(t, c)
	ctx := context.Background()
	installWithIstiod(ctx, t, c, options(c, nil))
	t.Cleanup(func() { _ = c.StopIstiod() })

	shop := c.Namespace(t, nil)
	step(t, "tenants move in", func(t *testing.T) {
		for _, o := range []struct {
			gvr schema.GroupVersionResource
			obj *unstructured.Unstructured
		}{
			{virtualServices, istioObject("VirtualService", shop, "web", map[string]any{"hosts": []any{"web"}, "http": []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "web"}}}}}})},
			{destinationRules, istioObject("DestinationRule", shop, "web", map[string]any{"host": "web"})},
		} {
			if _, err := cl.dyn.Resource(o.gvr).Namespace(shop).Create(ctx, o.obj, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create %s: %v", o.obj.GetKind(), err)
			}
		}
		if _, err := gateway.Add(ctx, gateway.Target{Kubeconfig: c.Kubeconfig, Timeout: 2 * time.Minute}, gateway.AddOptions{Name: "pub", Namespace: "shop2"}); err != nil {
			t.Fatalf("gateway add pub -n shop2: %v", err)
		}
		ns, err := cl.kube.CoreV1().Namespaces().Get(ctx, "shop2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ns.Labels[installer.ManagedLabel] != "" || ns.Annotations[installer.CreatedByAnnotation] == installer.CreatorInstaller {
			t.Errorf("gateway add marked shop2 as the installer's: labels %v annotations %v", ns.Labels, ns.Annotations)
		}
		for _, ns := range []string{"shop2", installer.DefaultGatewayNamespace} {
			if _, err := cl.kube.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "app", 1, false), metav1.CreateOptions{}); err != nil {
				t.Fatalf("app in %s: %v", ns, err)
			}
		}
	})
	t.Cleanup(func() {
		_, _ = gateway.Delete(ctx, gateway.Target{Kubeconfig: c.Kubeconfig, Timeout: time.Minute}, "shop2", "pub")
		for _, ns := range []string{"shop2", installer.DefaultGatewayNamespace} {
			_ = cl.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
			_ = namespaceGone(ctx, cl, ns)
		}
	})

	step(t, "--delete-crds refused while config exists", func(t *testing.T) {
		opts := options(c, nil)
		opts.DeleteCRDs = true
		res, err := installer.Uninstall(ctx, opts)
		if failure.KindOf(err) != failure.InUse {
			t.Fatalf("uninstall --delete-crds: %v, want a refusal (failure.InUse)", err)
		}
		// The tenant's VirtualService and DestinationRule, shop2's Gateway;
		// not the installer's own mesh-wide Telemetry.
		for _, want := range []string{"3 Istio and Gateway API config objects", "in 2 namespaces", shop + " (2: DestinationRule web, VirtualService web)", "shop2 (1: Gateway pub)", "--force"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q lacks %q", err, want)
			}
		}
		for _, p := range res.Phases {
			if len(p.Releases) > 0 || (p.Phase != installer.PhaseValidate && p.State != installer.StatePending) {
				t.Errorf("phase %s %s with %d releases: the refusal must come before any change", p.Phase, p.State, len(p.Releases))
			}
		}
		if rel := lastRelease(t, c, "istio-system", installer.ReleaseIstiod); rel == nil || rel.Info.Status != release.StatusDeployed {
			t.Errorf("istiod release after the refusal: %v, want deployed", rel)
		}
	})

	step(t, "uninstall keeps what is not the installer's alone", func(t *testing.T) {
		res, err := uninstallStoppingIstiod(ctx, c, options(c, nil))
		if err != nil {
			t.Fatal(err)
		}
		kept := map[string]installer.Kept{}
		for _, k := range res.Kept {
			t.Logf("kept %s %s: %s", k.Kind, strings.Join(k.Names, ", "), k.Reason)
			for _, n := range k.Names {
				kept[k.Kind+"/"+n] = k
			}
		}
		if k, ok := kept["Namespace/"+installer.DefaultGatewayNamespace]; !ok || !strings.Contains(k.Reason, "Deployment app") {
			t.Errorf("istio-ingress: kept %v (%q), want kept because it holds Deployment app", ok, k.Reason)
		}
		if _, ok := kept["CustomResourceDefinition/virtualservices.networking.istio.io"]; !ok {
			t.Errorf("CRDs not reported kept: %+v", res.Kept)
		}
		if _, ok := kept["Namespace/istio-system"]; ok {
			t.Errorf("istio-system kept: %+v; it holds only the installer's and istiod's objects", kept["Namespace/istio-system"])
		}
		if _, ok := kept["Namespace/shop2"]; ok {
			t.Errorf("shop2 listed: uninstall must not consider a namespace it did not create")
		}
		if err := namespaceGone(ctx, cl, "istio-system"); err != nil {
			t.Errorf("istio-system not deleted: %v", err)
		}
		if crds := istioCRDs(t, cl); len(crds) < 10 {
			t.Errorf("%d Istio CRDs left, want all kept", len(crds))
		}
		for _, o := range []struct {
			gvr      schema.GroupVersionResource
			ns, name string
		}{{virtualServices, shop, "web"}, {destinationRules, shop, "web"}} {
			if _, err := cl.dyn.Resource(o.gvr).Namespace(o.ns).Get(ctx, o.name, metav1.GetOptions{}); err != nil {
				t.Errorf("tenant's %s %s/%s: %v", o.gvr.Resource, o.ns, o.name, err)
			}
		}
		for _, ns := range []string{"shop2", installer.DefaultGatewayNamespace} {
			if _, err := cl.kube.AppsV1().Deployments(ns).Get(ctx, "app", metav1.GetOptions{}); err != nil {
				t.Errorf("app in %s: %v", ns, err)
			}
			if n, err := cl.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil || n.DeletionTimestamp != nil {
				t.Errorf("namespace %s: %v (deleting: %v)", ns, err, n != nil && n.DeletionTimestamp != nil)
			}
		}
		if rel := lastRelease(t, c, "shop2", "pub"); rel == nil || rel.Info.Status != release.StatusDeployed {
			t.Errorf("shop2's gateway release: %v, want deployed", rel)
		}
	})

	step(t, "--delete-crds --force deletes them", func(t *testing.T) {
		if _, err := gateway.Delete(ctx, gateway.Target{Kubeconfig: c.Kubeconfig, Timeout: time.Minute}, "shop2", "pub"); err != nil {
			t.Fatalf("gateway delete (before its Gateway's CRD goes): %v", err)
		}
		opts := options(c, nil)
		opts.DeleteCRDs, opts.Force = true, true
		if _, err := installer.Uninstall(ctx, opts); err != nil {
			t.Fatal(err)
		}
		if crds := istioCRDs(t, cl); len(crds) != 0 {
			t.Errorf("%d Istio CRDs left after --delete-crds --force", len(crds))
		}
	})
}
