package appmesh

import (
	"strings"
	"testing"
)

// header is the part every test document shares.
const header = "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: shop\n  namespace: shop\n"

func TestDecodeDefaults(t *testing.T) {
	am, err := Decode([]byte(header + "spec:\n  aliases:\n  - name: storefront\n    service: web\n  - name: reviews.custom\n    service: web\n  canary:\n    target: web\n    version: v2\n    image: web:2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !*am.Spec.Injection.Enabled || !*am.Spec.Injection.NamespaceLabel {
		t.Errorf("injection defaults = %+v, want enabled and namespaceLabel", am.Spec.Injection)
	}
	if am.Spec.Dataplane != DataplaneSidecar || am.Spec.RouteAPI != RouteAPIIstio {
		t.Errorf("dataplane, routeAPI = %q, %q, want sidecar, istio", am.Spec.Dataplane, am.Spec.RouteAPI)
	}
	if am.Spec.Ports.Mode != PortModeEnforce {
		t.Errorf("ports.mode = %q, want enforce", am.Spec.Ports.Mode)
	}
	if got := am.Spec.Aliases[0].Variant; got != AliasExternalName {
		t.Errorf("short alias variant = %q, want externalname", got)
	}
	if got := am.Spec.Aliases[1].Variant; got != AliasServiceEntryEDS {
		t.Errorf("custom domain alias variant = %q, want serviceentry-eds", got)
	}
	if am.Spec.Canary.Phase != CanaryLabelling {
		t.Errorf("canary.phase = %q, want Labelling (a hand-written canary starts at the beginning)", am.Spec.Canary.Phase)
	}
	// A defaulted file decodes to the same object again (the state ConfigMap relies on it).
	out, err := Marshal(am)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Decode(out)
	if err != nil {
		t.Fatalf("re-decode of\n%s: %v", out, err)
	}
	out2, _ := Marshal(again)
	if string(out) != string(out2) {
		t.Errorf("marshal not stable:\n%s\n---\n%s", out, out2)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string // what is wrong
		doc  string // the AppMesh document
		want string // a substring the error must contain (the field path)
	}{
		{"unknown field", header + "spec:\n  injection:\n    enable: true\n", `unknown field "spec.injection.enable"`},
		{"duplicate field", header + "spec:\n  ports:\n    mode: fix\n    mode: enforce\n", `"mode"`},
		{"wrong kind", "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMash\nmetadata:\n  name: shop\n", "kind: Unsupported value"},
		{"wrong apiVersion", "apiVersion: v1\nkind: AppMesh\nmetadata:\n  name: shop\n", "apiVersion: Unsupported value"},
		{"missing name", "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {}\n", "metadata.name: Required value"},
		{"bad port mode", header + "spec:\n  ports:\n    mode: strict\n", "spec.ports.mode: Unsupported value"},
		{"rename without name", header + "spec:\n  ports:\n    rename:\n    - service: db\n      port: 9104\n", "spec.ports.rename[0].name: Required value"},
		{"rename port out of range", header + "spec:\n  ports:\n    rename:\n    - service: db\n      port: 70000\n      name: http-metrics\n", "spec.ports.rename[0].port: Invalid value"},
		{"gateway without namespace", header + "spec:\n  routes:\n  - service: web\n    gateway: public\n", "spec.routes[0].gateway: Invalid value"},
		{"duplicate route", header + "spec:\n  routes:\n  - service: web\n  - service: web\n", "spec.routes[1].service: Duplicate value"},
		{"bad host", header + "spec:\n  routes:\n  - service: web\n    hosts: [\"Shop_Example\"]\n", "spec.routes[0].hosts[0]: Invalid value"},
		{"externalname with dots", header + "spec:\n  aliases:\n  - name: reviews.custom\n    service: web\n    variant: externalname\n", "spec.aliases[0].variant: Invalid value"},
		{"unknown variant", header + "spec:\n  aliases:\n  - name: reviews\n    service: web\n    variant: dns\n", "spec.aliases[0].variant: Unsupported value"},
		{"alias without namespace", "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: shop\nspec:\n  aliases:\n  - name: reviews\n    service: web\n", "metadata.namespace: Required value"},
		{"exclude bad kind", header + "spec:\n  injection:\n    exclude:\n    - kind: Pod\n      name: x\n", "spec.injection.exclude[0].kind: Unsupported value"},
		{"revision not a label", header + "spec:\n  injection:\n    revision: 1.31\n", "spec.injection.revision"},
		{"revision without injection", header + "spec:\n  injection:\n    enabled: false\n    revision: prod\n", "a revision needs injection"},
		{"canary weight", header + "spec:\n  canary:\n    target: web\n    version: v2\n    image: web:2\n    weight: 120\n", "spec.canary.weight: Invalid value"},
		{"canary missing image", header + "spec:\n  canary:\n    target: web\n    version: v2\n", "spec.canary.image: Required value"},
		{"unknown dataplane", header + "spec:\n  dataplane: proxyless\n", `spec.dataplane: Unsupported value: "proxyless"`},
		{"unknown routeAPI", header + "spec:\n  routeAPI: smi\n", `spec.routeAPI: Unsupported value: "smi"`},
		{"ambient with VirtualServices", header + "spec:\n  dataplane: ambient\n  routeAPI: istio\n", "spec.routeAPI: Invalid value: \"istio\": the ambient data plane takes routes only from the Gateway API"},
		{"adopt with gateway-api", header + "spec:\n  routeAPI: gateway-api\n  routes:\n  - service: web\n    adopt: true\n", "spec.routes[0].adopt: Invalid value: true: adopt takes over a chart's VirtualService"},
		{"revision with ambient", header + "spec:\n  dataplane: ambient\n  injection:\n    revision: prod\n", "spec.injection.revision: Invalid value: \"prod\": a revision pins sidecar injection"},
		{"not yaml", "spec: [", "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Decode accepted:\n%s", tt.doc)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestRouteAPIDefaults: ambient implies the Gateway API; sidecar keeps
// VirtualServices unless asked.
func TestRouteAPIDefaults(t *testing.T) {
	tests := []struct {
		spec string   // the spec section
		want RouteAPI // the defaulted spec.routeAPI
	}{
		{"spec: {}\n", RouteAPIIstio},
		{"spec: {dataplane: sidecar}\n", RouteAPIIstio},
		{"spec: {dataplane: sidecar, routeAPI: gateway-api}\n", RouteAPIGatewayAPI},
		{"spec: {dataplane: ambient}\n", RouteAPIGatewayAPI},
	}
	for _, tt := range tests {
		am, err := Decode([]byte(header + tt.spec))
		if err != nil {
			t.Fatalf("%s: %v", tt.spec, err)
		}
		if am.Spec.RouteAPI != tt.want {
			t.Errorf("%s: routeAPI = %q, want %q", tt.spec, am.Spec.RouteAPI, tt.want)
		}
	}
}
