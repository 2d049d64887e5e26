package e2e

import (
	"context"
	"path/filepath"
	"testing"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshbundle/meshbundle/renderer"
)

// TestHelmInstallAmbient: the example app in ambient mode on the local
// control plane, installed by the helm CLI through the post-renderer binary
// (issue 19). The API server accepts every object (the Gateway API CRDs'
// schemas included); the pods run without sidecars although istiod's
// injector is live (the sidecar test beside this one shows it injects);
// web's route is a GAMMA HTTPRoute, no VirtualService exists, and the
// app's waypoint Gateway is there with web labelled to use it. No ztunnel
// or waypoint proxy runs here (kwok runs no containers): traffic through
// them is not tested.
func TestHelmInstallAmbient(t *testing.T) {
	c, tl := setup(t)
	ctx := context.Background()
	if err := c.InstallGatewayAPICRDs(ctx); err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace(t, nil)
	chart := filepath.Join("..", "..", "charts", "example-app")
	config := writeAppMesh(t, ns, "  dataplane: ambient\n  ports:\n    mode: fix\n  routes:\n  - service: web\n")
	if out, err := tl.helm(t, "install", "example-app", chart, "-n", ns, "--post-renderer", tl.postrender, "--post-renderer-args", "--config="+config); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	for _, d := range []string{"web", "api"} {
		dep := waitAvailable(t, c, ns, d)
		if _, ok := dep.Spec.Template.Annotations["sidecar.istio.io/inject"]; ok {
			t.Errorf("Deployment %s: ambient pod template carries sidecar.istio.io/inject: %v", d, dep.Spec.Template.Annotations)
		}
		if n := podsWithSidecar(t, c, ns, d); n != 0 || countPods(t, c, ns, d) == 0 {
			t.Errorf("Deployment %s: %d of %d pods carry istio-proxy, want pods and none", d, n, countPods(t, c, ns, d))
		}
	}
	var route gwapi.HTTPRoute
	get(t, c, ns, "web", &route)
	if len(route.Spec.ParentRefs) == 0 || route.Spec.ParentRefs[0].Name != "web" || route.Spec.ParentRefs[0].Kind == nil || *route.Spec.ParentRefs[0].Kind != "Service" {
		t.Errorf("HTTPRoute web parentRefs %+v, want the Service web (GAMMA)", route.Spec.ParentRefs)
	}
	var vss istionet.VirtualServiceList
	if err := c.Client.List(ctx, &vss, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(vss.Items) != 0 {
		t.Errorf("%d VirtualServices in an ambient app's namespace, want none", len(vss.Items))
	}
	var wp gwapi.Gateway
	get(t, c, ns, renderer.WaypointName("example-app"), &wp)
	if wp.Spec.GatewayClassName != "istio-waypoint" {
		t.Errorf("waypoint Gateway class %q, want istio-waypoint", wp.Spec.GatewayClassName)
	}
	var web corev1.Service
	get(t, c, ns, "web", &web)
	if got := web.Labels["istio.io/use-waypoint"]; got != wp.Name {
		t.Errorf("Service web istio.io/use-waypoint = %q, want %q", got, wp.Name)
	}
}
