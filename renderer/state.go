package renderer

import (
	"fmt"

	"github.com/meshbundle/meshbundle/appmesh"
)

// StateKey is the ConfigMap data key holding the applied AppMesh.
const StateKey = "appmesh.yaml"

// StateConfigMapName is the name of the state ConfigMap of an app.
func StateConfigMapName(app string) string { return "meshbundle-" + app }

// state appends a ConfigMap "meshbundle-<app>" holding the applied
// (defaulted) AppMesh, so tools and Argo CD can read back what was
// rendered. Without an AppMesh name (no config file) there is no app to
// record and no ConfigMap.
type state struct{ *env }

func newState(e *env) *state { return &state{e} }

func (f *state) Filter(s *stream) error {
	if f.am.Metadata.Name == "" {
		return nil
	}
	data, err := stateYAML(f.am)
	if err != nil {
		return fmt.Errorf("encode AppMesh for the state ConfigMap: %w", err)
	}
	cm := &configMap{
		apiObject: newAPIObject("v1", "ConfigMap", StateConfigMapName(f.am.Metadata.Name), f.am.Metadata.Namespace),
		Data:      map[string]string{StateKey: string(data)},
	}
	r, err := f.generate(cm, firstFilename(s.docs))
	if err != nil {
		return err
	}
	s.add(r)
	return nil
}

// stateYAML prints the AppMesh as appmesh.Marshal does (sigs.k8s.io/yaml:
// JSON, read back and printed by yaml.v2), which took a sixteenth of the
// renderer's CPU at 5 000 pairs with 500 routes and 500 aliases: the same
// JSON, read back by encoding/json and printed by emitPlain when it prints
// every value (plain strings, integers, booleans, non-empty collections,
// keys in an order no YAML library sorts otherwise: what yaml.v2 prints
// plain, in the same layout), else by appmesh.Marshal.
// FuzzStateYAML checks the two agree.
func stateYAML(am *appmesh.AppMesh) ([]byte, error) {
	if m, err := plain(am); err == nil {
		if out, ok := emitPlain(nil, m); ok {
			return out, nil
		}
	}
	return appmesh.Marshal(am)
}
