// Package e2e sends real requests through the mesh on the local control
// plane: charts/example-app installed through meshbundle's post-renderer,
// a real istiod, grpc-go's proxyless xDS client fed by it, and one echo
// server per Ready pod on the pod's IP (ci/dataplane). kwok runs no
// containers; the pod servers stand in for the app's containers and no
// Envoy runs (see docs/dataplane.md for what this does and does not show).
package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/dataplane"
	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/renderer"
)

// The Gateway API CRDs are installed before istiod starts so that its
// Gateway API controller serves the GAMMA routes of routeAPI gateway-api.
func TestMain(m *testing.M) {
	testcluster.Main(m, testcluster.WithIstiod(), testcluster.WithGatewayAPICRDs())
}

const (
	app      = "example-app"
	newImage = "registry.k8s.io/e2e-test-images/agnhost:2.54"
	// settleTimeout bounds the wait for one config change to reach the
	// client (istiod debounces, then pushes).
	settleTimeout = 60 * time.Second
	// settle is the canary's settle delay after a step when istiod cannot
	// tell whether the proxies have it (here it can: the gate reads the
	// local istiod's debug endpoints, and the settle delay is not used
	// unless that fails, which the progress output would say).
	settle = 2 * time.Second
)

// appMesh builds the example app's AppMesh: port names fixed, plus what the
// test adds.
func appMesh(ns string, edit func(*appmesh.Spec)) *appmesh.AppMesh {
	am := &appmesh.AppMesh{APIVersion: appmesh.APIVersion, Kind: appmesh.Kind,
		Metadata: appmesh.Metadata{Name: app, Namespace: ns},
		Spec:     appmesh.Spec{Ports: appmesh.Ports{Mode: appmesh.PortModeFix}}}
	edit(&am.Spec)
	appmesh.SetDefaults(am)
	return am
}

