package e2e

import (
	"context"
	"slices"
	"testing"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/renderer"
)

// The canary again with routeAPI gateway-api: the renderer writes web's
// route as a GAMMA HTTPRoute (parentRef: the Service web) whose weighted
// backendRefs are the per-version Services web-stable and web-v2; the real
// istiod's Gateway API controller turns it into the routes its grpc
// generator sends the proxyless client. Nothing else splits web's traffic
// by version (no VirtualService exists; without the route, requests to web
// would spread over all its Ready pods), so the measured shares are the
// HTTPRoute's.

// TestGatewayAPICanaryWeights is TestCanaryWeights with routeAPI
// gateway-api: start (0 %), 10, 50 %, promote, each share measured within
// 3 points over a sample sized by SampleSize, 0 failed during and after
// every step. Weight 100 is left out for time (TestCanaryWeights and the
// xDS simulation cover it).
func TestGatewayAPICanaryWeights(t *testing.T) {
	canaryWeights(t, webRoute(appmesh.RouteAPIGatewayAPI), helmMode, gatewayAPISteps())
}

// TestGatewayAPICanaryGitOps is TestGatewayAPICanaryWeights in GitOps mode:
// every step is a commit that a stand-in for Argo CD applies late
// (gitOpsMode), and canary.Run waits for that sync before the next step.
func TestGatewayAPICanaryGitOps(t *testing.T) {
	canaryWeights(t, webRoute(appmesh.RouteAPIGatewayAPI), gitOpsMode, gatewayAPISteps())
}

// gatewayAPISteps are weightSteps without weight 100: start, 10, 50 %,
// promote.
func gatewayAPISteps() []weightStep {
	return slices.DeleteFunc(slices.Clone(weightSteps), func(s weightStep) bool { return s.name == "weight 100" })
}

// TestGatewayAPICanaryAbort is TestCanaryAbortTraffic with routeAPI
// gateway-api: start → 10 % → abort with requests throughout, 0 failed.
func TestGatewayAPICanaryAbort(t *testing.T) {
	canaryAbort(t, webRoute(appmesh.RouteAPIGatewayAPI))
}

// TestGatewayAPIWarmUpControl is TestWarmUpControl for the HTTPRoute: web's
// default rule switched between the Service web and the per-version
// Service web-stable 20 times behind meshbundle's back while requests run,
// without and then with warm-up rules for both (the renderer writes them
// for every canary phase). Without them requests fail; with them none.
func TestGatewayAPIWarmUpControl(t *testing.T) {
	warmUpControl(t, appmesh.RouteAPIGatewayAPI, setWebHTTPRoute)
}

// setWebHTTPRoute points web's default HTTPRoute rule (the last) at one
// backend, the Service web (subset "") or web-<subset>, with or without
// warm-up rules for web and web-stable ahead of it, written as the
// renderer writes them.
func setWebHTTPRoute(t *testing.T, ns, subset string, warm bool) {
	t.Helper()
	c := testcluster.Shared(t)
	ctx := context.Background()
	var rt gwapi.HTTPRoute
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &rt); err != nil {
		t.Fatal(err)
	}
	def := rt.Spec.Rules[len(rt.Spec.Rules)-1]
	port := def.BackendRefs[0].Port
	backend := func(subset string) []gwapi.HTTPBackendRef {
		name := "web"
		if subset != "" {
			name += "-" + subset
		}
		return []gwapi.HTTPBackendRef{{BackendRef: gwapi.BackendRef{BackendObjectReference: gwapi.BackendObjectReference{Name: gwapi.ObjectName(name), Port: port}}}}
	}
	def.BackendRefs = backend(subset)
	rt.Spec.Rules = []gwapi.HTTPRouteRule{def}
	if warm {
		for _, s := range []string{"", "stable"} {
			value := s
			if s == "" {
				value = "host"
			}
			prefix, exact := gwapi.PathMatchPathPrefix, gwapi.HeaderMatchExact
			rt.Spec.Rules = append([]gwapi.HTTPRouteRule{{
				Name: ptrTo(gwapi.SectionName("warm-" + value)),
				Matches: []gwapi.HTTPRouteMatch{{
					Path:    &gwapi.HTTPPathMatch{Type: &prefix, Value: ptrTo("/")},
					Headers: []gwapi.HTTPHeaderMatch{{Type: &exact, Name: renderer.WarmHeader, Value: value}},
				}},
				BackendRefs: backend(s),
			}}, rt.Spec.Rules...)
		}
	}
	if err := c.Client.Update(ctx, &rt); err != nil {
		t.Fatalf("update HTTPRoute %s/web: %v", ns, err)
	}
}

