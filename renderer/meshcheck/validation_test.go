package meshcheck

import (
	"testing"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/validation"
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
			if len(out.istio) < len(c.am.Spec.Routes) {
				t.Fatalf("%d routes but only %d Istio objects", len(c.am.Spec.Routes), len(out.istio))
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

func key(c config.Config) string {
	return c.GroupVersionKind.Kind + " " + c.Namespace + "/" + c.Name
}
