package renderer

import (
	"bufio"
	"bytes"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Edits are applied twice: to the node tree (which later filters read) and,
// when the source layout allows, as a byte patch of the original document,
// so the Writer prints the chart's own bytes with a few lines inserted
// instead of re-encoding the document. Re-encoding costs more CPU than
// everything else together and reformats the whole document; a patch keeps
// the diff a reviewer (or Argo CD) sees to the lines that changed. When a
// patch cannot be placed safely the document is marked dirty and
// re-encoded from the tree, which holds every edit.

// patch replaces raw[off:off+del] with text.
type patch struct {
	off, del int
	text     string
	seq      int // registration order, for inserts at the same offset
}

// lineStarts returns the byte offset of each line of raw (computed once).
func (r *Resource) lineOffset(line, col int) (int, bool) {
	if r.lines == nil {
		r.lines = []int{0}
		for i, b := range r.raw {
			if b == '\n' {
				r.lines = append(r.lines, i+1)
			}
		}
	}
	if line < 1 || line > len(r.lines) {
		return 0, false
	}
	off := r.lines[line-1] + col - 1
	if off < 0 || off > len(r.raw) {
		return 0, false
	}
	return off, true
}

func (r *Resource) addPatch(off, del int, text string) {
	r.patches = append(r.patches, patch{off: off, del: del, text: text, seq: len(r.patches)})
}

// patched returns raw with the patches applied.
func (r *Resource) patched() []byte {
	var b bytes.Buffer
	b.Grow(len(r.raw) + 64*len(r.patches))
	r.splice(func(s []byte) { b.Write(s) }, func(s string) { b.WriteString(s) })
	return b.Bytes()
}

// writePatched writes raw with the patches applied, without its leading
// newlines, and returns the last byte written (0 for none). No patch sits in
// the leading newlines: patches anchor on nodes, which start after them.
func (r *Resource) writePatched(w *bufio.Writer) byte {
	var last byte
	lead := len(r.raw) - len(bytes.TrimLeft(r.raw, "\n"))
	r.splice(func(s []byte) {
		if lead > 0 {
			n := min(lead, len(s))
			s, lead = s[n:], lead-n
		}
		if len(s) > 0 {
			w.Write(s)
			last = s[len(s)-1]
		}
	}, func(s string) {
		if len(s) > 0 {
			w.WriteString(s)
			last = s[len(s)-1]
		}
	})
	return last
}

// splice feeds raw with the patches applied, in order, to the two sinks.
func (r *Resource) splice(bytesOut func([]byte), textOut func(string)) {
	ps := r.patches
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].off < ps[j].off })
	last := 0
	for _, p := range ps {
		bytesOut(r.raw[last:p.off])
		textOut(p.text)
		last = p.off + p.del
	}
	bytesOut(r.raw[last:])
}

// setIn sets m[path...][key] to the string value, creating the mappings
// of path that are missing, in the tree and (when possible) as a patch.
func (r *Resource) setIn(m *yaml.Node, path []string, key, value string) {
	r.edited()
	cur := m
	for i, seg := range path {
		v := mapValue(cur, seg)
		if v == nil {
			r.insert(cur, append(path[i:len(path):len(path)], key), value)
			return
		}
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			// "labels: *common": edit a private copy, not the anchor.
			*v = *deepCopy(v.Alias)
			r.markDirty()
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			// "annotations:" with nothing: no anchor for a patch.
			*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			r.markDirty()
		}
		if v.Kind != yaml.MappingNode {
			return
		}
		cur = v
	}
	if v := mapValue(cur, key); v != nil {
		r.setScalar(v, value)
		return
	}
	r.insert(cur, []string{key}, value)
}

// setScalar replaces the value of an existing scalar node.
func (r *Resource) setScalar(n *yaml.Node, value string) {
	r.edited()
	old := *n
	*n = *strNode(value)
	n.Line, n.Column = old.Line, old.Column
	if old.Kind != yaml.ScalarNode || old.Tag == "!!null" {
		r.markDirty()
		return
	}
	off, ok := r.lineOffset(old.Line, old.Column)
	if !ok {
		r.markDirty()
		return
	}
	src := old.Value
	switch old.Style {
	case 0:
	case yaml.DoubleQuotedStyle:
		src = `"` + old.Value + `"`
	case yaml.SingleQuotedStyle:
		src = `'` + old.Value + `'`
	default:
		r.markDirty()
		return
	}
	if src == "" || !bytes.HasPrefix(r.raw[off:], []byte(src)) {
		r.markDirty()
		return
	}
	r.addPatch(off, len(src), yamlString(value))
}

// insert adds keys[0]: {keys[1]: {... keys[n-1]: value}} to mapping m.
func (r *Resource) insert(m *yaml.Node, keys []string, value string) {
	// The tree: nested mappings appended at the end of m.
	cur := m
	for _, k := range keys[:len(keys)-1] {
		next := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		cur.Content = append(cur.Content, strNode(k), next)
		cur = next
	}
	cur.Content = append(cur.Content, strNode(keys[len(keys)-1]), strNode(value))

	// The bytes: in front of the first key, or right after "{".
	if m.Style&yaml.FlowStyle != 0 {
		off, ok := r.lineOffset(m.Line, m.Column)
		if !ok || off >= len(r.raw) || r.raw[off] != '{' {
			r.markDirty()
			return
		}
		text := flowEntry(keys, value)
		if len(m.Content) > 2 { // m had entries before ours
			text += ", "
		}
		r.addPatch(off+1, 0, text)
		return
	}
	if len(m.Content) <= 2 { // ours is the only entry: nothing to anchor on
		r.markDirty()
		return
	}
	first := m.Content[0]
	off, ok := r.lineOffset(first.Line, first.Column)
	if !ok || first.Style != 0 || first.Value == "" || !bytes.HasPrefix(r.raw[off:], []byte(first.Value)) {
		r.markDirty()
		return
	}
	indent := strings.Repeat(" ", first.Column-1)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(indent + strings.Repeat("  ", i))
		}
		b.WriteString(k + ":")
		if i < len(keys)-1 {
			b.WriteString("\n")
		} else {
			b.WriteString(" " + yamlString(value) + "\n")
		}
	}
	b.WriteString(indent)
	r.addPatch(off, 0, b.String())
}

func flowEntry(keys []string, value string) string {
	if len(keys) == 1 {
		return keys[0] + ": " + yamlString(value)
	}
	return keys[0] + ": {" + flowEntry(keys[1:], value) + "}"
}

var plainSafe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._/-]*$`)

// yaml11Words read as booleans or null in YAML 1.1 (which Kubernetes'
// decoder still honours for some values); they are always quoted.
var yaml11Words = map[string]bool{"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true, "true": true, "false": true, "null": true, "~": true}

// yamlString renders a string scalar: plain when it cannot be read as
// anything else, double-quoted otherwise.
func yamlString(s string) string {
	if plainSafe.MatchString(s) && !yaml11Words[strings.ToLower(s)] {
		return s
	}
	return strconv.Quote(s)
}