// install installs charts/example-app through the post-renderer with the
// AppMesh edit makes, serves its pods and returns the canary store and
// cluster of the release.
func install(t *testing.T, c *testcluster.Cluster, edit func(*appmesh.Spec)) (*canary.HelmStore, *canary.Cluster, string) {
	t.Helper()
	ns := c.Namespace(t, nil)
	am := appMesh(ns, edit)
	cfg := c.InstallExampleApp(t, am)
	if len(am.Spec.Routes) > 0 {
		checkRoutes(t, c, ns, am.Spec.RouteAPI)
	}
	for _, d := range []string{"web", "api"} {
		if _, err := c.WaitDeploymentAvailable(context.Background(), ns, d, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	kc, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := gatewayclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := istioclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	// The gate after each step reads the app's routing objects and the
	// local istiod's debug endpoints (canary/istiod.go).
	cl := &canary.Cluster{Client: kc, Namespace: ns, App: app, Gateway: gc, Istio: ic, Istiod: canary.IstiodURL(c.IstiodDebugURL())}
	srv, err := dataplane.StartServers(context.Background(), c.Config, ns, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Err(); err != nil {
			t.Errorf("pod servers: %v", err)
		}
		srv.Stop()
		// kwok hands a freed IP to the next pod at once (this package
		// runs without testcluster.WithPodTermination): say when that cut
		// a going pod's drain short, to read failures against.
		for _, e := range srv.Events() {
			if e.CutShort {
				t.Logf("pod server drain cut short: %v", e)
			}
		}
	})
	t.Logf("serving pods: %v", srv.Serving())
	return &canary.HelmStore{Config: cfg, Release: app, Cluster: cl, Timeout: time.Minute}, cl, ns
}

// driver is a proxyless xDS client of host ("name:port") in namespace ns.
func driver(t *testing.T, c *testcluster.Cluster, ns, host string) *dataplane.Driver {
	t.Helper()
	d, err := dataplane.NewXDSDriver(c.IstiodXDSAddr(), ns, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// step runs one canary command the way `meshbundle canary` does (helm
// mode, waiting until each step is in effect) and returns its progress
// output.
func step(t *testing.T, store canary.Store, cl *canary.Cluster, req canary.Request) string {
	t.Helper()
	return stepSettle(t, store, cl, req, settle)
}

// stepSettle is step with another settle delay (negative: none).
func stepSettle(t *testing.T, store canary.Store, cl *canary.Cluster, req canary.Request, settle time.Duration) string {
	t.Helper()
	var progress strings.Builder
	if _, err := canary.Run(context.Background(), store, cl, req, canary.Options{Wait: true, Timeout: 90 * time.Second, Progress: &progress, Interval: 200 * time.Millisecond, Settle: settle}); err != nil {
		t.Fatalf("canary %s: %v\n%s", req.Op, err, progress.String())
	}
	return progress.String()
}

// measure waits until traffic shows the change reached the client (shares
// within 5 points, nothing failing), then measures a fresh sample sized for
// ±3 points and checks it: shares within 3 points, 0 failed.
func measure(t *testing.T, d *dataplane.Driver, want map[string]float64, canaryShare float64) dataplane.Result {
	t.Helper()
	ctx := context.Background()
	settled, err := d.Settle(ctx, 200, settleTimeout, dataplane.ExpectShares(want, 5))
	if err != nil {
		t.Fatal(err)
	}
	if settled.All.Failed > 0 {
		t.Logf("while the change propagated (%d batches): %v", settled.Batches, settled.All)
	}
	res := d.Run(ctx, dataplane.SampleSize(canaryShare, 3, 2000))
	if err := dataplane.ExpectShares(want, 3)(res); err != nil {
		t.Error(err)
	}
	return res
}

// TestCanaryWeights: the example app's web route, as meshbundle's canary
// renders it, splits real requests by its weights: at 0, 10, 50 and 100 %
// to v2 (and before the canary and after promote) the share measured over
// at least 2 000 requests is within 3 points, and no request fails.
func TestCanaryWeights(t *testing.T) {
	canaryWeights(t, webRoute(appmesh.RouteAPIIstio), helmMode, weightSteps)
}

// webRoute is the AppMesh edit of these tests: a route for web, written in
// the route API api.
func webRoute(api appmesh.RouteAPI) func(*appmesh.Spec) {
	return func(s *appmesh.Spec) {
		s.RouteAPI = api
		s.Routes = []appmesh.Route{{Service: "web"}}
	}
}

// weightStep is one canary step of canaryWeights and what traffic shows
// after it.
type weightStep struct {
	name   string             // the step, as `meshbundle canary` names it
	req    canary.Request     // the canary step
	weight float64            // the canary's share after it, percent
	want   map[string]float64 // the share of each responding version
}

// weightSteps: start, 10, 50, 100 %, promote.
var weightSteps = []weightStep{
	{"start", canary.Request{Op: canary.OpStart, Target: "web", Version: "v2", Image: newImage}, 0, map[string]float64{"stable": 100, "v2": 0}},
	{"weight 10", canary.Request{Op: canary.OpWeight, Weight: 10}, 10, map[string]float64{"stable": 90, "v2": 10}},
	{"weight 50", canary.Request{Op: canary.OpWeight, Weight: 50}, 50, map[string]float64{"stable": 50, "v2": 50}},
	{"weight 100", canary.Request{Op: canary.OpWeight, Weight: 100}, 100, map[string]float64{"stable": 0, "v2": 100}},
	// Promote moves the stable Deployment to v2: its pods answer v2.
	{"promote", canary.Request{Op: canary.OpPromote}, 100, map[string]float64{"v2": 100}},
}

// storeMode is where the canary's steps go: the release (helm mode) or a
// git working copy that a stand-in for Argo CD syncs (GitOps mode).
type storeMode func(t *testing.T, helm *canary.HelmStore, cl *canary.Cluster) canary.Store

func helmMode(_ *testing.T, helm *canary.HelmStore, _ *canary.Cluster) canary.Store { return helm }

// canaryWeights installs the example app with the AppMesh edit makes (one
// route, for web), runs steps through the store mode gives, and checks the
// traffic during and after each.
func canaryWeights(t *testing.T, edit func(*appmesh.Spec), mode storeMode, steps []weightStep) {
	c := testcluster.Shared(t)
	helm, cl, ns := install(t, c, edit)
	store := mode(t, helm, cl)
	d := driver(t, c, ns, "web."+ns+".svc.cluster.local:80")

	// Before the canary, web's pods carry no version label.
	res := measure(t, d, map[string]float64{"": 100}, 100)
	t.Logf("traffic: %s (no canary)", res.Summary(""))

	for _, tc := range steps {
		// Make-before-break: no request fails while the step runs
		// (TestWarmUpControl shows that a route switch without the canary's
		// warm-up routes does make requests fail).
		during := stepWithTraffic(t, d, store, cl, tc.req)
		if during.Failed > 0 {
			t.Errorf("during canary %s: %v, want 0 failed", tc.name, during)
		}
		t.Logf("during canary %s: %v", tc.name, during)
		// At weight 0 the copy answers nothing, also while start runs: the
		// route is on the stable subset (Pinning) before the copy's pods,
		// which the Service host includes, exist. Before Pinning, v2
		// answered up to 1 of 3 469 requests here (docs/dataplane.md).
		if tc.req.Op == canary.OpStart && during.ByVersion["v2"] > 0 {
			t.Errorf("during canary start: the copy (v2) answered %d of %d requests at weight 0, want 0", during.ByVersion["v2"], during.Requests)
		}
		res := measure(t, d, tc.want, tc.weight)
		t.Logf("traffic: %s (weight %.0f, after canary %s)", res.Summary("stable", "v2"), tc.weight, tc.name)
		if tc.req.Op == canary.OpWeight && tc.weight > 0 && tc.weight < 100 {
			checkStatus(t, c, cl, int32(tc.weight))
		}
	}
}

// checkStatus: `meshbundle canary status` (canary.ReadStatus) reads the
// split the requests just measured from the live routes, VirtualService or
// Gateway API alike: a running canary, stable at 100-weight, v2 at weight.
func checkStatus(t *testing.T, c *testcluster.Cluster, cl *canary.Cluster, weight int32) {
	t.Helper()
	ic, err := istioclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	st, err := canary.ReadStatus(context.Background(), cl, ic)
	if err != nil {
		t.Fatalf("canary status: %v", err)
	}
	got := map[string]int32{}
	for _, v := range st.Versions {
		got[v.Version] = v.Weight
	}
	if !st.Running || got["stable"] != 100-weight || got["v2"] != weight {
		t.Errorf("canary status at weight %d: running %v, weights %v; want running, stable %d, v2 %d", weight, st.Running, got, 100-weight, weight)
	}
}

// stepWithTraffic runs a canary step while the driver sends requests, and
// returns what those requests did.
func stepWithTraffic(t *testing.T, d *dataplane.Driver, store canary.Store, cl *canary.Cluster, req canary.Request) dataplane.Result {
	t.Helper()
	r, _ := stepWithTrafficSettle(t, d, store, cl, req, settle)
	return r
}

// TestCanaryAbortTraffic: start → 10 % → abort with requests running the
// whole time: 0 failed, and afterwards only the stable answers.
func TestCanaryAbortTraffic(t *testing.T) { canaryAbort(t, webRoute(appmesh.RouteAPIIstio)) }

// canaryAbort is TestCanaryAbortTraffic for the example app with the
// AppMesh edit makes (one route, for web).
func canaryAbort(t *testing.T, edit func(*appmesh.Spec)) {
	c := testcluster.Shared(t)
	store, cl, ns := install(t, c, edit)
	d := driver(t, c, ns, "web."+ns+".svc.cluster.local:80")
	measure(t, d, map[string]float64{"": 100}, 100)
	var all dataplane.Result
	for _, req := range []canary.Request{
		{Op: canary.OpStart, Target: "web", Version: "v2", Image: newImage},
		{Op: canary.OpWeight, Weight: 10},
		{Op: canary.OpAbort},
	} {
		res := stepWithTraffic(t, d, store, cl, req)
		t.Logf("during canary %s: %v", req.Op, res)
		all = all.Add(res)
	}
	if all.Failed > 0 || all.Requests == 0 {
		t.Errorf("during start → 10 %% → abort: %v, want 0 failed", all)
	}
	res := measure(t, d, map[string]float64{"": 100}, 100)
	t.Logf("traffic after abort: %s", res.Summary(""))
}

// TestWarmUpControl is the control for "0 failed during a step": the same
// kind of route switch the canary makes (web's default route between the
// Service host and the subset stable, clusters the route did not name
// before), made flips times behind meshbundle's back while requests run.
// Without warm-up routes grpc-go applies each new route before its balancer
// has the new cluster, and some requests fail ("unknown cluster selected
// for RPC"); with warm-up routes naming both clusters none fails.
func TestWarmUpControl(t *testing.T) { warmUpControl(t, appmesh.RouteAPIIstio, setWebRoute) }

// warmUpControl is TestWarmUpControl for routes in the route API api;
// setRoute points web's default route at the Service host (subset "") or
// subset stable, with or without warm-up routes for both ahead of it.
func warmUpControl(t *testing.T, api appmesh.RouteAPI, setRoute func(t *testing.T, ns, subset string, warm bool)) {
	const flips = 20
	c := testcluster.Shared(t)
	store, cl, ns := install(t, c, webRoute(api))
	d := driver(t, c, ns, "web."+ns+".svc.cluster.local:80")
	d.Rate = 1000
	step(t, store, cl, canary.Request{Op: canary.OpStart, Target: "web", Version: "v2", Image: newImage})
	measure(t, d, map[string]float64{"stable": 100, "v2": 0}, 0)

	run := func(warm bool) dataplane.Result {
		// The route as it is (subset stable), plus or minus the warm-up
		// routes, before traffic: this change switches no route.
		setRoute(t, ns, "stable", warm)
		time.Sleep(time.Second)
		stop := make(chan struct{})
		during := make(chan dataplane.Result)
		go func() { during <- d.RunWhile(context.Background(), stop) }()
		for i := range flips {
			subset := ""
			if i%2 == 1 {
				subset = "stable"
			}
			setRoute(t, ns, subset, warm)
			time.Sleep(time.Second) // istiod pushes within it
		}
		close(stop)
		return <-during
	}
	without := run(false)
	t.Logf("%d route switches without warm-up routes: %v", flips, without)
	if without.Failed == 0 {
		t.Errorf("the control failed: %d route switches without warm-up routes made no request fail (%v); the 0 failed with them proves nothing", flips, without)
	}
	with := run(true)
	t.Logf("%d route switches with warm-up routes: %v", flips, with)
	if with.Failed > 0 {
		t.Errorf("with warm-up routes: %v, want 0 failed", with)
	}
}

// setWebRoute points web's default HTTP route at one destination (subset ""
// is the Service host), with or without warm-up routes for the host and
// the subset stable ahead of it.
func setWebRoute(t *testing.T, ns, subset string, warm bool) {
	t.Helper()
	c := testcluster.Shared(t)
	ctx := context.Background()
	var vs istionet.VirtualService
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &vs); err != nil {
		t.Fatal(err)
	}
	def := vs.Spec.Http[len(vs.Spec.Http)-1]
	dst := def.Route[0].Destination
	def.Route = []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: dst.Host, Port: dst.Port, Subset: subset}}}
	vs.Spec.Http = []*networking.HTTPRoute{def}
	if warm {
		for _, s := range []string{"", "stable"} {
			name := s
			if s == "" {
				name = "host"
			}
			vs.Spec.Http = append([]*networking.HTTPRoute{{
				Name:  def.Name + "-warm-" + name,
				Match: []*networking.HTTPMatchRequest{{Headers: map[string]*networking.StringMatch{renderer.WarmHeader: {MatchType: &networking.StringMatch_Exact{Exact: name}}}}},
				Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: dst.Host, Port: dst.Port, Subset: s}}},
			}}, vs.Spec.Http...)
		}
	}
	if err := c.Client.Update(ctx, &vs); err != nil {
		t.Fatalf("update VirtualService %s/web: %v", ns, err)
	}
}

