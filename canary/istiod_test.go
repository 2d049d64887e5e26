package canary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	analysis "istio.io/api/analysis/v1alpha1"
	istiometa "istio.io/api/meta/v1alpha1"
	networking "istio.io/api/networking/v1"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	"istio.io/istio/pilot/pkg/xds"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"
)

const uuid = "0b6f5c1e-6a4c-4f7e-9f5e-2d0c3f1a9b7d"

func TestPushCounter(t *testing.T) {
	for _, tc := range []struct {
		nonce string // as istiod sends it: push version + UUID
		want  uint64
	}{
		{"2026-12-07T05:00:00Z/12" + uuid, 12},
		{"2026-12-07T05:00:00Z/7" + uuid, 7},
		{"", 0},
		{uuid, 0},                  // no version
		{"garbage/x" + uuid, 0},    // no counter
		{"noslash" + uuid + "", 0}, // no counter
	} {
		if got := pushCounter(tc.nonce); got != tc.want {
			t.Errorf("pushCounter(%q) = %d, want %d", tc.nonce, got, tc.want)
		}
	}
}

func TestProxyNamespace(t *testing.T) {
	for id, want := range map[string]string{
		"sidecar~10.244.0.5~web-1.shop~shop.svc.cluster.local":           "shop",
		"sidecar~127.0.0.1~driver.test-x~test-x.svc.cluster.local":       "test-x",
		"router~10.0.0.1~gw.istio-system~istio-system.svc.cluster.local": "istio-system",
		// As /debug/syncz lists them: the pod's name and namespace.
		"web-1.shop":            "shop",
		"traffic-driver.test-x": "test-x",
		"web.with.dots-0.shop":  "shop",
		"not-an-id":             "",
		"trailing.":             "",
	} {
		if got := proxyNamespace(id); got != want {
			t.Errorf("proxyNamespace(%q) = %q, want %q", id, got, want)
		}
	}
	if got := proxyName("web.with.dots-0.shop"); got != "shop/web.with.dots-0" {
		t.Errorf("proxyName = %q, want shop/web.with.dots-0", got)
	}
}

