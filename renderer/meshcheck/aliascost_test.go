package meshcheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pilot/test/xdstest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/renderer"
)

// The alias-cost mesh of issue 10 (item 3): 100 Services, each with one
// alias in the variant under test, against the same 100 Services without.
const (
	aliasCostServices = 100
	aliasCostNS       = "bench"
	aliasCostPort     = 80
)

// TestAliasCost measures what one alias per Service costs a client sidecar,
// for each alias variant, with istiod's own config generation
// (pilot/test/xds FakeDiscoveryServer): the Envoy clusters, listeners, route
// configurations, virtual hosts and proto-marshalled bytes of
// clusters + listeners + routes. The aliases are rendered by the real
// renderer from an AppMesh, as users get them.
//
// It logs one "aliascost ..." line per set-up, which `make bench`
// (ci/bench/machine.go) parses into BENCHMARKS.md; the bench judges the
// ≤ 1 % bytes-per-alias goal, this test only pins the cluster counts the
// design relies on and that every alias really resolves.
func TestAliasCost(t *testing.T) {
	start := time.Now()
	in := appServices(t, aliasCostServices)

	baseAM := aliasCostAppMesh(t, nil)
	baseOut := applied(t, aliasCostNS, renderWith(t, baseAM, in))
	baseline, _ := sidecarConfig(t, baseOut)
	logAliasCost(t, "baseline", false, 0, baseline)

	variants := []struct {
		variant      appmesh.AliasVariant // set in the AppMesh; "" leaves it to the default
		aliasName    func(svc string) string
		wantVariant  appmesh.AliasVariant // the variant the AppMesh ends up with after defaulting
		wantClusters int                  // extra Envoy clusters for all aliases together
		// viaService: calls to the alias are made to the real Service's
		// ClusterIP (cluster DNS answers the alias with a CNAME to it);
		// otherwise to an address the DNS proxy would allocate.
		viaService bool
		// ownCluster: calls land on the alias's own cluster
		// (outbound|80||<alias>); otherwise on the real Service's.
		ownCluster bool
	}{
		{variant: "", aliasName: func(s string) string { return s + "-alias" }, wantVariant: appmesh.AliasExternalName,
			wantClusters: 0, viaService: true},
		{variant: appmesh.AliasServiceEntryEDS, aliasName: func(s string) string { return s + ".alias.internal" }, wantVariant: appmesh.AliasServiceEntryEDS,
			wantClusters: aliasCostServices, ownCluster: true},
		{variant: appmesh.AliasServiceEntryDNS, aliasName: func(s string) string { return s + ".alias.internal" }, wantVariant: appmesh.AliasServiceEntryDNS,
			wantClusters: aliasCostServices, ownCluster: true},
	}
	for _, v := range variants {
		t.Run(string(v.wantVariant), func(t *testing.T) {
			var aliases []appmesh.Alias
			for i := range aliasCostServices {
				svc := benchServiceName(i)
				aliases = append(aliases, appmesh.Alias{Name: v.aliasName(svc), Service: svc, Variant: v.variant})
			}
			am := aliasCostAppMesh(t, aliases)
			if got := am.Spec.Aliases[0].Variant; got != v.wantVariant {
				t.Fatalf("alias %q got variant %q after defaulting, want %q", am.Spec.Aliases[0].Name, got, v.wantVariant)
			}
			stream := renderWith(t, am, in)
			if got := countAliasObjects(t, stream, v.wantVariant); got != aliasCostServices {
				t.Fatalf("the renderer wrote %d %s alias objects, want %d", got, v.wantVariant, aliasCostServices)
			}
			out := applied(t, aliasCostNS, stream)
			got, sim := sidecarConfig(t, out)
			logAliasCost(t, string(v.wantVariant), v.variant == "", aliasCostServices, got)

			if d := got.clusters - baseline.clusters; d != v.wantClusters {
				t.Errorf("%d %s aliases add %d Envoy clusters, want %d", aliasCostServices, v.wantVariant, d, v.wantClusters)
			}
			// Every alias resolves, to the cluster the variant promises.
			for _, a := range am.Spec.Aliases {
				call := simulation.Call{Port: aliasCostPort, Protocol: simulation.HTTP, Address: "240.240.0.1", HostHeader: a.Name}
				want := fmt.Sprintf("outbound|%d||%s", aliasCostPort, a.Name)
				if v.viaService {
					call.Address = out.clusterIPs[a.Service]
					call.HostHeader = a.Name + "." + aliasCostNS + ".svc.cluster.local"
				}
				if !v.ownCluster {
					want = fmt.Sprintf("outbound|%d||%s.%s.svc.cluster.local", aliasCostPort, a.Service, aliasCostNS)
				}
				res := sim.Run(call)
				if res.Error != nil || res.ClusterMatched != want {
					t.Errorf("call to alias %s (%s) landed on %q (error %v), want %q", a.Name, call.HostHeader, res.ClusterMatched, res.Error, want)
				}
				if v.wantVariant == appmesh.AliasServiceEntryDNS {
					checkIstioMTLS(t, sim, want)
				}
			}
		})
	}
	t.Logf("aliascost elapsed=%s", time.Since(start).Round(time.Millisecond))
}

// logAliasCost writes the line ci/bench/machine.go parses (key=value pairs
// after "aliascost "); keep the keys in step with it.
func logAliasCost(t *testing.T, variant string, isDefault bool, aliases int, s xdsSize) {
	t.Helper()
	t.Logf("aliascost variant=%s default=%t services=%d aliases=%d clusters=%d listeners=%d routeconfigs=%d vhosts=%d bytes=%d clusterbytes=%d listenerbytes=%d routebytes=%d",
		variant, isDefault, aliasCostServices, aliases, s.clusters, s.listeners, s.routeConfigs, s.virtualHosts, s.bytes(), s.clusterBytes, s.listenerBytes, s.routeBytes)
}