// TestBrokenStepsFail is the control for every "0 failed" above: steps
// that break make-before-break on purpose make the driver count failures.
func TestBrokenStepsFail(t *testing.T) {
	brokenStepsFail(t, func(s *appmesh.Spec) { s.Routes = []appmesh.Route{{Service: "web"}} }, []brokenStep{
		{"DestinationRule removed while the VirtualService routes to its subsets", deleteDestinationRule, 90},
		{"half the weight on a subset whose pods are not Ready", weightOnUnreadySubset, 30},
	})
}

// brokenStep is a change that breaks make-before-break, made behind
// meshbundle's back.
type brokenStep struct {
	name   string
	broken func(t *testing.T, ns string) // the broken change
	// minShare is the least share of requests that must fail, percent.
	minShare float64
}

// brokenStepsFail installs the app with the route edit makes, starts a
// canary of web, checks that requests succeed, then applies each broken
// change (one app each) and checks that at least its share of requests
// fails: the driver does see failures.
func brokenStepsFail(t *testing.T, edit func(*appmesh.Spec), steps []brokenStep) {
	c := testcluster.Shared(t)
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			store, cl, ns := install(t, c, edit)
			d := driver(t, c, ns, "web."+ns+".svc.cluster.local:80")
			step(t, store, cl, canary.Request{Op: canary.OpStart, Target: "web", Version: "v2", Image: newImage})
			// The same setup works before the break.
			res := measure(t, d, map[string]float64{"stable": 100, "v2": 0}, 0)
			t.Logf("before: %s", res.Summary("stable", "v2"))

			tc.broken(t, ns)
			ctx := context.Background()
			if _, err := d.Settle(ctx, 200, settleTimeout, func(r dataplane.Result) error {
				if r.Failed == 0 {
					return errors.New("no request failed yet")
				}
				return nil
			}); err != nil {
				t.Fatalf("the broken step never made a request fail: %v", err)
			}
			res = d.Run(ctx, 2000)
			failed := 100 * float64(res.Failed) / float64(res.Requests)
			if failed < tc.minShare {
				t.Errorf("after the broken step %.1f%% of requests failed, want at least %.0f%%: %v", failed, tc.minShare, res)
			}
			t.Logf("after: %v", res)
		})
	}
}

