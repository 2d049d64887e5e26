package meshcheck

import (
	"testing"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
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