func TestProxyLag(t *testing.T) {
	nonce := func(n string) string { return "2026-12-07T05:00:00Z/" + n + uuid }
	for _, tc := range []struct {
		name  string
		res   map[string]xds.ResourceStatus // the proxy's watched types
		mark  uint64                        // highest counter sent before the step
		known bool                          // the istiod answered at the mark
		want  string                        // substring of the lag; "" for none
	}{
		{"acked a push after the mark", map[string]xds.ResourceStatus{v3.RouteType: {Sent: nonce("5"), Acked: nonce("5")}}, 4, true, ""},
		{"acked only the push of the mark", map[string]xds.ResourceStatus{v3.RouteType: {Sent: nonce("4"), Acked: nonce("4")}}, 4, true, "needs a push after 4"},
		{"sent, not acked yet", map[string]xds.ResourceStatus{v3.RouteType: {Sent: nonce("5"), Acked: nonce("4")}}, 4, true, "sent in push 5"},
		{"rejected", map[string]xds.ResourceStatus{v3.ClusterType: {Sent: nonce("5"), Acked: nonce("4"), LastError: "bad cluster"}}, 4, true, "rejected CDS: bad cluster"},
		{"istiod unknown at the mark: any acked push", map[string]xds.ResourceStatus{v3.RouteType: {Sent: nonce("1"), Acked: nonce("1")}}, 0, false, ""},
		{"type not watched", map[string]xds.ResourceStatus{v3.ListenerType: {Sent: nonce("1"), Acked: nonce("1")}}, 4, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := proxyLag(xds.SyncStatus{ProxyID: "p", Resources: tc.res}, []string{v3.RouteType}, tc.mark, tc.known)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("proxyLag = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRoutesDiffer(t *testing.T) {
	want := map[string]routeTargets{"web": {"stable|web.shop.svc.cluster.local": 90, "v2|web.shop.svc.cluster.local": 10}}
	for _, tc := range []struct {
		name string
		got  map[string][]routeTargets // route name -> the pushed routes of that name (one per port)
		diff string                    // substring of the difference; "" for none
	}{
		{"as the step says", map[string][]routeTargets{"web": {want["web"]}}, ""},
		{"the step before", map[string][]routeTargets{"web": {{"stable|web.shop.svc.cluster.local": 100}}}, "sends to"},
		{"one port behind", map[string][]routeTargets{"web": {want["web"], {"|web.shop.svc.cluster.local": 100}}}, "sends to"},
		{"no such route yet", map[string][]routeTargets{"other": {want["web"]}}, `no route "web"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := routesDiffer(want, tc.got)
			if (tc.diff == "") != (got == "") || !strings.Contains(got, tc.diff) {
				t.Errorf("routesDiffer = %q, want %q", got, tc.diff)
			}
		})
	}
}

func TestChangedKinds(t *testing.T) {
	before := map[string]string{"VirtualService/web": "1", "DestinationRule/web": "2", "VirtualService/old": "3"}
	after := map[string]string{"VirtualService/web": "1", "DestinationRule/web": "5", "HTTPRoute/new": "6"}
	got := changedKinds(before, after)
	if strings.Join(got, ",") != "DestinationRule,HTTPRoute,VirtualService" {
		t.Errorf("changedKinds = %v", got)
	}
	if got := pushedTypes(got); strings.Join(got, ",") != v3.ClusterType+","+v3.RouteType {
		t.Errorf("pushedTypes = %v, want clusters and routes", got)
	}
	if got := changedKinds(before, before); len(got) != 0 {
		t.Errorf("changedKinds of the same = %v, want none", got)
	}
}

func TestRoutingObjectStatus(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web", Generation: 3}
	for _, tc := range []struct {
		name     string
		obj      routingObject
		status   string // substring; "" for accepted
		unknown  bool
		rejected bool
	}{
		{"VirtualService, no status (analysis off)", istioObject(kindVirtualService, meta, &istiometa.IstioStatus{}), "", true, false},
		{"VirtualService, status of an older generation", istioObject(kindVirtualService, meta, &istiometa.IstioStatus{ObservedGeneration: 2}), "generation 2, not 3", false, false},
		{"VirtualService, analysis error", istioObject(kindVirtualService, meta, &istiometa.IstioStatus{ObservedGeneration: 3, ValidationMessages: []*analysis.AnalysisMessageBase{{Level: analysis.AnalysisMessageBase_ERROR, Type: &analysis.AnalysisMessageBase_Type{Name: "ReferencedResourceNotFound", Code: "IST0101"}}}}), "IST0101", false, true},
		{"VirtualService, analysis warning only", istioObject(kindVirtualService, meta, &istiometa.IstioStatus{ObservedGeneration: 3, ValidationMessages: []*analysis.AnalysisMessageBase{{Level: analysis.AnalysisMessageBase_WARNING}}}), "", false, false},
		{"HTTPRoute, no parent status", routeObject(kindHTTPRoute, meta, nil), "no parent status", false, false},
		{"HTTPRoute, accepted for this generation", routeObject(kindHTTPRoute, meta, []gwapi.RouteParentStatus{parent(3, metav1.ConditionTrue)}), "", false, false},
		{"HTTPRoute, accepted for an older generation", routeObject(kindHTTPRoute, meta, []gwapi.RouteParentStatus{parent(2, metav1.ConditionTrue)}), "not observed for generation 3", false, false},
		{"HTTPRoute, not accepted", routeObject(kindHTTPRoute, meta, []gwapi.RouteParentStatus{parent(3, metav1.ConditionFalse)}), "Accepted is False", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.obj
			if (tc.status == "") != (o.Status == "") || !strings.Contains(o.Status, tc.status) || o.Unknown != tc.unknown || o.Rejected != tc.rejected {
				t.Errorf("status %q unknown %v rejected %v; want %q, %v, %v", o.Status, o.Unknown, o.Rejected, tc.status, tc.unknown, tc.rejected)
			}
		})
	}
}

// parent is a route's status for one Gateway: Accepted and ResolvedRefs
// with the given generation and status.
func parent(gen int64, st metav1.ConditionStatus) gwapi.RouteParentStatus {
	return gwapi.RouteParentStatus{ParentRef: gwapi.ParentReference{Name: "gw"}, Conditions: []metav1.Condition{
		{Type: string(gwapi.RouteConditionAccepted), Status: st, ObservedGeneration: gen, Reason: "r", Message: "m"},
		{Type: string(gwapi.RouteConditionResolvedRefs), Status: metav1.ConditionTrue, ObservedGeneration: gen},
	}}
}

// TestRoutingObjectsWithoutGatewayAPI: a cluster that does not serve the
// Gateway API kinds (no CRDs, or none for TCPRoute/GRPCRoute) answers 404
// to their lists; the gate reads that as "no such routes" and still reads
// the app's VirtualServices. Any other list error stops it (the control).
// canary/e2e's cluster has no Gateway API CRDs: before, every CLI step
// failed there with "list HTTPRoutes: the server could not find the
// requested resource".
func TestRoutingObjectsWithoutGatewayAPI(t *testing.T) {
	vs := &istionet.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Labels: map[string]string{"meshbundle.dev/app": "shop"}}}
	for _, tc := range []struct {
		name    string
		err     error  // what every Gateway API list answers
		wantErr string // "" when the gate reads the objects
	}{
		{"kinds not served", apierrors.NewNotFound(schema.GroupResource{Group: "gateway.networking.k8s.io", Resource: "httproutes"}, ""), ""},
		{"list failed", apierrors.NewForbidden(schema.GroupResource{Group: "gateway.networking.k8s.io", Resource: "httproutes"}, "", errors.New("no RBAC")), "list HTTPRoutes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := gatewayfake.NewSimpleClientset()
			gw.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
			c := &Cluster{Namespace: "shop", App: "shop", Istio: istiofake.NewSimpleClientset(vs), Gateway: gw}
			objs, err := c.routingObjects(context.Background())
			switch {
			case tc.wantErr == "" && (err != nil || len(objs) != 1 || objs[0].key() != kindVirtualService+"/web"):
				t.Errorf("routingObjects = %v, %v; want the VirtualService web only", objs, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("routingObjects error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// fakeIstiod serves fixed debug bodies by path, as one istiod instance "i".
type fakeIstiod map[string][]byte

func (f fakeIstiod) Debug(_ context.Context, path string) (map[string][]byte, error) {
	b, err := f.DebugOne(context.Background(), "i", path)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"i": b}, nil
}

func (f fakeIstiod) DebugOne(_ context.Context, _, path string) ([]byte, error) {
	if b, ok := f[path]; ok {
		return b, nil
	}
	return nil, errors.New("404 " + path)
}

// rdsDump is a /debug/config_dump?types=rds body: one virtual host for
// domain, and a route per name -> Istio cluster names with weights.
func rdsDump(t *testing.T, domain string, routes map[string]map[string]uint32) []byte {
	t.Helper()
	type wc struct {
		Name   string `json:"name"`
		Weight uint32 `json:"weight"`
	}
	type route struct {
		Name  string `json:"name"`
		Route struct {
			WeightedClusters struct {
				Clusters []wc `json:"clusters"`
			} `json:"weightedClusters"`
		} `json:"route"`
	}
	var rs []route
	for name, clusters := range routes {
		r := route{Name: name}
		for c, w := range clusters {
			r.Route.WeightedClusters.Clusters = append(r.Route.WeightedClusters.Clusters, wc{c, w})
		}
		rs = append(rs, r)
	}
	b, err := json.Marshal(map[string]any{"configs": []any{map[string]any{
		"name":         domain + ":80",
		"virtualHosts": []any{map[string]any{"domains": []string{domain, domain + ":80"}, "routes": rs}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProxySelection: which connected proxies the gate waits for after a
// step of the app "web" in namespace shop (its VirtualService's route
// "web" moved to 90/10), and which of those are behind. The step's push
// is any push after counter 4 (the mark).
func TestProxySelection(t *testing.T) {
	const (
		web   = "web.shop.svc.cluster.local"
		other = "cart.store.svc.cluster.local"
	)
	nonce := func(n int) string { return fmt.Sprintf("2026-12-07T05:00:00Z/%d%s", n, uuid) }
	step := map[string]map[string]uint32{"web": {"outbound|80|stable|" + web: 90, "outbound|80|v2|" + web: 10}}
	before := map[string]map[string]uint32{"web": {"outbound|80|stable|" + web: 100}}
	id := func(ns string) string { return "client." + ns } // as /debug/syncz lists it
	for _, tc := range []struct {
		name       string
		ns         string // the proxy's namespace
		acked      int    // the route push counter it acknowledged
		sent       int    // the route push counter istiod last sent it (0: acked)
		dump       []byte // the routes istiod last pushed to it
		nsOnly     bool   // WaitNamespaceOnly: the gate before issue 18
		gatewayAPI bool   // the app routes with Gateway API routes (no named VirtualService routes)
		waited     bool   // the gate waits for it
		behind     string // substring of why it does not have the step; "" when it has it (or is not waited for)
	}{
		{name: "app namespace, has the step", ns: "shop", acked: 5, dump: rdsDump(t, web, step), waited: true},
		{name: "other namespace importing the VirtualService, has the step", ns: "front", acked: 5, dump: rdsDump(t, web, step), waited: true},
		{name: "other namespace importing it, push not sent yet", ns: "front", acked: 4, dump: rdsDump(t, web, before), waited: true, behind: "needs a push after 4"},
		{name: "other namespace importing it, push sent, not acknowledged", ns: "front", acked: 4, sent: 5, dump: rdsDump(t, web, before), waited: true, behind: "sent in push 5"},
		{name: "other namespace importing it, acknowledged a push without the step", ns: "front", acked: 5, dump: rdsDump(t, web, before), waited: true, behind: "sends to"},
		{name: "other namespace routing only to another Service", ns: "store", acked: 4, dump: rdsDump(t, other, map[string]map[string]uint32{"default": {"outbound|80||" + other: 100}}), waited: false},
		{name: "other namespace with a route named alike for another app's host", ns: "store", acked: 4, dump: rdsDump(t, other, map[string]map[string]uint32{"web": {"outbound|80||" + other: 100}}), waited: false},
		{name: "other namespace importing the Service, not the VirtualService (exportTo)", ns: "front", acked: 4, dump: rdsDump(t, web, map[string]map[string]uint32{"default": {"outbound|80||" + web: 100}}), waited: false},
		{name: "namespace only: other namespace importing it, behind, not waited for", ns: "front", acked: 4, dump: rdsDump(t, web, before), nsOnly: true, waited: false},
		{name: "namespace only: app namespace without the app's routes still waited for", ns: "shop", acked: 5, dump: rdsDump(t, other, nil), nsOnly: true, waited: true, behind: `no route "web"`},
		{name: "Gateway API: other namespace routing to the app's Service", ns: "front", acked: 4, dump: rdsDump(t, web, map[string]map[string]uint32{"front.web.0": {"outbound|80||" + web: 100}}), gatewayAPI: true, waited: true, behind: "needs a push after 4"},
		{name: "Gateway API: other namespace routing elsewhere", ns: "store", acked: 4, dump: rdsDump(t, other, map[string]map[string]uint32{"default": {"outbound|80||" + other: 100}}), gatewayAPI: true, waited: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := tc.sent
			if sent == 0 {
				sent = tc.acked
			}
			p := xds.SyncStatus{ProxyID: id(tc.ns), Resources: map[string]xds.ResourceStatus{v3.RouteType: {Sent: nonce(sent), Acked: nonce(tc.acked)}}}
			syncz, _ := json.Marshal([]xds.SyncStatus{p})
			f := fakeIstiod{
				"/debug/configz": []byte(`[{"kind":"VirtualService","metadata":{"name":"web","namespace":"shop","resourceVersion":"7"}}]`),
				"/debug/syncz":   syncz,
				"/debug/config_dump?types=rds&proxyID=" + url.QueryEscape(p.ProxyID): tc.dump,
			}
			if tc.ns == "shop" {
				f["/debug/syncz?namespace=shop"] = syncz
			} else {
				f["/debug/syncz?namespace=shop"] = []byte("[]")
			}
			c := &Cluster{Namespace: "shop", App: "web", Istiod: f, WaitNamespaceOnly: tc.nsOnly}
			objs := []routingObject{{Kind: kindVirtualService, Name: "web", ResourceVersion: "7", Hosts: []string{"web"}, Routes: map[string]routeTargets{"web": {"stable|" + web: 90, "v2|" + web: 10}}}}
			if tc.gatewayAPI {
				objs = []routingObject{{Kind: kindHTTPRoute, Name: "web", ResourceVersion: "7", Hosts: []string{"web.shop", "web-v2.shop"}}}
			}
			m := &pushMark{counters: map[string]uint64{"i": 4}, proxies: map[proxyKey]*markedProxy{}, passed: map[proxyKey]bool{}}
			if tc.nsOnly && tc.ns != "shop" {
				// The namespace-only gate asks istiod for the app's
				// namespace only; this proxy must not show up at all.
				delete(f, "/debug/config_dump?types=rds&proxyID="+url.QueryEscape(p.ProxyID))
			}
			n, err := c.proxiesHave(context.Background(), m, versions(objs), wantRoutes(objs), appRoutingOf(objs, "shop"), []string{v3.RouteType})
			if err != nil {
				t.Fatal(err)
			}
			if waited := n.waited == 1; waited != tc.waited {
				t.Fatalf("waited for %d proxies (%+v), want the proxy waited for: %v", n.waited, n, tc.waited)
			}
			got := strings.Join(n.behind, "; ")
			if (tc.behind == "") != (got == "") || !strings.Contains(got, tc.behind) {
				t.Errorf("behind = %q, want %q", got, tc.behind)
			}
			if tc.waited && got != "" && !strings.HasPrefix(got, tc.ns+"/client: ") {
				t.Errorf("behind = %q, want it named %s/client", got, tc.ns)
			}
		})
	}
}

func TestHostKey(t *testing.T) {
	for _, tc := range []struct {
		host, ns string // as written, and the namespace it is written in
		want     string
	}{
		{"web", "shop", "web.shop"},
		{"web.shop", "front", "web.shop"},
		{"web.shop.svc.cluster.local", "", "web.shop"},
		{"web.shop.svc.corp.example:80", "", "web.shop"},
		{"Web.Shop.svc.cluster.local:8080", "", "web.shop"},
		{"api.custom", "shop", "api.custom"},
		{"api.custom:9000", "", "api.custom"},
	} {
		if got := hostKey(tc.host, tc.ns); got != tc.want {
			t.Errorf("hostKey(%q, %q) = %q, want %q", tc.host, tc.ns, got, tc.want)
		}
	}
}

// TestMarkThenCheck: the mark decides which proxies import the app's
// routing (one config dump each) and fingerprints them; a later check of a
// step that changed only the DestinationRule dumps only the importing
// proxy whose acknowledgements passed the mark, and it has the step only
// when what istiod pushed to it changed.
func TestMarkThenCheck(t *testing.T) {
	const web = "web.shop.svc.cluster.local"
	other := "cart.store.svc.cluster.local"
	nonce := func(n int) string { return fmt.Sprintf("2026-12-07T05:00:00Z/%d%s", n, uuid) }
	vs := &istionet.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", ResourceVersion: "7", Labels: map[string]string{"meshbundle.dev/app": "web"}},
		Spec: networking.VirtualService{Hosts: []string{"web"}, Http: []*networking.HTTPRoute{{
			Name:  "web",
			Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: web, Subset: "stable"}}},
		}}},
	}
	syncz := func(front int) []byte {
		b, _ := json.Marshal([]xds.SyncStatus{
			{ProxyID: "client.front", Resources: map[string]xds.ResourceStatus{v3.ClusterType: {Sent: nonce(front), Acked: nonce(front)}}},
			{ProxyID: "client.store", Resources: map[string]xds.ResourceStatus{v3.ClusterType: {Sent: nonce(4), Acked: nonce(4)}}},
		})
		return b
	}
	dump := func(id string) string { return "/debug/config_dump?types=rds,cds&proxyID=" + url.QueryEscape(id) }
	routes := map[string]map[string]uint32{"web": {"outbound|80|stable|" + web: 100}}
	for _, tc := range []struct {
		name    string
		after   []byte // the front proxy's routes and clusters at the check
		behind  string // substring of why it does not have the step; "" when it has it
		checked int    // config dumps the check reads
	}{
		{"pushed config changed", rdsDump(t, web, map[string]map[string]uint32{"web": {"outbound|80|stable|" + web: 100, "outbound|80|v2|" + web: 0}}), "", 1},
		{"pushed config as before the step", rdsDump(t, web, routes), "still those before the step", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fakeIstiod{
				"/debug/configz":     []byte(`[{"kind":"VirtualService","metadata":{"name":"web","namespace":"shop","resourceVersion":"7"}},{"kind":"DestinationRule","metadata":{"name":"web","namespace":"shop","resourceVersion":"8"}}]`),
				"/debug/syncz":       syncz(4),
				dump("client.front"): rdsDump(t, web, routes),
				dump("client.store"): rdsDump(t, other, map[string]map[string]uint32{"web": {"outbound|80||" + other: 100}}),
			}
			c := &Cluster{Namespace: "shop", App: "web", Istio: istiofake.NewSimpleClientset(vs), Istiod: f}
			m, err := c.markPush(context.Background())
			if err != nil || m.unknown != "" {
				t.Fatalf("markPush: %v, %s", err, m.unknown)
			}
			front, store := m.proxies[proxyKey{"i", "client.front"}], m.proxies[proxyKey{"i", "client.store"}]
			if m.dumps != 2 || !front.decided || !front.imports || !store.decided || store.imports {
				t.Fatalf("at the mark: %d dumps, front %+v, store %+v; want 2, front importing, store not", m.dumps, front, store)
			}
			// The step: only the DestinationRule changed (no named route to
			// compare); istiod pushed clusters to the front proxy (5 > 4).
			f["/debug/syncz"], f[dump("client.front")] = syncz(5), tc.after
			delete(f, dump("client.store")) // never read again
			objs := []routingObject{{Kind: kindVirtualService, Name: "web", ResourceVersion: "7"}, {Kind: kindDestinationRule, Name: "web", ResourceVersion: "8"}}
			n, err := c.proxiesHave(context.Background(), m, versions(objs), nil, m.app, []string{v3.ClusterType})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(n.behind, "; ")
			if n.waited != 1 || n.connected != 2 || n.dumps != tc.checked || (tc.behind == "") != (got == "") || !strings.Contains(got, tc.behind) {
				t.Errorf("check: %+v, behind %q; want 1 of 2 waited for, %d dumps, behind %q", n, got, tc.checked, tc.behind)
			}
		})
	}
}
