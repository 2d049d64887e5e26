package renderer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/gatewayconfig"
)

// TestRouteGatewayCheck: with GatewayConfigs given, a route must name one
// of them and ask only for hosts its servers accept; nothing is written
// otherwise. Without GatewayConfigs nothing is checked.
func TestRouteGatewayCheck(t *testing.T) {
	const svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80}\n"
	public, err := gatewayconfig.Load("../gatewayconfig/testdata/public.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string                         // what the case shows
		route    string                         // the AppMesh route (flow style)
		gateways []*gatewayconfig.GatewayConfig // what WithGateways gets; nil: not called
		want     string                         // error substring; "" means it renders
	}{
		{"known gateway and host", "{service: web, gateway: istio-ingress/public, hosts: [shop.example.com]}", []*gatewayconfig.GatewayConfig{public}, ""},
		{"wildcard host scoped to the app's namespace", "{service: web, gateway: istio-ingress/public, hosts: [web.shop.internal]}", []*gatewayconfig.GatewayConfig{public}, ""},
		{"unknown gateway", "{service: web, gateway: istio-ingress/private, hosts: [shop.example.com]}", []*gatewayconfig.GatewayConfig{public},
			`spec.routes[0].gateway: no GatewayConfig for gateway "istio-ingress/private" (fix: use one of: istio-ingress/public`},
		{"host the gateway does not serve", "{service: web, gateway: istio-ingress/public, hosts: [blog.example.com]}", []*gatewayconfig.GatewayConfig{public},
			`spec.routes[0].hosts[0]: gateway istio-ingress/public serves no host "blog.example.com" to namespace "shop"`},
		{"no configs given: not checked", "{service: web, gateway: istio-ingress/private, hosts: [blog.example.com]}", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			am, err := appmesh.Decode([]byte("apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: shop\n  namespace: shop\nspec:\n  routes:\n  - " + tt.route + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			r := New(am, nil)
			if tt.gateways != nil {
				r = r.WithGateways(tt.gateways...)
			}
			var out bytes.Buffer
			err = r.Render(strings.NewReader(svc), &out)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Render: %v", err)
			case tt.want == "" && !strings.Contains(out.String(), "kind: VirtualService"):
				t.Errorf("no VirtualService rendered:\n%s", out.String())
			case tt.want != "" && err == nil:
				t.Fatalf("Render accepted the route:\n%s", out.String())
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q does not contain %q", err, tt.want)
			case tt.want != "" && out.Len() > 0:
				t.Errorf("output written on error: %q", out.String())
			}
		})
	}
}
