package appmesh

import (
	"errors"
	"fmt"
	"os"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Load reads, decodes, defaults and validates the AppMesh file at path.
// Its errors name the file, the field and the fix.
func Load(path string) (*AppMesh, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("AppMesh file %s: %w (fix: give the path of a readable AppMesh file)", path, err)
	}
	am, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("AppMesh file %s: %w", path, err)
	}
	return am, nil
}

// Decode strictly decodes one AppMesh document, applies defaults and
// validates it. Unknown or duplicated fields are errors so that a typo never
// silently turns a switch off. Every error names the field (its path) and
// ends with the fix.
func Decode(data []byte) (*AppMesh, error) {
	// YAMLToJSONStrict rejects duplicate keys; sigs.k8s.io/json reports
	// unknown fields with their full path (spec.injection.enable).
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w (fix: correct the YAML at the line named; keys must be unique)", err)
	}
	var am AppMesh
	strictErrs, err := kjson.UnmarshalStrict(js, &am)
	if err != nil {
		return nil, fmt.Errorf("decode: %w (fix: give the field the type docs/renderer.md shows)", err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("decode: %w (fix: check the field names against docs/renderer.md)", errors.Join(strictErrs...))
	}
	SetDefaults(&am)
	if errs := Validate(&am); len(errs) > 0 {
		return nil, fmt.Errorf("invalid: %w (fix: correct each field named as its message says; docs/renderer.md describes them)", errs.ToAggregate())
	}
	return &am, nil
}

// Marshal encodes am as YAML with stable key order (used by the state
// ConfigMap, and by tools that edit the file).
func Marshal(am *AppMesh) ([]byte, error) {
	return yaml.Marshal(am)
}
