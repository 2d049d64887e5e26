package renderer

import "go.yaml.in/yaml/v3"

// Small accessors over yaml.v3 node trees. Filters edit the tree in place so
// that comments, key order and quoting of untouched fields survive.

// lookup walks mapping keys from n; nil when a step is missing or not a map.
func lookup(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		n = mapValue(n, key)
		if n == nil {
			return nil
		}
	}
	return n
}

// mapValue returns the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// scalar is the value of a scalar node, "" otherwise.
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// isMap reports whether n is a mapping node.
func isMap(n *yaml.Node) bool { return n != nil && n.Kind == yaml.MappingNode }

// ensureMap returns the mapping under key in m, creating it (or replacing a
// null value) when needed. It returns nil when the key holds something else.
func ensureMap(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
			if v.Kind != yaml.MappingNode {
				return nil
			}
			return v
		}
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, strNode(key), v)
	return v
}

// ensurePath is ensureMap along a path.
func ensurePath(m *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if m = ensureMap(m, key); m == nil {
			return nil
		}
	}
	return m
}

// setString sets key to a string value in mapping m (quoted when YAML would
// read it as another type, e.g. "true").
func setString(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			*v = *strNode(value)
			return
		}
	}
	m.Content = append(m.Content, strNode(key), strNode(value))
}

// strNode is a string scalar; yaml.v3 quotes it when it would otherwise
// resolve to a bool, number or null.
func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// stringMap reads a mapping of scalars (labels, selectors).
func stringMap(n *yaml.Node) map[string]string {
	if !isMap(n) {
		return nil
	}
	out := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out[n.Content[i].Value] = scalar(n.Content[i+1])
	}
	return out
}
