package meshcheck

import (
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	"testing"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pilot/test/xdstest"

	"github.com/meshbundle/meshbundle/appmesh"
)

// call is one request a client sidecar (or the gateway) makes.
type call struct {
	name    string              // what the call proves
	service string              // the chart Service whose ClusterIP is dialled ("" = any address, e.g. a ServiceEntry host)
	port    int                 // destination port
	proto   simulation.Protocol // HTTP, TCP, ...
	host    string              // Host header (HTTP)
	gateway bool                // made at the ingress gateway instead of a sidecar
	cluster string              // the Envoy cluster the call must land on
}

// TestRoutingSimulation feeds each chart's output to istiod's config
// generation (xds.FakeDiscoveryServer) and checks where calls land, with
// Istio's traffic simulation.
func TestRoutingSimulation(t *testing.T) {
	tests := []struct {
		chart string // testdata/charts/<chart>
		calls []call
	}{
		{"example-app", []call{
			{name: "app host", service: "web", port: 80, proto: simulation.HTTP, host: "web.shop.svc.cluster.local", cluster: "outbound|80||web.shop.svc.cluster.local"},
			{name: "gRPC port of a two-port Service", service: "api", port: 9000, proto: simulation.HTTP2, host: "api.shop.svc.cluster.local", cluster: "outbound|9000||api.shop.svc.cluster.local"},
			{name: "HTTP port of a two-port Service", service: "api", port: 8081, proto: simulation.HTTP, host: "api.shop.svc.cluster.local", cluster: "outbound|8081||api.shop.svc.cluster.local"},
			{name: "ExternalName alias lands on the real Service's cluster", service: "web", port: 80, proto: simulation.HTTP, host: "storefront.shop.svc.cluster.local", cluster: "outbound|80||web.shop.svc.cluster.local"},
			{name: "ServiceEntry (EDS) alias", port: 9000, proto: simulation.HTTP2, host: "api.shop.internal", cluster: "outbound|9000||api.shop.internal"},
			{name: "external host through the gateway", gateway: true, port: 80, proto: simulation.HTTP, host: "shop.example.com", cluster: "outbound|80||web.shop.svc.cluster.local"},
		}},
		{"grpc-many", []call{
			{name: "frontend subset v1", service: "frontend", port: 8080, proto: simulation.HTTP, host: "frontend.boutique.svc.cluster.local", cluster: "outbound|8080|v1|frontend.boutique.svc.cluster.local"},
			{name: "gRPC service subset v1", service: "cart", port: 7070, proto: simulation.HTTP2, host: "cart.boutique.svc.cluster.local", cluster: "outbound|7070|v1|cart.boutique.svc.cluster.local"},
			{name: "appProtocol grpc port", service: "currency", port: 7000, proto: simulation.HTTP2, host: "currency.boutique.svc.cluster.local", cluster: "outbound|7000|v1|currency.boutique.svc.cluster.local"},
			{name: "ExternalName alias", service: "catalog", port: 3550, proto: simulation.HTTP2, host: "products.boutique.svc.cluster.local", cluster: "outbound|3550|v1|catalog.boutique.svc.cluster.local"},
			{name: "ServiceEntry (EDS) alias", port: 3550, proto: simulation.HTTP2, host: "catalog.boutique.internal", cluster: "outbound|3550||catalog.boutique.internal"},
			{name: "ServiceEntry (DNS) alias", port: 50051, proto: simulation.HTTP2, host: "pay.legacy", cluster: "outbound|50051||pay.legacy"},
			{name: "gateway", gateway: true, port: 80, proto: simulation.HTTP, host: "shop.example.com", cluster: "outbound|8080|v1|frontend.boutique.svc.cluster.local"},
		}},
		{"cronjobs-hooks", []call{
			{name: "versioned backend", service: "backend", port: 80, proto: simulation.HTTP, host: "backend.apps.svc.cluster.local", cluster: "outbound|80|v3|backend.apps.svc.cluster.local"},
		}},
		{"statefulset-db", []call{
			{name: "mysql over TCP", service: "db-mysql", port: 3306, proto: simulation.TCP, cluster: "outbound|3306||db-mysql.data.svc.cluster.local"},
			{name: "renamed metrics port is HTTP", service: "db-mysql-metrics", port: 9104, proto: simulation.HTTP, host: "db-mysql-metrics.data.svc.cluster.local", cluster: "outbound|9104||db-mysql-metrics.data.svc.cluster.local"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.chart, func(t *testing.T) {
			c := loadChart(t, tt.chart)
			ns := c.am.Metadata.Namespace
			out := applied(t, ns, c.render(t))
			s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
				KubernetesObjectString: join(ingressGateway.kube, out.kube),
				ConfigString:           join(ingressGateway.istio, out.istio),
			})
			sidecar := simulation.NewSimulation(t, s, s.SetupProxy(&model.Proxy{
				ConfigNamespace: ns,
				IPAddresses:     []string{"10.1.0.1"},
				Labels:          map[string]string{"app": "client"},
				Metadata:        &model.NodeMetadata{Labels: map[string]string{"app": "client"}, Namespace: ns},
			}))
			var gateway *simulation.Simulation
			for _, cl := range tt.calls {
				sim := sidecar
				if cl.gateway {
					if gateway == nil {
						gateway = simulation.NewSimulation(t, s, s.SetupProxy(&model.Proxy{
							Type:            model.Router,
							ConfigNamespace: "istio-ingress",
							Labels:          map[string]string{"istio": "ingressgateway"},
							Metadata:        &model.NodeMetadata{Labels: map[string]string{"istio": "ingressgateway"}, Namespace: "istio-ingress"},
						}))
					}
					sim = gateway
				}
				sc := simulation.Call{Port: cl.port, Protocol: cl.proto, HostHeader: cl.host, Address: "240.240.0.1"}
				if cl.service != "" {
					ip, ok := out.clusterIPs[cl.service]
					if !ok {
						t.Fatalf("%s: no Service %q in the output", cl.name, cl.service)
					}
					sc.Address = ip
				}
				if cl.gateway {
					sc.CallMode = simulation.CallModeGateway
				}
				t.Run(cl.name, func(t *testing.T) {
					sim.Run(sc).Matches(t, simulation.Result{ClusterMatched: cl.cluster})
				})
			}
		})
	}
}

