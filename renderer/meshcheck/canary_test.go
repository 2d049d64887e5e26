package meshcheck

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"istio.io/istio/pilot/pkg/config/kube/crd"
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

// The canary lifecycles of the canary package's state machine, rendered
// phase by phase on testdata/canary/app.in.yaml and checked with Istio's
// analyzers and config generation.

const (
	canaryNS   = "bookinfo"
	canaryHost = "reviews.bookinfo.svc.cluster.local"
)

// lifecycle is a sequence of canary commands.
type lifecycle struct {
	name string
	reqs []canary.Request
}

var (
	start     = canary.Request{Op: canary.OpStart, Target: "reviews", Version: "v2", Image: "example/reviews:2.0"}
	weight10  = canary.Request{Op: canary.OpWeight, Weight: 10}
	weight50  = canary.Request{Op: canary.OpWeight, Weight: 50}
	abort     = canary.Request{Op: canary.OpAbort}
	promote   = canary.Request{Op: canary.OpPromote}
	startNext = canary.Request{Op: canary.OpStart, Target: "reviews", Version: "v3", Image: "example/reviews:3.0"}
)

var lifecycles = []lifecycle{
	{"promote", []canary.Request{start, weight10, weight50, promote, startNext, weight10}},
	{"abort", []canary.Request{start, weight10, abort}},
	{"abort-at-start", []canary.Request{start, abort}},
}

// phase is one applied AppMesh and its rendered, applied output.
type phase struct {
	name string
	am   *appmesh.AppMesh
	out  cluster
}

// phasesOf runs the requests through canary.NewPlan from the AppMesh
// without canary and renders every step.
func phasesOf(t *testing.T, input string, lc lifecycle) []phase {
	t.Helper()
	return phasesIn(t, input, lc, appmesh.RouteAPIIstio)
}

// phasesIn is phasesOf with the routes rendered in the given route API.
func phasesIn(t *testing.T, input string, lc lifecycle, api appmesh.RouteAPI) []phase {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("..", "testdata", "canary", input+".in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	am := &appmesh.AppMesh{APIVersion: appmesh.APIVersion, Kind: appmesh.Kind,
		Metadata: appmesh.Metadata{Name: "bookinfo", Namespace: canaryNS},
		Spec:     appmesh.Spec{RouteAPI: api, Routes: []appmesh.Route{{Service: "reviews"}, {Service: "ratings"}}}}
	appmesh.SetDefaults(am)
	c := chart{name: input, am: am, in: in}
	phases := []phase{{name: "before", am: am, out: applied(t, canaryNS, c.render(t))}}
	for _, req := range lc.reqs {
		p, err := canary.NewPlan(am, req)
		if err != nil {
			t.Fatalf("plan %s: %v", req.Op, err)
		}
		for _, s := range p.Steps {
			am = s.Config
			c.am = am
			phases = append(phases, phase{name: s.Message, am: am, out: applied(t, canaryNS, c.render(t))})
		}
	}
	return phases
}

// TestCanaryPhases: for every phase, Istio's validation accepts every
// object and no analyzer reports an error; the Envoy route of
// a client sidecar for the reviews host has exactly the AppMesh weights;
// every weighted cluster exists and its subset's pods run in that phase.
func TestCanaryPhases(t *testing.T) {
	for _, input := range []string{"app", "labelled"} {
		for _, lc := range lifecycles {
			for i, ph := range phasesOf(t, input, lc) {
				t.Run(fmt.Sprintf("%s/%s/%02d %s", input, lc.name, i, ph.name), func(t *testing.T) {
					validateIstio(t, ph.out.istio)
					for _, m := range analyze(t, canaryNS, join(ph.out.kube, ph.out.istio)) {
						if m.Type.Level() == diag.Error {
							t.Errorf("analyzer error: %s", m.String())
						}
					}
					got, clusters, warm := reviewsRoute(t, ph.out.kube, ph.out.istio, ph.out)
					// A warm-up route must name a cluster the proxy has:
					// its point is that the client holds that cluster
					// before the default route switches to it.
					for name, c := range warm {
						if !clusters[c] {
							t.Errorf("warm-up route %s names cluster %s, which the proxy does not have", name, c)
						}
					}
					if c := ph.am.Spec.Canary; c != nil && (c.Phase == appmesh.CanaryLabelling || c.Phase == appmesh.CanaryStarting) && len(warm) == 0 {
						t.Errorf("phase %s has no warm-up route: the next step would switch the route to a cluster a proxyless client does not hold yet", c.Phase)
					}
					want := wantWeights(ph, input)
					if !maps.Equal(got, want) {
						t.Errorf("Envoy route weights %v, want %v (AppMesh canary %+v)", got, want, ph.am.Spec.Canary)
					}
					running := versionsRunning(t, ph.out.kube)
					checkClustersServed(t, got, clusters, running)
				})
			}
		}
	}
}

