package renderer

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// mustBeWhole panics when n is a mapping the Reader cut (prunedTree):
// reading or copying all of it would miss what was dropped.
func mustBeWhole(n *yaml.Node) {
	if cs := cutOf(n); cs != nil {
		panic(fmt.Sprintf("renderer: reading all of a mapping the Reader cut to %s (prunedTree): a filter reads what no one declared", cs.mark[1:]))
	}
}

// node is a read-only view of a part of a document, which is all filters
// get of the tree: they change documents only through stream.set. An empty
// view (a missing step) reads as nothing: "" scalars, no entries.
type node struct{ n *yaml.Node }

// at walks p from the view: strings are mapping keys, ints sequence
// indexes (YAML aliases are read through).
func (v node) at(p ...any) node {
	n := v.n
	for _, step := range p {
		n = deref(n)
		if n == nil {
			return node{}
		}
		switch s := step.(type) {
		case string:
			n = mapValue(n, s)
		case int:
			if n.Kind != yaml.SequenceNode || s < 0 || s >= len(n.Content) {
				return node{}
			}
			n = n.Content[s]
		default:
			panic("renderer: path step must be a string key or an int index")
		}
	}
	return node{n}
}

// exists reports whether the view points at a node.
func (v node) exists() bool { return v.n != nil }

// str is the value of a (non-null) scalar, "" otherwise.
func (v node) str() string { return scalar(deref(v.n)) }

// isScalarNode reports whether the view is a scalar, null included.
func (v node) isScalarNode() bool {
	n := deref(v.n)
	return n != nil && n.Kind == yaml.ScalarNode
}

// isSeq reports whether the view is a sequence.
func (v node) isSeq() bool {
	n := deref(v.n)
	return n != nil && n.Kind == yaml.SequenceNode
}

// len is the number of entries of a sequence (0 for anything else).
func (v node) len() int {
	if !v.isSeq() {
		return 0
	}
	return len(deref(v.n).Content)
}

// items are the entries of a sequence.
func (v node) items() []node {
	if !v.isSeq() {
		return nil
	}
	n := deref(v.n)
	out := make([]node, len(n.Content))
	for i, c := range n.Content {
		out[i] = node{c}
	}
	return out
}

// strings are the scalar entries of a sequence.
func (v node) strings() []string {
	var out []string
	for _, it := range v.items() {
		out = append(out, it.str())
	}
	return out
}

// labels reads a mapping of scalars (labels, a selector).
func (v node) labels() labelList { return readLabels(v.n) }

// value decodes the view into plain Go values (maps, slices, scalars).
func (v node) value() any {
	if v.n == nil {
		return nil
	}
	mustBeWhole(v.n)
	var out any
	if err := v.n.Decode(&out); err != nil {
		return nil
	}
	return out
}

// Small accessors over yaml.v3 node trees, for the document model.

// deref reads through a YAML alias (*labels).
func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

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
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	if cs := cutOf(m); cs != nil {
		if _, kept := cs.keys[key]; !kept {
			panic(fmt.Sprintf("renderer: reading %q of a mapping the Reader cut to %s (prunedTree): a filter reads what no one declared", key, cs.mark[1:]))
		}
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
	n = deref(n)
	return n != nil && n.Kind == yaml.MappingNode
}

// deepCopy copies a node tree, so that expanding an alias before an edit
// leaves the anchored original (e.g. a selector) untouched.
func deepCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	mustBeWhole(n)
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
