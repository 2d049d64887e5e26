package meshcheck

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pilot/test/xdstest"
	"istio.io/istio/pkg/config/analysis/diag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/renderer"
)

// The canary lifecycles again, rendered with routeAPI gateway-api: GAMMA
// HTTPRoutes (parentRef: the Service) with weighted backendRefs to the
// per-version Services, which istiod's Gateway API controller turns into
// the sidecar's routes. The weights a client sidecar gets must be the
// AppMesh's in every phase, exactly as with VirtualServices.

// TestGatewayAPICanaryPhases: for every phase, no VirtualService or
// DestinationRule is rendered, no analyzer reports an error, the Envoy
// route of a client sidecar for the reviews host carries the AppMesh
// weights, and every weighted cluster exists and has pods of its version.
func TestGatewayAPICanaryPhases(t *testing.T) {
	for _, input := range []string{"app", "labelled"} {
		for _, lc := range lifecycles {
			for i, ph := range phasesIn(t, input, lc, appmesh.RouteAPIGatewayAPI) {
				t.Run(fmt.Sprintf("%s/%s/%02d %s", input, lc.name, i, ph.name), func(t *testing.T) {
					if len(ph.out.istio) > 0 {
						t.Errorf("routeAPI gateway-api rendered Istio objects:\n%s", join(ph.out.istio))
					}
					if n := countKind(t, ph.out.kube, "HTTPRoute"); n != 2 {
						t.Errorf("%d HTTPRoutes, want 2 (reviews, ratings)", n)
					}
					for _, m := range analyze(t, canaryNS, join(ph.out.kube)) {
						if m.Type.Level() == diag.Error {
							t.Errorf("analyzer error: %s", m.String())
						}
					}
					got, clusters, warm := gammaRoute(t, ph.out.kube, ph.out.clusterIPs["reviews"])
					// A warm-up rule must name a cluster the proxy has, and
					// the phases before a switch must have one (as with
					// VirtualServices, TestCanaryPhases).
					for name, c := range warm {
						if !clusters[c] {
							t.Errorf("warm-up rule %s names cluster %s, which the proxy does not have", name, c)
						}
					}
					if c := ph.am.Spec.Canary; c != nil && (c.Phase == appmesh.CanaryLabelling || c.Phase == appmesh.CanaryStarting) && len(warm) == 0 {
						t.Errorf("phase %s has no warm-up rule: the next step would switch the route to a cluster a proxyless client does not hold yet", c.Phase)
					}
					if want := wantWeights(ph, input); !maps.Equal(got, want) {
						t.Errorf("Envoy route weights %v, want %v (AppMesh canary %+v)", got, want, ph.am.Spec.Canary)
					}
					checkClustersServed(t, got, clusters, versionsRunning(t, ph.out.kube))
				})
			}
		}
	}
}

// TestGatewayAPICanaryTransitions: while a step is applied a proxy may see
// the new routes with the old per-version Services or the reverse (they
// are separate objects, like a VirtualService and its DestinationRule);
// no combination may send traffic to a Service that does not exist or has
// no pods running on both sides of the step.
func TestGatewayAPICanaryTransitions(t *testing.T) {
	for _, input := range []string{"app", "labelled"} {
		for _, lc := range lifecycles {
			phases := phasesIn(t, input, lc, appmesh.RouteAPIGatewayAPI)
			for i := 1; i < len(phases); i++ {
				old, cur := phases[i-1], phases[i]
				t.Run(fmt.Sprintf("%s/%s/%02d %s", input, lc.name, i, cur.name), func(t *testing.T) {
					running := intersect(versionsRunning(t, old.out.kube), versionsRunning(t, cur.out.kube))
					oldRoutes, oldVersions, _ := splitGatewayAPI(t, old.out.kube)
					newRoutes, newVersions, rest := splitGatewayAPI(t, cur.out.kube)
					for _, mix := range []struct {
						name             string
						routes, versions []string
					}{
						{"new routes, old version Services", newRoutes, oldVersions},
						{"old routes, new version Services", oldRoutes, newVersions},
						{"all new", newRoutes, newVersions},
					} {
						kube := slices.Concat(rest, mix.routes, readdressed(t, mix.versions, cur.out.kube))
						weights, clusters, _ := gammaRoute(t, kube, cur.out.clusterIPs["reviews"])
						if len(weights) == 0 {
							t.Errorf("%s: no route for %s", mix.name, canaryHost)
						}
						t.Run(mix.name, func(t *testing.T) { checkClustersServed(t, weights, clusters, running) })
					}
				})
			}
		}
	}
}

// TestGatewayAPITransitionCheckFails proves the transition check can fail:
// going straight from "before" to weight 10 routes to a version whose pods
// do not run yet.
func TestGatewayAPITransitionCheckFails(t *testing.T) {
	phases := phasesIn(t, "app", lifecycle{"direct", []canary.Request{start, weight10}}, appmesh.RouteAPIGatewayAPI)
	before, w10 := phases[0], phases[len(phases)-1]
	running := intersect(versionsRunning(t, before.out.kube), versionsRunning(t, w10.out.kube))
	weights, clusters, _ := gammaRoute(t, w10.out.kube, w10.out.clusterIPs["reviews"])
	var ft fakeT
	checkClustersServed(&ft, weights, clusters, running)
	if len(ft.errs) == 0 {
		t.Fatalf("no violation found for weights %v with running %v", weights, running)
	}
	t.Logf("found, as expected: %s", strings.Join(ft.errs, "; "))
}