func ptrTo[T any](v T) *T { return &v }

// checkRoutes fails the test unless the routes in ns are written in the
// AppMesh's route API: with gateway-api an HTTPRoute web whose parentRef is
// the Service web and no VirtualService; with istio a VirtualService web
// and no HTTPRoute.
func checkRoutes(t *testing.T, c *testcluster.Cluster, ns string, api appmesh.RouteAPI) {
	t.Helper()
	ctx := context.Background()
	var vss istionet.VirtualServiceList
	if err := c.Client.List(ctx, &vss, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var hrs gwapi.HTTPRouteList
	if err := c.Client.List(ctx, &hrs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	switch api {
	case appmesh.RouteAPIGatewayAPI:
		if len(vss.Items) > 0 {
			t.Fatalf("routeAPI gateway-api: %d VirtualServices in %s, want none", len(vss.Items), ns)
		}
		i := slices.IndexFunc(hrs.Items, func(r gwapi.HTTPRoute) bool { return r.Name == "web" })
		if i < 0 {
			t.Fatalf("routeAPI gateway-api: no HTTPRoute %s/web", ns)
		}
		refs := hrs.Items[i].Spec.ParentRefs
		if len(refs) != 1 || refs[0].Kind == nil || *refs[0].Kind != "Service" || refs[0].Name != "web" {
			t.Fatalf("HTTPRoute %s/web parentRefs %+v, want the Service web (GAMMA)", ns, refs)
		}
	default:
		if len(hrs.Items) > 0 || !slices.ContainsFunc(vss.Items, func(v *istionet.VirtualService) bool { return v.Name == "web" }) {
			t.Fatalf("routeAPI istio: %d HTTPRoutes and %d VirtualServices in %s, want none and VirtualService web", len(hrs.Items), len(vss.Items), ns)
		}
	}
}

// TestGatewayAPIBrokenStepsFail is the control for the "0 failed" of the
// gateway-api tests: changes that break make-before-break, made to the
// HTTPRoute and per-version Services behind meshbundle's back, make the
// driver count failures.
func TestGatewayAPIBrokenStepsFail(t *testing.T) {
	brokenStepsFail(t, webRoute(appmesh.RouteAPIGatewayAPI), []brokenStep{
		{"per-version Service deleted while the HTTPRoute routes to it", deleteStableService, 90},
		{"half the weight on a per-version Service without Ready pods", weightOnUnreadyService, 30},
	})
}

// deleteStableService deletes the per-version Service web-stable while
// web's HTTPRoute sends all traffic to it (the canary at 0 %).
func deleteStableService(t *testing.T, ns string) {
	c := testcluster.Shared(t)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-stable"}}
	if err := c.Client.Delete(context.Background(), svc); err != nil {
		t.Fatalf("delete Service %s/web-stable: %v", ns, err)
	}
}

// weightOnUnreadyService adds a version v3 of web whose pods never become
// Ready (they cannot be scheduled), its per-version Service web-v3, and
// routes half of web's traffic there: what make-before-break forbids.
func weightOnUnreadyService(t *testing.T, ns string) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	createUnreadyV3(t, ns)
	var stable corev1.Service
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web-stable"}, &stable); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-v3"}, Spec: corev1.ServiceSpec{Ports: stable.Spec.Ports, Selector: map[string]string{}}}
	for k, v := range stable.Spec.Selector {
		svc.Spec.Selector[k] = v
	}
	svc.Spec.Selector["version"] = "v3"
	if err := c.Client.Create(ctx, svc); err != nil {
		t.Fatalf("create Service %s/web-v3: %v", ns, err)
	}
	var rt gwapi.HTTPRoute
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &rt); err != nil {
		t.Fatal(err)
	}
	rule := &rt.Spec.Rules[len(rt.Spec.Rules)-1]
	i := slices.IndexFunc(rule.BackendRefs, func(r gwapi.HTTPBackendRef) bool { return r.Name == "web-stable" })
	if i < 0 {
		t.Fatalf("HTTPRoute %s/web routes to no web-stable: %+v", ns, rule.BackendRefs)
	}
	stableRef := rule.BackendRefs[i]
	half := int32(50)
	stableRef.Weight = &half
	v3Ref := *stableRef.DeepCopy()
	v3Ref.Name = "web-v3"
	rule.BackendRefs = []gwapi.HTTPBackendRef{stableRef, v3Ref}
	if err := c.Client.Update(ctx, &rt); err != nil {
		t.Fatalf("route half of HTTPRoute %s/web to web-v3: %v", ns, err)
	}
}