// createUnreadyV3 creates web-v3, a copy of web labelled version v3 whose
// pods never become Ready (they cannot be scheduled).
func createUnreadyV3(t *testing.T, ns string) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	var web appsv1.Deployment
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &web); err != nil {
		t.Fatal(err)
	}
	v3 := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-v3"}, Spec: *web.Spec.DeepCopy()}
	v3.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "version": "v3"}}
	v3.Spec.Template.Labels = map[string]string{"app": "web", "version": "v3"}
	v3.Spec.Template.Spec.NodeSelector = map[string]string{"meshbundle.dev/no-such-node": "true"}
	if err := c.Client.Create(ctx, v3); err != nil {
		t.Fatalf("create Deployment %s/web-v3: %v", ns, err)
	}
}

// deleteDestinationRule deletes web's DestinationRule while its
// VirtualService still routes to the subsets it defined.
func deleteDestinationRule(t *testing.T, ns string) {
	c := testcluster.Shared(t)
	dr := &istionet.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	if err := c.Client.Delete(context.Background(), dr); err != nil {
		t.Fatalf("delete DestinationRule %s/web: %v", ns, err)
	}
}

// weightOnUnreadySubset adds a version v3 of web whose pods never become
// Ready (they cannot be scheduled), a subset for it, and routes half of
// web's traffic there: what make-before-break forbids.
func weightOnUnreadySubset(t *testing.T, ns string) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	createUnreadyV3(t, ns)
	var dr istionet.DestinationRule
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &dr); err != nil {
		t.Fatal(err)
	}
	dr.Spec.Subsets = append(dr.Spec.Subsets, &networking.Subset{Name: "v3", Labels: map[string]string{"version": "v3"}})
	if err := c.Client.Update(ctx, &dr); err != nil {
		t.Fatalf("add subset v3 to DestinationRule %s/web: %v", ns, err)
	}
	var vs istionet.VirtualService
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &vs); err != nil {
		t.Fatal(err)
	}
	// The default route: the last one (a canary puts its warm-up routes,
	// matching only renderer.WarmHeader, first).
	def := vs.Spec.Http[len(vs.Spec.Http)-1]
	route := def.Route
	stable := route[slices.IndexFunc(route, func(d *networking.HTTPRouteDestination) bool { return d.Destination.Subset == "stable" })]
	stable.Weight = 50
	def.Route = []*networking.HTTPRouteDestination{stable, {
		Destination: &networking.Destination{Host: stable.Destination.Host, Subset: "v3", Port: stable.Destination.Port},
		Weight:      50,
	}}
	if err := c.Client.Update(ctx, &vs); err != nil {
		t.Fatalf("route half of VirtualService %s/web to v3: %v", ns, err)
	}
}