// gammaRoute generates a client sidecar's config from the kube objects
// (HTTPRoutes included: istiod's Gateway API controller reads them like
// the API server's) and returns the weighted clusters of its route for the
// reviews host and all cluster names, with the per-version Services'
// clusters named like DestinationRule subsets (see asSubset), so that the
// checks of the istio route API apply unchanged.
func gammaRoute(t *testing.T, kube []string, reviewsIP string) (weights map[string]uint32, clusters map[string]bool, warm map[string]string) {
	t.Helper()
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{KubernetesObjectString: join(kube)})
	sim := simulation.NewSimulation(t, s, s.SetupProxy(&model.Proxy{
		ConfigNamespace: canaryNS,
		IPAddresses:     []string{"10.1.0.1"},
		Labels:          map[string]string{"app": "client"},
		Metadata:        &model.NodeMetadata{Labels: map[string]string{"app": "client"}, Namespace: canaryNS},
	}))
	clusters = map[string]bool{}
	for _, c := range sim.Clusters {
		clusters[asSubset(c.Name)] = true
	}
	res := sim.Run(simulation.Call{Address: reviewsIP, Port: 9080, Protocol: simulation.HTTP, HostHeader: canaryHost})
	if res.Error != nil {
		t.Errorf("call to %s: %v", canaryHost, res.Error)
	}
	rc := xdstest.ExtractRouteConfigurations(sim.Routes)["9080"]
	if rc == nil {
		t.Fatalf("no route configuration 9080 for the sidecar")
	}
	weights, warm = map[string]uint32{}, map[string]string{}
	for _, vh := range rc.VirtualHosts {
		if !slices.Contains(vh.Domains, canaryHost) {
			continue
		}
		for _, r := range vh.Routes {
			if slices.ContainsFunc(r.GetMatch().GetHeaders(), func(h *routev3.HeaderMatcher) bool { return h.GetName() == renderer.WarmHeader }) {
				// A warm-up rule carries no traffic (nothing sends its
				// header); its cluster is checked by
				// TestGatewayAPICanaryPhases.
				warm[r.GetName()] = asSubset(r.GetRoute().GetCluster())
				continue
			}
			switch cs := r.GetRoute().GetClusterSpecifier().(type) {
			case *routev3.RouteAction_Cluster:
				weights[asSubset(cs.Cluster)] += 100
			case *routev3.RouteAction_WeightedClusters:
				for _, wc := range cs.WeightedClusters.Clusters {
					weights[asSubset(wc.Name)] += wc.GetWeight().GetValue()
				}
			}
		}
		// Istio's simulation matches paths only, not headers, so it may
		// take a warm-up route; then where the call lands says nothing.
		if _, warmMatched := warm[res.RouteMatched]; !warmMatched && res.ClusterMatched != "" && weights[asSubset(res.ClusterMatched)] == 0 {
			t.Errorf("the simulated call landed on %s, which the route does not list (%v)", res.ClusterMatched, weights)
		}
	}
	return weights, clusters, warm
}

// asSubset names the cluster of a per-version Service reviews-<v> as the
// istio route API's subset cluster of reviews: outbound|9080||reviews-v2.…
// becomes outbound|9080|v2|reviews.….
func asSubset(cluster string) string {
	parts := strings.Split(cluster, "|")
	if len(parts) != 4 || parts[2] != "" {
		return cluster
	}
	suffix := "." + canaryNS + ".svc.cluster.local"
	if v, ok := strings.CutPrefix(strings.TrimSuffix(parts[3], suffix), "reviews-"); ok && strings.HasSuffix(parts[3], suffix) {
		return strings.Join([]string{parts[0], parts[1], v, canaryHost}, "|")
	}
	return cluster
}

// splitGatewayAPI separates the Gateway API routes and the per-version
// Services from the other kube objects.
func splitGatewayAPI(t *testing.T, kube []string) (routes, versions, rest []string) {
	t.Helper()
	for _, d := range kube {
		u := decode(t, d)
		switch {
		case u.GroupVersionKind().Group == "gateway.networking.k8s.io":
			routes = append(routes, d)
		case u.GetKind() == "Service" && u.GetLabels()[renderer.VersionOfLabel] != "":
			versions = append(versions, d)
		default:
			rest = append(rest, d)
		}
	}
	return routes, versions, rest
}

// readdressed gives Services taken from another phase's output cluster
// IPs no Service of this phase has (the fake registry, like the API
// server, needs them unique).
func readdressed(t *testing.T, services, phase []string) []string {
	t.Helper()
	used := map[string]bool{}
	for _, d := range phase {
		ip, _, _ := unstructured.NestedString(decode(t, d).Object, "spec", "clusterIP")
		used[ip] = true
	}
	var out []string
	for i, d := range services {
		u := decode(t, d)
		ip, _, _ := unstructured.NestedString(u.Object, "spec", "clusterIP")
		if used[ip] {
			if err := unstructured.SetNestedField(u.Object, fmt.Sprintf("10.97.0.%d", i+1), "spec", "clusterIP"); err != nil {
				t.Fatal(err)
			}
		}
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func decode(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	var u unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return &u
}

func countKind(t testing.TB, docs []string, kind string) int {
	n := 0
	for _, d := range docs {
		if decode(t, d).GetKind() == kind {
			n++
		}
	}
	return n
}
