package gatewayconfig

import (
	"errors"
	"fmt"
	"os"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Load reads, decodes, defaults and validates the GatewayConfig file at
// path. Its errors name the file, the field and the fix.
func Load(path string) (*GatewayConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("GatewayConfig file %s: %w (fix: give the path of a readable GatewayConfig file)", path, err)
	}
	gc, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("GatewayConfig file %s: %w", path, err)
	}
	return gc, nil
}

// Decode strictly decodes one GatewayConfig document, applies defaults and
// validates it. Unknown or duplicated fields are errors: a misspelt
// "credentialName" must not silently leave a server without a certificate.
// Every error names the field (its path) and ends with the fix.
func Decode(data []byte) (*GatewayConfig, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w (fix: correct the YAML at the line named; keys must be unique)", err)
	}
	var gc GatewayConfig
	strictErrs, err := kjson.UnmarshalStrict(js, &gc)
	if err != nil {
		return nil, fmt.Errorf("decode: %w (fix: give the field the type docs/gateways.md shows)", err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("decode: %w (fix: check the field names against docs/gateways.md)", errors.Join(strictErrs...))
	}
	SetDefaults(&gc)
	if errs := Validate(&gc); len(errs) > 0 {
		return nil, fmt.Errorf("invalid GatewayConfig %s/%s: %w (fix: correct each field named as its message says; docs/gateways.md describes them)", gc.Metadata.Namespace, gc.Metadata.Name, errs.ToAggregate())
	}
	return &gc, nil
}

// Marshal encodes gc as YAML with stable key order.
func Marshal(gc *GatewayConfig) ([]byte, error) {
	return yaml.Marshal(gc)
}

// SetDefaults fills the optional fields with their documented defaults.
func SetDefaults(gc *GatewayConfig) {
	for i := range gc.Spec.Servers {
		s := &gc.Spec.Servers[i]
		s.Protocol = strings.ToUpper(s.Protocol)
		if s.Name == "" {
			s.Name = fmt.Sprintf("%s-%d", strings.ToLower(s.Protocol), s.Port)
		}
	}
}

// DefaultSelector is the label Istio's gateway chart puts on the pods of a
// gateway installed as release name (its gateway.selectorLabels helper:
// istio = the name without an "istio-" prefix). The gateway package's tests
// check it against the chart's rendered Deployment.
func DefaultSelector(name string) map[string]string {
	return map[string]string{"istio": strings.TrimPrefix(name, "istio-")}
}

// Selector is the pod selector of the rendered Gateway.
func (gc *GatewayConfig) Selector() map[string]string {
	if len(gc.Spec.Selector) > 0 {
		return gc.Spec.Selector
	}
	return DefaultSelector(gc.Metadata.Name)
}

// Ref is how AppMesh routes name this gateway: "namespace/name".
func (gc *GatewayConfig) Ref() string {
	return gc.Metadata.Namespace + "/" + gc.Metadata.Name
}