// TestAliasCost measures what each alias variant adds to a client
// sidecar's Envoy config (clusters, listeners, bytes), on example-app with
// one alias of the two-port api Service. docs/renderer.md quotes these
// numbers; the test pins the facts the default relies on.
func TestAliasCost(t *testing.T) {
	base := loadChart(t, "example-app")
	base.am.Spec.Aliases = nil
	variants := []struct {
		variant      string // AppMesh alias variant
		name         string // alias name
		wantClusters int    // extra Envoy clusters (the api Service has 2 ports)
	}{
		{"externalname", "api-alias", 0},
		{"serviceentry-eds", "api.alias.internal", 2},
		{"serviceentry-dns", "api.alias.internal", 2},
	}
	baseline, _ := sidecarConfigSize(t, base)
	t.Logf("baseline: %d clusters, %d listeners, %d bytes", baseline.clusters, baseline.listeners, baseline.bytes)
	for _, v := range variants {
		t.Run(v.variant, func(t *testing.T) {
			c := loadChart(t, "example-app")
			c.am.Spec.Aliases = []appmesh.Alias{aliasOf(v.name, "api", v.variant)}
			got, sim := sidecarConfigSize(t, c)
			d := got.minus(baseline)
			t.Logf("%s: +%d clusters, +%d listeners, +%d routes, +%d bytes of xDS", v.variant, d.clusters, d.listeners, d.routes, d.bytes)
			if d.clusters != v.wantClusters {
				t.Errorf("%s adds %d clusters, want %d", v.variant, d.clusters, v.wantClusters)
			}
			if v.variant == "serviceentry-dns" {
				// The seed's DNS ServiceEntry is plaintext unless its endpoint
				// says the other side is a sidecar: check the label made it to
				// Envoy, so the cluster really uses Istio mTLS.
				cl := xdstest.ExtractCluster("outbound|9000||"+v.name, sim.Clusters)
				if cl == nil {
					t.Fatalf("no cluster for %s", v.name)
				}
				if !slices.ContainsFunc(cl.TransportSocketMatches, func(m *clusterv3.Cluster_TransportSocketMatch) bool { return m.Name == "tlsMode-istio" }) {
					t.Errorf("cluster %s has no Istio mTLS transport socket", cl.Name)
				}
				var modes []string
				for _, le := range cl.GetLoadAssignment().GetEndpoints() {
					for _, ep := range le.LbEndpoints {
						modes = append(modes, ep.GetMetadata().GetFilterMetadata()["envoy.transport_socket_match"].GetFields()["tlsMode"].GetStringValue())
					}
				}
				if len(modes) == 0 || slices.ContainsFunc(modes, func(m string) bool { return m != "istio" }) {
					t.Errorf("DNS endpoints' tlsMode = %v, want all istio (mTLS)", modes)
				}
			}
		})
	}
}

// sizes of a sidecar's generated config.
type sizes struct{ clusters, listeners, routes, bytes int }

func (a sizes) minus(b sizes) sizes {
	return sizes{a.clusters - b.clusters, a.listeners - b.listeners, a.routes - b.routes, a.bytes - b.bytes}
}

func sidecarConfigSize(t *testing.T, c chart) (sizes, *simulation.Simulation) {
	t.Helper()
	ns := c.am.Metadata.Namespace
	out := applied(t, ns, c.render(t))
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectString: join(out.kube),
		ConfigString:           join(out.istio),
	})
	sim := simulation.NewSimulation(t, s, s.SetupProxy(&model.Proxy{ConfigNamespace: ns, IPAddresses: []string{"10.1.0.1"}}))
	var n sizes
	n.clusters, n.listeners, n.routes = len(sim.Clusters), len(sim.Listeners), len(sim.Routes)
	for _, m := range sim.Clusters {
		n.bytes += proto.Size(m)
	}
	for _, m := range sim.Listeners {
		n.bytes += proto.Size(m)
	}
	for _, m := range sim.Routes {
		n.bytes += proto.Size(m)
	}
	return n, sim
}

func aliasOf(name, service, variant string) appmesh.Alias {
	return appmesh.Alias{Name: name, Service: service, Variant: appmesh.AliasVariant(variant)}
}
