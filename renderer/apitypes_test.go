package renderer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/istio/pkg/config/kube"
	"istio.io/istio/pkg/config/protocol"
	corev1 "k8s.io/api/core/v1"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
)

// TestLocalTypesMatchAPI: every object the renderer generates from the
// golden inputs, as printed from its local struct (apitypes.go), decodes
// strictly into the upstream API type it stands for (an unknown field is
// an error; the specs of Istio's protobuf types through protojson, which
// refuses unknown fields), and printed back through that type (JSON,
// status, empty spec and creationTimestamp dropped, as generate did with
// the upstream types) it is the same object. So a local struct whose JSON
// name or omitempty rule drifted from the API fails here. (Later edits,
// such as the canary's weights, are not the structs' and not checked.)
func TestLocalTypesMatchAPI(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*", "*.in.yaml"))
	if len(inputs) < 5 {
		t.Fatalf("found only %d golden inputs", len(inputs))
	}
	seen := map[string]int{}
	defer func() { generatedHook = nil }()
	generatedHook = func(kind string, raw []byte) {
		if upstreamType(kind) == nil {
			t.Errorf("generated %s: no upstream type to check it against (add it to upstreamTypes)", kind)
			return
		}
		seen[kind]++
		if err := matchesAPI(kind, raw); err != nil {
			t.Errorf("generated %s: %v", kind, err)
		}
	}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, am := range appMeshesFor(t, in) {
			_ = New(am, nil).Render(bytes.NewReader(data), io.Discard) // refusals are the golden tests' business
		}
	}
	for kind := range upstreamTypes {
		if seen[kind] == 0 {
			t.Errorf("no generated %s in the golden outputs: the test proves nothing for it", kind)
		}
	}
	t.Logf("generated objects checked: %v", seen)

	// The controls: what the check must refuse.
	controls := []struct {
		name, kind, doc string
	}{
		{"unknown field", "Service", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  externalNam: x\n"},
		{"unknown protobuf field", "VirtualService", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hostz: [a]\n"},
		{"zero the API leaves out", "VirtualService", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [a]\n  http:\n  - route:\n    - destination: {host: a}\n      weight: 0\n"},
		{"field the API always prints", "Gateway", "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: a}\nspec:\n  gatewayClassName: istio-waypoint\n"},
	}
	for _, c := range controls {
		if err := matchesAPI(c.kind, []byte(c.doc)); err == nil {
			t.Errorf("control %q: the check passed", c.name)
		}
	}
}

// upstreamTypes are the API types of the kinds the renderer generates.
var upstreamTypes = map[string]func() any{
	"Namespace":       func() any { return &corev1.Namespace{} },
	"ConfigMap":       func() any { return &corev1.ConfigMap{} },
	"Service":         func() any { return &corev1.Service{} },
	"VirtualService":  func() any { return &istionet.VirtualService{} },
	"DestinationRule": func() any { return &istionet.DestinationRule{} },
	"ServiceEntry":    func() any { return &istionet.ServiceEntry{} },
	"HTTPRoute":       func() any { return &gwapi.HTTPRoute{} },
	"GRPCRoute":       func() any { return &gwapi.GRPCRoute{} },
	"TCPRoute":        func() any { return &gwapi.TCPRoute{} },
	"Gateway":         func() any { return &gwapi.Gateway{} },
}

func upstreamType(kind string) func() any { return upstreamTypes[kind] }

// istioSpecs are the protobuf messages of the Istio kinds' specs.
var istioSpecs = map[string]func() proto.Message{
	"VirtualService":  func() proto.Message { return &networking.VirtualService{} },
	"DestinationRule": func() proto.Message { return &networking.DestinationRule{} },
	"ServiceEntry":    func() proto.Message { return &networking.ServiceEntry{} },
}

// matchesAPI decodes a document strictly into its kind's upstream type and
// compares it with the object that type prints.
func matchesAPI(kind string, doc []byte) error {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	var want map[string]any
	if err := json.Unmarshal(js, &want); err != nil {
		return err
	}
	want = integers(want).(map[string]any)
	typed := upstreamType(kind)()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(typed); err != nil {
		return fmt.Errorf("strict decode into %T: %w", typed, err)
	}
	if newSpec, ok := istioSpecs[kind]; ok {
		spec, err := json.Marshal(want["spec"])
		if err != nil {
			return err
		}
		if err := protojson.Unmarshal(spec, newSpec()); err != nil {
			return fmt.Errorf("strict decode of the spec: %w", err)
		}
	}
	got, err := plain(typed)
	if err != nil {
		return err
	}
	delete(got, "status")
	if spec, ok := got["spec"].(map[string]any); ok && len(spec) == 0 {
		delete(got, "spec")
	}
	if meta, ok := got["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		return fmt.Errorf("printed through %T it is\n%s\nnot\n%s", typed, g, doc)
	}
	return nil
}

// TestProtocolOfIsIstios: protocolOf, the copy of Istio's
// kube.ConvertProtocol the post-renderer links, agrees with it on every
// protocol name Istio parses (bare, with a suffix, in other cases), as a
// port name and as an appProtocol, Kubernetes' own appProtocols, the
// well-known ports and the Service protocols.
func TestProtocolOfIsIstios(t *testing.T) {
	names := []string{"", "web", "tcp-", "-http", "grpc-web", "grpc-web-x", "GRPC-WEB", "grpcweb",
		"kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss", "kubernetes.io/other"}
	for _, p := range []protocol.Instance{protocol.TCP, protocol.UDP, protocol.GRPC, protocol.GRPCWeb, protocol.HTTP,
		protocol.HTTP_PROXY, protocol.HTTP2, protocol.HTTPS, protocol.TLS, protocol.Mongo, protocol.Redis, protocol.MySQL, protocol.Unsupported} {
		s := string(p)
		names = append(names, s, strings.ToLower(s), strings.ToUpper(s), s+"-metrics", strings.ToLower(s)+"-x-y")
	}
	var checked int
	for _, port := range []int32{25, 53, 80, 443, 3306, 6379, 8080, 9090, 27017} {
		for _, proto := range []string{"", "TCP", "UDP", "SCTP"} {
			for _, name := range names {
				for _, app := range append([]*string{nil}, ptrs(names)...) {
					sp := servicePort{Port: port, Name: name, Protocol: proto, AppProtocol: app}
					want := kube.ConvertProtocol(port, name, corev1.Protocol(proto), app)
					if got := protocolOf(sp); got != want {
						t.Fatalf("port %d name %q protocol %q appProtocol %v: protocolOf %s, Istio %s", port, name, proto, derefString(app), got, want)
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d combinations agree", checked)
}

func ptrs(list []string) []*string {
	out := make([]*string, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}

func derefString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// appMeshesFor is the AppMesh of a golden input, and for the canary's
// inputs (which have none) phases of the canary in both route APIs.
func appMeshesFor(t *testing.T, in string) []*appmesh.AppMesh {
	if filepath.Base(filepath.Dir(in)) != "canary" {
		return []*appmesh.AppMesh{loadAppMesh(t, in)}
	}
	var out []*appmesh.AppMesh
	for _, phase := range []appmesh.CanaryPhase{appmesh.CanaryStarting, appmesh.CanaryProgressing} {
		out = append(out, canaryMesh(reviewsCanary(phase, 10)), gatewayAPIMesh(canaryMesh(reviewsCanary(phase, 10))))
	}
	return out
}