// checkIstioMTLS: a DNS ServiceEntry is plaintext unless its endpoint says
// the other side is a sidecar; check the renderer's tlsMode label made it to
// Envoy, so the alias's cluster really uses Istio mTLS.
func checkIstioMTLS(t *testing.T, sim *simulation.Simulation, name string) {
	t.Helper()
	cl := xdstest.ExtractCluster(name, sim.Clusters)
	if cl == nil {
		t.Errorf("no Envoy cluster %s", name)
		return
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
		t.Errorf("cluster %s: DNS endpoints' tlsMode = %v, want all istio (mTLS)", cl.Name, modes)
	}
}

// xdsSize is what a sidecar receives over CDS, LDS and RDS.
type xdsSize struct {
	clusters, listeners, routeConfigs, virtualHosts int
	clusterBytes, listenerBytes, routeBytes         int // proto.Size of each resource, summed
}

func (s xdsSize) bytes() int { return s.clusterBytes + s.listenerBytes + s.routeBytes }

// sidecarConfig generates the config of a client sidecar in the app's
// namespace with istiod's own code (FakeDiscoveryServer) for out.
func sidecarConfig(t *testing.T, out cluster) (xdsSize, *simulation.Simulation) {
	t.Helper()
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectString: join(out.kube),
		ConfigString:           join(out.istio),
	})
	sim := simulation.NewSimulation(t, s, s.SetupProxy(&model.Proxy{
		ConfigNamespace: aliasCostNS,
		IPAddresses:     []string{"10.1.0.1"},
		Labels:          map[string]string{"app": "client"},
		Metadata:        &model.NodeMetadata{Labels: map[string]string{"app": "client"}, Namespace: aliasCostNS},
	}))
	n := xdsSize{clusters: len(sim.Clusters), listeners: len(sim.Listeners), routeConfigs: len(sim.Routes)}
	for _, m := range sim.Clusters {
		n.clusterBytes += proto.Size(m)
	}
	for _, m := range sim.Listeners {
		n.listenerBytes += proto.Size(m)
	}
	for _, m := range sim.Routes {
		n.routeBytes += proto.Size(m)
		n.virtualHosts += len(m.VirtualHosts)
	}
	return n, sim
}

// aliasCostAppMesh is the AppMesh a user would write for the mesh, put
// through the same decoding, defaulting and validation as a file.
func aliasCostAppMesh(t *testing.T, aliases []appmesh.Alias) *appmesh.AppMesh {
	t.Helper()
	src := &appmesh.AppMesh{APIVersion: appmesh.APIVersion, Kind: appmesh.Kind,
		Metadata: appmesh.Metadata{Name: "bench", Namespace: aliasCostNS}, Spec: appmesh.Spec{Aliases: aliases}}
	data, err := appmesh.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	am, err := appmesh.Decode(data)
	if err != nil {
		t.Fatalf("AppMesh of the alias-cost mesh: %v\n%s", err, data)
	}
	return am
}

func renderWith(t *testing.T, am *appmesh.AppMesh, in []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := renderer.New(am, nil).Render(bytes.NewReader(in), &out); err != nil {
		t.Fatalf("render the alias-cost mesh: %v", err)
	}
	return out.Bytes()
}

// countAliasObjects counts the objects of the variant in the rendered
// stream: ExternalName Services or ServiceEntries.
func countAliasObjects(t *testing.T, stream []byte, v appmesh.AliasVariant) int {
	t.Helper()
	n := 0
	rd := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("rendered stream: %v", err)
		}
		var obj struct {
			Kind string `json:"kind"`
			Spec struct {
				Type       string `json:"type"`
				Resolution string `json:"resolution"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("rendered document: %v", err)
		}
		switch {
		case v == appmesh.AliasExternalName && obj.Kind == "Service" && obj.Spec.Type == "ExternalName",
			v == appmesh.AliasServiceEntryEDS && obj.Kind == "ServiceEntry" && obj.Spec.Resolution == "STATIC",
			v == appmesh.AliasServiceEntryDNS && obj.Kind == "ServiceEntry" && obj.Spec.Resolution == "DNS":
			n++
		}
	}
}

func benchServiceName(i int) string { return fmt.Sprintf("svc-%03d", i) }

// appServices is an app chart's output with n Deployment+Service pairs
// shaped like real ones: one HTTP port per Service whose named targetPort
// points at the container port, probes, resources, a version label.
func appServices(t *testing.T, n int) []byte {
	t.Helper()
	var docs []string
	for i := range n {
		for _, obj := range appPair(benchServiceName(i)) {
			data, err := yaml.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, string(data))
		}
	}
	return []byte(strings.Join(docs, "---\n"))
}

// appPair is one Service and the Deployment it selects.
func appPair(name string) []any {
	sel := map[string]string{"app.kubernetes.io/name": name}
	podLabels := map[string]string{"app.kubernetes.io/name": name, "version": "v1"}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: sel},
		Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{
			{Name: "http", Port: aliasCostPort, TargetPort: intstr.FromString("http")},
		}},
	}
	replicas := int32(2)
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: sel},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:           "app",
					Image:          "registry.example/shop/" + name + ":1.0.0",
					Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					ReadinessProbe: probe,
					LivenessProbe:  probe,
				}}},
			},
		},
	}
	return []any{svc, dep}
}
