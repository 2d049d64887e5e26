package renderer

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// object is a typed API object the renderer generates.
type object interface {
	metav1.Object
}

// generate encodes a typed object as a Resource. It labels the object with
// the app name and gives it the Helm 4 post-render filename of the object it
// was derived from, so Helm regroups it with its source. sigs.k8s.io/yaml
// sorts keys, so the bytes are deterministic.
func (e *env) generate(obj object, filename string) (*Resource, error) {
	if e.am.Metadata.Name != "" {
		lbls := obj.GetLabels()
		if lbls == nil {
			lbls = map[string]string{}
		}
		lbls[appLabel] = e.am.Metadata.Name
		obj.SetLabels(lbls)
	}
	if filename != "" {
		anns := obj.GetAnnotations()
		if anns == nil {
			anns = map[string]string{}
		}
		anns[postRenderFilenameAnnotation] = filename
		obj.SetAnnotations(anns)
	}
	// Through a generic map so that the zero status and creationTimestamp
	// the typed structs carry are dropped: they are not ours to set.
	js, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode generated %s %s: %w", obj.GetName(), obj.GetNamespace(), err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("encode generated %s %s: %w", obj.GetName(), obj.GetNamespace(), err)
	}
	delete(m, "status")
	if spec, ok := m["spec"].(map[string]any); ok && len(spec) == 0 {
		delete(m, "spec")
	}
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	raw, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode generated %s %s: %w", obj.GetName(), obj.GetNamespace(), err)
	}
	r, err := parseResource(raw)
	if err != nil || r == nil {
		return nil, fmt.Errorf("re-read generated %s: %v", obj.GetName(), err)
	}
	return r, nil
}

// firstFilename is the post-render filename of the first object that has
// one, for objects derived from the release as a whole.
func firstFilename(rs []*Resource) string {
	for _, r := range rs {
		if f := r.Filename(); f != "" {
			return f
		}
	}
	return ""
}
