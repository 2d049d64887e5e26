package meshcheck

import (
	"testing"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/validation"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// validators are Istio's own validation functions (the ones istiod's
// admission webhook runs) for every kind the renderer emits.
var validators = map[string]validation.ValidateFunc{
	"VirtualService":  validation.ValidateVirtualService,
	"DestinationRule": validation.ValidateDestinationRule,
	"ServiceEntry":    validation.ValidateServiceEntry,
	"Gateway":         validation.ValidateGateway,
}

// TestIstioValidation validates every Istio object of every chart's output.
func TestIstioValidation(t *testing.T) {
	for _, name := range chartNames(t) {
		t.Run(name, func(t *testing.T) {
			c := loadChart(t, name)
			out := applied(t, c.am.Metadata.Namespace, c.render(t))
			if n := len(out.istio) + gatewayAPIObjects(t, out.kube); n < len(c.am.Spec.Routes) {
				t.Fatalf("%d routes but only %d Istio and Gateway API objects", len(c.am.Spec.Routes), n)
			}
			configs, unknown, err := crd.ParseInputs(join(out.istio))
			if err != nil {
				t.Fatal(err)
			}
			if len(unknown) > 0 {
				t.Fatalf("kinds Istio does not know: %v", unknown)
			}
			for _, cfg := range configs {
				validate := validators[cfg.GroupVersionKind.Kind]
				if validate == nil {
					t.Errorf("%s: no validator for this kind", key(cfg))
					continue
				}
				warn, err := validate(cfg)
				if err != nil {
					t.Errorf("%s rejected by Istio validation: %v", key(cfg), err)
				}
				if warn != nil {
					t.Errorf("%s: Istio validation warning: %v", key(cfg), warn)
				}
			}
			t.Logf("%d Istio objects valid", len(configs))
		})
	}
}

// gatewayAPIObjects decodes the Gateway API objects strictly into
// sigs.k8s.io/gateway-api's types (an unknown or mistyped field fails) and
// counts them. The CRDs' OpenAPI and CEL rules run in gatewaycrd_test.go,
// istiod's Gateway API controller in the xDS tests (gatewayapi_test.go).
func gatewayAPIObjects(t *testing.T, kube []string) int {
	t.Helper()
	n := 0
	for _, d := range kube {
		u := decode(t, d)
		if u.GroupVersionKind().Group != gwapi.GroupName {
			continue
		}
		var obj any
		switch u.GetKind() {
		case "HTTPRoute":
			obj = &gwapi.HTTPRoute{}
		case "GRPCRoute":
			obj = &gwapi.GRPCRoute{}
		case "TCPRoute":
			obj = &gwapi.TCPRoute{}
		case "Gateway":
			obj = &gwapi.Gateway{}
		default:
			t.Errorf("%s %s: a Gateway API kind the renderer does not emit", u.GetKind(), u.GetName())
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(d), obj); err != nil {
			t.Errorf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
		n++
	}
	return n
}

func key(c config.Config) string {
	return c.GroupVersionKind.Kind + " " + c.Namespace + "/" + c.Name
}
