package gatewayconfig

import (
	"errors"
	"fmt"
	"os"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Load reads, decodes, defaults and validates the GatewayConfig file at path.
func Load(path string) (*GatewayConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read GatewayConfig: %w", err)
	}
	gc, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("GatewayConfig %s: %w", path, err)
	}
	return gc, nil
}

// Decode strictly decodes one GatewayConfig document, applies defaults and
// validates it. Unknown or duplicated fields are errors: a misspelt
// "credentialName" must not silently leave a server without a certificate.
func Decode(data []byte) (*GatewayConfig, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var gc GatewayConfig
	strictErrs, err := kjson.UnmarshalStrict(js, &gc)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("decode: %w (fix: check the field names against docs/gateways.md)", errors.Join(strictErrs...))
	}
	SetDefaults(&gc)
	if errs := Validate(&gc); len(errs) > 0 {
		return nil, fmt.Errorf("invalid GatewayConfig %s/%s: %w", gc.Metadata.Namespace, gc.Metadata.Name, errs.ToAggregate())
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