// validateIstio runs the validation istiod's webhook runs on every object.
func validateIstio(t *testing.T, docs []string) {
	t.Helper()
	configs, unknown, err := crd.ParseInputs(join(docs))
	if err != nil || len(unknown) > 0 {
		t.Fatalf("parse Istio objects: %v (unknown kinds %v)", err, unknown)
	}
	for _, cfg := range configs {
		warn, err := validators[cfg.GroupVersionKind.Kind](cfg)
		if err != nil || warn != nil {
			t.Errorf("%s: Istio validation: error %v, warning %v", key(cfg), err, warn)
		}
	}
}

// TestCanaryTransitions: while a step is applied, a proxy may see the new
// VirtualService with the old DestinationRule or the reverse, and only
// pods whose Deployment and version label exist before and after the step
// are ready. No combination may route traffic to a subset without such
// pods or without a cluster.
func TestCanaryTransitions(t *testing.T) {
	for _, input := range []string{"app", "labelled"} {
		for _, lc := range lifecycles {
			phases := phasesOf(t, input, lc)
			for i := 1; i < len(phases); i++ {
				old, cur := phases[i-1], phases[i]
				t.Run(fmt.Sprintf("%s/%s/%02d %s", input, lc.name, i, cur.name), func(t *testing.T) {
					running := intersect(versionsRunning(t, old.out.kube), versionsRunning(t, cur.out.kube))
					oldVS, oldDR := splitIstio(t, old.out.istio)
					newVS, newDR := splitIstio(t, cur.out.istio)
					for _, mix := range []struct {
						name    string
						vs, dr  []string
						kubeSrc cluster
					}{
						{"new VirtualService, old DestinationRule", newVS, oldDR, cur.out},
						{"old VirtualService, new DestinationRule", oldVS, newDR, cur.out},
						{"all new", newVS, newDR, cur.out},
						{"all old", oldVS, oldDR, old.out},
					} {
						weights, clusters, _ := reviewsRoute(t, mix.kubeSrc.kube, append(slices.Clone(mix.vs), mix.dr...), mix.kubeSrc)
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

// TestCanaryTransitionCheckFails proves the transition check can fail: going
// straight from "before" to weight 10 (no labelling, no copy at weight 0
// first) routes to a subset whose pods do not run yet.
func TestCanaryTransitionCheckFails(t *testing.T) {
	phases := phasesOf(t, "app", lifecycle{"direct", []canary.Request{start, weight10}})
	before, w10 := phases[0], phases[len(phases)-1]
	running := intersect(versionsRunning(t, before.out.kube), versionsRunning(t, w10.out.kube))
	vs, _ := splitIstio(t, w10.out.istio)
	weights, clusters, _ := reviewsRoute(t, w10.out.kube, vs, w10.out)
	var ft fakeT
	checkClustersServed(&ft, weights, clusters, running)
	if len(ft.errs) == 0 {
		t.Fatalf("no violation found for weights %v with running %v", weights, running)
	}
	t.Logf("found, as expected: %s", strings.Join(ft.errs, "; "))
}

// fakeT records errors (only to prove a check fails).
type fakeT struct {
	testing.TB
	errs []string
}

func (f *fakeT) Helper()                        {}
func (f *fakeT) Errorf(format string, a ...any) { f.errs = append(f.errs, fmt.Sprintf(format, a...)) }

// wantWeights is the AppMesh's split as Envoy clusters (zero weights are
// dropped by Istio; a single destination has weight 100).
func wantWeights(ph phase, input string) map[string]uint32 {
	cl := func(subset string) string { return "outbound|9080|" + subset + "|" + canaryHost }
	c := ph.am.Spec.Canary
	stable := stableSubset(ph, input)
	switch {
	case c == nil:
		return map[string]uint32{cl(stable): 100}
	case c.Phase == appmesh.CanaryLabelling || c.Phase == appmesh.CanaryUnlabelling || c.Phase == appmesh.CanaryFinishing:
		return map[string]uint32{cl(""): 100}
	case c.Phase == appmesh.CanaryPinning || c.Phase == appmesh.CanaryRemoving:
		return map[string]uint32{cl(stable): 100}
	}
	out := map[string]uint32{}
	if c.Weight < 100 {
		out[cl(stable)] = uint32(100 - c.Weight)
	}
	if c.Weight > 0 {
		out[cl(c.Version)] = uint32(c.Weight)
	}
	return out
}

// stableSubset is the version the weights split away from, worked out from
// the inputs rather than the output: the last promotion's version, else the
// chart's label (labelled.in.yaml: v1), else "stable" while a canary runs
// and none ("" = the Service host) without one.
func stableSubset(ph phase, input string) string {
	if n := len(ph.am.Spec.Promoted); n > 0 {
		return ph.am.Spec.Promoted[n-1].Version
	}
	if input == "labelled" {
		return "v1"
	}
	if ph.am.Spec.Canary != nil {
		return "stable"
	}
	return ""
}

// reviewsRoute generates a client sidecar's config and returns the weighted
// clusters of its route for the reviews host, and all cluster names.
// warm maps the warm-up routes (renderer.WarmHeader) to their clusters.
func reviewsRoute(t *testing.T, kube, istio []string, out cluster) (weights map[string]uint32, clusters map[string]bool, warm map[string]string) {
	t.Helper()
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectString: join(kube),
		ConfigString:           join(istio),
	})
	sim := simulation.NewSimulation(t, s, s.SetupProxy(&model.Proxy{
		ConfigNamespace: canaryNS,
		IPAddresses:     []string{"10.1.0.1"},
		Labels:          map[string]string{"app": "client"},
		Metadata:        &model.NodeMetadata{Labels: map[string]string{"app": "client"}, Namespace: canaryNS},
	}))
	clusters = map[string]bool{}
	for _, c := range sim.Clusters {
		clusters[c.Name] = true
	}
	// A real call lands on a cluster of the route (a single destination is
	// reported by the simulation; weighted splits are read from the route).
	res := sim.Run(simulation.Call{Address: out.clusterIPs["reviews"], Port: 9080, Protocol: simulation.HTTP, HostHeader: canaryHost})
	if res.Error != nil {
		t.Errorf("call to %s: %v", canaryHost, res.Error)
	}
	rc := xdstest.ExtractRouteConfigurations(sim.Routes)["9080"]
	if rc == nil {
		t.Fatalf("no route configuration 9080 for the sidecar")
	}
	weights = map[string]uint32{}
	warm = map[string]string{}
	for _, vh := range rc.VirtualHosts {
		if !slices.Contains(vh.Domains, canaryHost) {
			continue
		}
		for _, r := range vh.Routes {
			if slices.ContainsFunc(r.GetMatch().GetHeaders(), func(h *routev3.HeaderMatcher) bool { return h.GetName() == renderer.WarmHeader }) {
				// A warm-up route carries no traffic (nothing sends its
				// header); its cluster is checked by TestCanaryPhases.
				warm[r.GetName()] = r.GetRoute().GetCluster()
				continue
			}
			switch cs := r.GetRoute().GetClusterSpecifier().(type) {
			case *routev3.RouteAction_Cluster:
				weights[cs.Cluster] += 100
			case *routev3.RouteAction_WeightedClusters:
				for _, wc := range cs.WeightedClusters.Clusters {
					weights[wc.Name] += wc.GetWeight().GetValue()
				}
			}
		}
		// Istio's simulation matches paths only, not headers, so it takes
		// the first (warm-up) route; then where the call lands says nothing.
		if _, warmMatched := warm[res.RouteMatched]; !warmMatched && res.ClusterMatched != "" && weights[res.ClusterMatched] == 0 {
			t.Errorf("the simulated call landed on %s, which the route does not list (%v)", res.ClusterMatched, weights)
		}
	}
	return weights, clusters, warm
}

// checkClustersServed: every cluster with traffic exists in the proxy's
// config and, for a subset cluster, pods of that version run.
func checkClustersServed(t testing.TB, weights map[string]uint32, clusters map[string]bool, running running) {
	t.Helper()
	for name, w := range weights {
		if w == 0 {
			continue
		}
		if !clusters[name] {
			t.Errorf("%d%% of the traffic goes to %s, which has no Envoy cluster (subset missing from the DestinationRule)", w, name)
			continue
		}
		subset := strings.Split(name, "|")[2]
		if subset == "" {
			if !running.any() {
				t.Errorf("%d%% of the traffic goes to %s, but no reviews pods run", w, name)
			}
			continue
		}
		if !running.subset(subset) {
			t.Errorf("%d%% of the traffic goes to subset %s, but no Deployment runs pods with version %s in this phase (running: %v)", w, subset, subset, slices.Sorted(maps.Keys(running)))
		}
	}
}

// running is what serves reviews traffic: pods by Deployment, and by
// "<deployment>=<version label>". Across a step a Deployment whose version
// label changes keeps serving the Service host (its pods roll), but only
// the pods of the label kept on both sides serve that version's subset.
type running map[string]bool

func (r running) subset(v string) bool {
	for k := range r {
		if strings.HasSuffix(k, "="+v) {
			return true
		}
	}
	return false
}

func (r running) any() bool {
	for k := range r {
		if !strings.Contains(k, "=") {
			return true
		}
	}
	return false
}

// versionsRunning lists the reviews Deployments of a phase.
func versionsRunning(t testing.TB, kube []string) running {
	t.Helper()
	out := running{}
	for _, doc := range kube {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if u.GetKind() != "Deployment" {
			continue
		}
		lbls, _, _ := unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
		if lbls["app"] == "reviews" {
			out[u.GetName()] = true
			out[u.GetName()+"="+lbls["version"]] = true
		}
	}
	return out
}

func intersect(a, b running) running {
	out := running{}
	for k := range a {
		if b[k] {
			out[k] = true
		}
	}
	return out
}

// splitIstio separates VirtualServices from the other Istio objects
// (DestinationRules).
func splitIstio(t *testing.T, docs []string) (vs, dr []string) {
	t.Helper()
	for _, d := range docs {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		if u.GetKind() == "VirtualService" {
			vs = append(vs, d)
		} else {
			dr = append(dr, d)
		}
	}
	return vs, dr
}
