package renderer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// generate builds a typed object as a document of the stream. It labels
// the object with the app name and gives it the Helm 4 post-render filename
// of the object it was derived from, so Helm regroups it with its source.
// The typed struct is the source; its tree and bytes come from yaml.v3,
// the library that reads the chart: keys sorted (deterministic), sequences
// in kubectl's compact layout.
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
	// the typed structs carry are dropped (they are not ours to set), and
	// the API types' own JSON names and omitempty rules apply.
	m, err := plain(obj)
	if err != nil {
		return nil, fmt.Errorf("encode generated %s %s: %w", obj.GetName(), obj.GetNamespace(), err)
	}
	delete(m, "status")
	if spec, ok := m["spec"].(map[string]any); ok && len(spec) == 0 {
		delete(m, "spec")
	}
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
		if err := e.stamp(m, meta); err != nil {
			return nil, fmt.Errorf("hash generated %s %s: %w", obj.GetName(), obj.GetNamespace(), err)
		}
	}
	// The bytes come from one encode of the map (emitPlain, yaml.v3 for
	// what it does not print); the tree the indexes read
	// is built from the map directly (sketch), and parsed from the bytes
	// only if a filter edits the object (Resource.edit).
	var raw []byte
	if out, ok := emitPlain(e.scratch[:0], m); ok {
		e.scratch = out
		raw = bytes.Clone(out) // exact size: it lives as long as the stream
	} else if raw, err = encodeValue(m); err != nil {
		return nil, fmt.Errorf("encode generated %s %s: %w", obj.GetName(), obj.GetNamespace(), err)
	}
	r, err := newResource(raw, &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{sketchNode(m)}})
	if err != nil || r == nil {
		return nil, fmt.Errorf("generated %s %s: %v", obj.GetName(), obj.GetNamespace(), err)
	}
	r.sketch = true
	if generatedHook != nil {
		generatedHook(r.Kind, raw)
	}
	return r, nil
}

// generatedHook, set by tests only, sees every generated object's kind and
// bytes as printed from its typed struct (TestLocalTypesMatchAPI).
var generatedHook func(kind string, raw []byte)

// encodeValue prints a plain Go value as a document: two-space
// indentation, sequences in kubectl's compact layout.
func encodeValue(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sketchNode builds the tree of a plain Go value for reading: the values
// and kinds are right, the layout (key order, quoting) is not the bytes'.
func sketchNode(v any) *yaml.Node {
	switch v := v.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, k := range sortedKeys(v) {
			n.Content = append(n.Content, strNode(k), sketchNode(v[k]))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range v {
			n.Content = append(n.Content, sketchNode(e))
		}
		return n
	case string:
		return strNode(v)
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v, 10)}
	case float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(v, 'g', -1, 64)}
	}
	return valueNode(v)
}

// fromTree makes a document of a tree the renderer built (the canary
// copy): its bytes are the tree encoded, and its nodes carry no source
// position, so a later edit re-encodes it instead of patching bytes the
// positions do not describe.
func fromTree(doc *yaml.Node) (*Resource, error) {
	clearPositions(doc)
	raw, err := encodeTree(doc)
	if err != nil {
		return nil, err
	}
	r, err := newResource(raw, doc)
	if err != nil || r == nil {
		return nil, fmt.Errorf("derived document: %v", err)
	}
	return r, nil
}

// encodeTree prints a document tree as the Writer prints re-encoded
// documents: two-space indentation, sequences indented under their key
// (yaml.v3's layout). Generated objects use kubectl's compact one
// (encodeValue).
func encodeTree(doc *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func clearPositions(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		clearPositions(c)
	}
}

// plain converts a typed value to plain Go maps, slices and scalars
// through its JSON form.
func plain(v any) (map[string]any, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if m, ok := decodePlain(js); ok {
		return m, nil
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, err
	}
	return integers(m).(map[string]any), nil
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

// integers turns the integral float64s encoding/json decodes numbers into
// back into int64s, in place, as YAML reads them.
func integers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = integers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = integers(e)
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
	}
	return v
}