// TestAliases: the example app's api Service is reachable by its aliases as
// the post-renderer renders them, an ExternalName Service (short name and
// FQDN) and a custom-domain ServiceEntry, and the requests land on api's
// own pods. A name nobody defined fails: the control for "0 failed".
func TestAliases(t *testing.T) {
	c := testcluster.Shared(t)
	_, _, ns := install(t, c, func(s *appmesh.Spec) {
		s.Aliases = []appmesh.Alias{
			{Name: "backend", Service: "api", Variant: appmesh.AliasExternalName},
			{Name: "api.custom", Service: "api", Variant: appmesh.AliasServiceEntryEDS},
		}
	})
	var pods corev1.PodList
	if err := c.Client.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": "api"}); err != nil {
		t.Fatal(err)
	}
	apiPods := map[string]bool{}
	for _, p := range pods.Items {
		apiPods[ns+"/"+p.Name] = true
	}
	ctx := context.Background()
	for _, tc := range []struct {
		host      string // what the client dials (xds:///host)
		reachable bool   // whether requests must succeed
	}{
		{"api." + ns + ".svc.cluster.local:9000", true}, // the Service itself, for comparison
		{"backend." + ns + ".svc.cluster.local:9000", true},
		{"backend:9000", true}, // short name, expanded in the client's namespace
		{"api.custom:9000", true},
		{"nosuch.custom:9000", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			d := driver(t, c, ns, tc.host)
			if !tc.reachable {
				d.Timeout = time.Second
				res := d.Run(ctx, 20)
				if res.Failed != res.Requests {
					t.Errorf("%s: %v, want every request to fail", tc.host, res)
				}
				t.Logf("%s: %v", tc.host, res)
				return
			}
			if _, err := d.Settle(ctx, 50, settleTimeout, func(r dataplane.Result) error {
				if r.Failed > 0 {
					return fmt.Errorf("%v", r)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			res := d.Run(ctx, 500)
			if res.Failed > 0 {
				t.Errorf("%s: %v, want 0 failed", tc.host, res)
			}
			for pod := range res.ByPod {
				if !apiPods[pod] {
					t.Errorf("%s answered by %s, not a pod of Service api (%v)", tc.host, pod, apiPods)
				}
			}
			t.Logf("%s: %s by %v", tc.host, res.Summary(), res.ByPod)
		})
	}
}
