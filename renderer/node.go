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
	if m != nil && m.Kind == yaml.AliasNode {
		m = m.Alias // read through YAML aliases (*labels)
	}
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

// isMap reports whether n is a mapping node (or an alias of one).
func isMap(n *yaml.Node) bool {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n != nil && n.Kind == yaml.MappingNode
}

// deepCopy copies a node tree, so that expanding an alias before an edit
// leaves the anchored original (e.g. a selector) untouched.
func deepCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Anchor = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, ch := range n.Content {
		c.Content[i] = deepCopy(ch)
	}
	return &c
}

// strNode is a string scalar; yaml.v3 quotes it when it would otherwise
// resolve to a bool, number or null.
func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// stringMap reads a mapping of scalars (labels, selectors) as a map.
func stringMap(n *yaml.Node) map[string]string { return readLabels(n).Map() }
