package appmesh

import (
	"errors"
	"fmt"
	"os"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Load reads, decodes, defaults and validates the AppMesh file at path.
func Load(path string) (*AppMesh, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read AppMesh config: %w", err)
	}
	am, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("AppMesh config %s: %w", path, err)
	}
	return am, nil
}

// Decode strictly decodes one AppMesh document, applies defaults and
// validates it. Unknown or duplicated fields are errors so that a typo never
// silently turns a switch off.
func Decode(data []byte) (*AppMesh, error) {
	// YAMLToJSONStrict rejects duplicate keys; sigs.k8s.io/json reports
	// unknown fields with their full path (spec.injection.enable).
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var am AppMesh
	strictErrs, err := kjson.UnmarshalStrict(js, &am)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("decode: %w (fix: check the field names against docs/renderer.md)", errors.Join(strictErrs...))
	}
	SetDefaults(&am)
	if errs := Validate(&am); len(errs) > 0 {
		return nil, fmt.Errorf("invalid: %w", errs.ToAggregate())
	}
	return &am, nil
}

// Marshal encodes am as YAML with stable key order (used by the state
// ConfigMap, and by tools that edit the file).
func Marshal(am *AppMesh) ([]byte, error) {
	return yaml.Marshal(am)
}
