package gateway

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/releaseutil"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pilot/test/xdstest"
	"istio.io/istio/pkg/cluster"
	istiolog "istio.io/istio/pkg/log"
	"istio.io/istio/pkg/network"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/gatewayconfig"
	"github.com/meshbundle/meshbundle/installer"
	"github.com/meshbundle/meshbundle/renderer"
)

func TestMain(m *testing.M) {
	for _, s := range istiolog.Scopes() {
		s.SetOutputLevel(istiolog.NoneLevel)
	}
	os.Exit(m.Run())
}

// rendered is a gateway release rendered client-side (helm template),
// split by kind.
type rendered struct {
	deployment *appsv1.Deployment
	service    string // the gateway Service YAML
	gateway    string // the Istio Gateway YAML
	all        map[string]string
}

func renderGateway(t *testing.T, o AddOptions) rendered {
	t.Helper()
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	cv, err := chartValues(o)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := releaseValues(cv, o.Class, o.Config)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := Chart()
	if err != nil {
		t.Fatal(err)
	}
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun, inst.ClientOnly, inst.ReleaseName, inst.Namespace = true, true, o.Name, o.Namespace
	inst.KubeVersion = installer.RenderKubeVersion()
	rel, err := inst.Run(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	r := rendered{all: map[string]string{}}
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if u.GetNamespace() == "" {
			u.SetNamespace(o.Namespace)
		}
		out, _ := yaml.Marshal(u.Object)
		r.all[u.GetKind()] = string(out)
		switch u.GetKind() {
		case "Deployment":
			r.deployment = &appsv1.Deployment{}
			if err := yaml.Unmarshal(out, r.deployment); err != nil {
				t.Fatal(err)
			}
		case "Service":
			r.service = string(out)
		case "Gateway":
			r.gateway = string(out)
		}
	}
	if r.deployment == nil || r.service == "" || r.gateway == "" {
		t.Fatalf("release lacks Deployment, Service or Gateway: kinds %v", keys(r.all))
	}
	return r
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// app is a one-Service app in namespace shop with one ready pod at ip.
func app(name, ip string, port int, podLabels map[string]string) string {
	labels := fmt.Sprintf("app: %s", name)
	for k, v := range podLabels {
		labels += fmt.Sprintf("\n    %s: %s", k, v)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: shop
spec:
  clusterIP: 10.96.0.%[4]d
  selector: {app: %[1]s}
  ports:
  - {name: http, port: %[3]d}
---
apiVersion: v1
kind: Pod
metadata:
  name: %[1]s-0
  namespace: shop
  labels:
    %[5]s
spec:
  containers: [{name: app, image: app}]
status:
  podIP: %[2]s
  podIPs: [{ip: %[2]s}]
  phase: Running
  conditions: [{type: Ready, status: "True"}]
---
# The fake cluster runs no endpoint controller: the slice it would write.
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-abcde
  namespace: shop
  labels: {kubernetes.io/service-name: %[1]s}
addressType: IPv4
endpoints:
- addresses: [%[2]s]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: %[1]s-0, namespace: shop}
ports:
- {name: http, port: %[3]d, protocol: TCP}
`, name, ip, port, port%250+1, labels)
}

// TestGatewaySimulation feeds the gateway release as rendered by the chart
// (its Gateway, and its Deployment's pod labels for the gateway proxy) plus
// an app whose VirtualService the post-renderer generated, checked against
// the same GatewayConfig, to istiod's config generation, and checks where
// requests through the gateway land with Istio's traffic simulation.
func TestGatewaySimulation(t *testing.T) {
	gc, err := gatewayconfig.Decode([]byte(`apiVersion: meshbundle.dev/v1alpha1
kind: GatewayConfig
metadata: {name: public, namespace: istio-ingress}
spec:
  servers:
  - {port: 80, protocol: HTTP, hosts: [shop.example.com]}
`))
	if err != nil {
		t.Fatal(err)
	}
	gw := renderGateway(t, AddOptions{Name: "public", Namespace: "istio-ingress", Config: gc})

	am, err := appmesh.Decode([]byte("apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: shop, namespace: shop}\n" +
		"spec:\n  routes:\n  - {service: web, gateway: istio-ingress/public, hosts: [shop.example.com]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	appObjs := app("web", "10.244.0.10", 80, nil)
	var routed bytes.Buffer
	if err := renderer.New(am, nil).WithGateways(gc).Render(strings.NewReader(appObjs), &routed); err != nil {
		t.Fatal(err)
	}
	var kube, istio []string
	for _, doc := range releaseutil.SplitManifests(routed.String()) {
		if strings.Contains(doc, "networking.istio.io") {
			istio = append(istio, doc)
		} else {
			kube = append(kube, doc)
		}
	}
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectString: strings.Join(append(kube, gw.service), "\n---\n"),
		ConfigString:           strings.Join(append(istio, gw.gateway), "\n---\n"),
	})
	// The gateway proxy carries the labels the chart puts on its pods: the
	// Gateway must select them.
	podLabels := gw.deployment.Spec.Template.Labels
	proxy := s.SetupProxy(&model.Proxy{
		Type: model.Router, ConfigNamespace: "istio-ingress", Labels: podLabels,
		Metadata: &model.NodeMetadata{Labels: podLabels, Namespace: "istio-ingress"},
	})
	sim := simulation.NewSimulation(t, s, proxy)
	tests := []struct {
		name string            // what the call shows
		host string            // Host header
		want simulation.Result // where it must land
	}{
		{"configured host reaches the app", "shop.example.com", simulation.Result{ClusterMatched: "outbound|80||web.shop.svc.cluster.local"}},
		{"other host finds no virtual host", "blog.example.com", simulation.Result{Error: simulation.ErrNoVirtualHost}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.Run(simulation.Call{Port: 80, Protocol: simulation.HTTP, HostHeader: tt.host, CallMode: simulation.CallModeGateway}).Matches(t, tt.want)
		})
	}
}

// TestMultiNetworkSimulation: one discovery server with two clusters on two
// networks, as istiod sees them once `meshbundle cluster link` gave it the
// remote secret. Cluster B runs the east-west gateway exactly as our chart
// renders it (its Service carries topology.istio.io/network and port 15443;
// the cloud gave it the load-balancer address 3.3.3.3) and the only pod of
// Service reviews. A sidecar in cluster A (network-a) must reach reviews
// through B's east-west gateway address, and B's gateway must pass the
// mTLS connection through by SNI (AUTO_PASSTHROUGH) to the service.
func TestMultiNetworkSimulation(t *testing.T) {
	const gwIP = "3.3.3.3"
	ew := renderGateway(t, AddOptions{Name: "istio-eastwestgateway", Namespace: "istio-system", Class: ClassEastWest, Network: "network-b"})
	var svc corev1.Service
	if err := yaml.Unmarshal([]byte(ew.service), &svc); err != nil {
		t.Fatal(err)
	}
	svc.Spec.ClusterIP = "10.96.1.1"
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: gwIP}}
	ewService, err := yaml.Marshal(&svc)
	if err != nil {
		t.Fatal(err)
	}
	const reviewsCluster = "outbound|9080||reviews.shop.svc.cluster.local"
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectStringByCluster: map[cluster.ID]string{
			"cluster-a": "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
			"cluster-b": string(ewService) + "\n---\n" + app("reviews", "10.245.0.7", 9080, map[string]string{
				// A sidecar-injected pod: only mTLS-capable endpoints are reachable across networks.
				"security.istio.io/tlsMode": "istio", "topology.istio.io/network": "network-b"}),
		},
		ConfigString: ew.gateway,
	})

	client := s.SetupProxy(&model.Proxy{
		ConfigNamespace: "shop", IPAddresses: []string{"10.244.0.20"},
		Metadata: &model.NodeMetadata{Namespace: "shop", Network: network.ID("network-a"), ClusterID: "cluster-a"},
	})
	// The call picks reviews' cluster...
	simulation.NewSimulation(t, s, client).Run(simulation.Call{
		Address: "10.96.0.81", Port: 9080, Protocol: simulation.HTTP, HostHeader: "reviews.shop.svc.cluster.local",
	}).Matches(t, simulation.Result{ClusterMatched: reviewsCluster})
	// ...whose only endpoint for network-a is B's east-west gateway.
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		got = xdstest.ExtractLoadAssignments(s.Endpoints(client))[reviewsCluster]
		if slices.Equal(got, []string{gwIP + ":15443"}) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Equal(got, []string{gwIP + ":15443"}) {
		t.Fatalf("endpoints of %s seen from cluster A = %v, want B's east-west gateway %s:15443", reviewsCluster, got, gwIP)
	}
	// A sidecar in network-b reaches the pod directly (no gateway hop).
	local := s.SetupProxy(&model.Proxy{
		ConfigNamespace: "shop", IPAddresses: []string{"10.245.0.20"},
		Metadata: &model.NodeMetadata{Namespace: "shop", Network: network.ID("network-b"), ClusterID: "cluster-b"},
	})
	if got := xdstest.ExtractLoadAssignments(s.Endpoints(local))[reviewsCluster]; !slices.Equal(got, []string{"10.245.0.7:9080"}) {
		t.Errorf("endpoints of %s seen from cluster B = %v, want the pod 10.245.0.7:9080", reviewsCluster, got)
	}

	// B's east-west gateway, with the labels and network view the chart
	// gives it, forwards the SNI-addressed mTLS stream to reviews' cluster.
	podLabels := ew.deployment.Spec.Template.Labels
	ewProxy := s.SetupProxy(&model.Proxy{
		Type: model.Router, ConfigNamespace: "istio-system", Labels: podLabels,
		Metadata: &model.NodeMetadata{Labels: podLabels, Namespace: "istio-system", Network: network.ID("network-b"), ClusterID: "cluster-b",
			RequestedNetworkView: []string{"network-b"}},
	})
	// AUTO_PASSTHROUGH routes to Istio's SNI-DNAT cluster of the service,
	// whose endpoint on the gateway is the pod itself.
	const sniCluster = "outbound_.9080_._.reviews.shop.svc.cluster.local"
	simulation.NewSimulation(t, s, ewProxy).Run(simulation.Call{
		Port: 15443, Protocol: simulation.TCP, TLS: simulation.MTLS, Sni: sniCluster, CallMode: simulation.CallModeGateway,
	}).Matches(t, simulation.Result{ListenerMatched: "0.0.0.0_15443", ClusterMatched: sniCluster})
	if got := xdstest.ExtractLoadAssignments(s.Endpoints(ewProxy))[sniCluster]; !slices.Equal(got, []string{"10.245.0.7:9080"}) {
		t.Errorf("endpoints of %s on the east-west gateway = %v, want the pod 10.245.0.7:9080", sniCluster, got)
	}
}
