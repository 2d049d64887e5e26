package renderer

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// An edit changes the document's tree (which later filters read) and, when
// the source layout allows, is also placed as a byte patch of the original
// document, so the Writer prints the chart's own bytes with a few lines
// inserted instead of re-encoding the document. Re-encoding costs more CPU
// than everything else together and reformats the whole document; a patch
// keeps the diff a reviewer (or Argo CD) sees to the lines that changed.
// When a patch cannot be placed safely the document is marked dirty and
// re-encoded from the tree, which holds every edit. Both happen in one
// method, set, so an edit cannot reach one and miss the other.

// patch replaces raw[off:off+del] with text.
type patch struct {
	off, del int
	text     string
	// stage is the pipeline stage that made the patch: an insert in front
	// of a mapping's first key goes in front of what earlier stages
	// inserted there (their keys are first by then).
	stage int
	seq   int // registration order, for inserts of one stage at one offset
}

// path is a position in a document: string steps are mapping keys, int
// steps sequence indexes.
type path []any

// edit sets the value at p (filters call it through stream.set). A string becomes a string scalar: an existing
// scalar is replaced (a byte patch in place), missing mappings on the way
// are created (a patch in front of the first key of the deepest existing
// one). Any other value (maps, slices, numbers of plain Go) replaces or adds
// the node at p in the tree, and the document is re-encoded. A step through
// a sequence that has no such entry, or through a scalar, changes nothing.
func (r *Resource) edit(p path, value any, stage int) {
	if len(p) == 0 {
		panic("renderer: set needs a path")
	}
	r.f = nil // facts read before the edit are stale
	if r.expanded {
		r.dirty = true // the bytes have aliases the tree resolved
	}
	s, isString := value.(string)
	var sub *yaml.Node
	if !isString {
		sub = valueNode(value)
		r.dirty = true
	}
	cur := r.root()
	for i, step := range p {
		last := i == len(p)-1
		if idx, ok := step.(int); ok {
			seq := deref(cur)
			if seq == nil || seq.Kind != yaml.SequenceNode || idx < 0 || idx >= len(seq.Content) {
				return
			}
			if last {
				if isString {
					r.setScalar(seq.Content[idx], s, stage)
				} else {
					seq.Content[idx] = sub
				}
				return
			}
			if c := seq.Content[idx]; c.Kind == yaml.AliasNode && c.Alias != nil {
				*c = *deepCopy(c.Alias) // an entry that is an alias: a private copy
				r.dirty = true
			}
			cur = seq.Content[idx]
			continue
		}
		key := step.(string)
		v := mapValue(cur, key)
		if v == nil {
			if !isMap(cur) {
				return
			}
			rest := make([]string, 0, len(p)-i)
			for _, st := range p[i:] {
				k, ok := st.(string)
				if !ok {
					return // a sequence cannot be created by a path
				}
				rest = append(rest, k)
			}
			if isString {
				r.insertKeys(cur, rest, strNode(s), stage)
			} else {
				r.insertTree(cur, rest, sub)
			}
			return
		}
		if last {
			if isString {
				r.setScalar(v, s, stage)
			} else {
				*v = *sub
			}
			return
		}
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			// "labels: *common": edit a private copy, not the anchor.
			*v = *deepCopy(v.Alias)
			r.dirty = true
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			// "annotations:" with nothing: no anchor for a patch.
			*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			r.dirty = true
		}
		if v.Kind != yaml.MappingNode && v.Kind != yaml.SequenceNode {
			return
		}
		cur = v
	}
}

// valueNode encodes a plain Go value as a node (maps with sorted keys).
func valueNode(v any) *yaml.Node {
	var n yaml.Node
	if err := n.Encode(integers(v)); err != nil {
		panic(fmt.Sprintf("renderer: encode %T: %v", v, err))
	}
	// Encode parses what it printed: positions in that text, not ours.
	clearPositions(&n)
	return &n
}

// lineOffset is the byte offset of a node's line and column in raw.
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

func (r *Resource) addPatch(off, del int, text string, stage int) {
	r.patches = append(r.patches, patch{off: off, del: del, text: text, stage: stage, seq: len(r.patches)})
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
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].off != ps[j].off {
			return ps[i].off < ps[j].off
		}
		if ps[i].stage != ps[j].stage {
			return ps[i].stage > ps[j].stage
		}
		return ps[i].seq < ps[j].seq
	})
	last := 0
	for _, p := range ps {
		bytesOut(r.raw[last:p.off])
		textOut(p.text)
		last = p.off + p.del
	}
	bytesOut(r.raw[last:])
}

// setScalar replaces the value of an existing scalar node.
func (r *Resource) setScalar(n *yaml.Node, value string, stage int) {
	old := *n
	*n = *strNode(value)
	n.Line, n.Column = old.Line, old.Column
	if old.Kind != yaml.ScalarNode || old.Tag == "!!null" {
		r.dirty = true
		return
	}
	off, ok := r.lineOffset(old.Line, old.Column)
	if !ok {
		r.dirty = true
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
		r.dirty = true
		return
	}
	if src == "" || !bytes.HasPrefix(r.raw[off:], []byte(src)) {
		r.dirty = true
		return
	}
	r.addPatch(off, len(src), yamlString(value), stage)
}

// insertTree adds keys[0]: {keys[1]: {... keys[n-1]: value}} to mapping m
// in the tree only, at its end.
func (r *Resource) insertTree(m *yaml.Node, keys []string, value *yaml.Node) *yaml.Node {
	m = deref(m)
	cur := m
	for _, k := range keys[:len(keys)-1] {
		next := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		cur.Content = append(cur.Content, strNode(k), next)
		cur = next
	}
	cur.Content = append(cur.Content, strNode(keys[len(keys)-1]), value)
	return m.Content[len(m.Content)-2]
}

// insertKeys adds keys[0]: {keys[1]: {... keys[n-1]: value}} to mapping m: in
// the tree, and in the bytes in front of the first key (or right after "{").
func (r *Resource) insertKeys(m *yaml.Node, keys []string, value *yaml.Node, stage int) {
	m = deref(m)
	added := r.insertTree(m, keys, value)
	str := value.Value
	if m.Style&yaml.FlowStyle != 0 {
		off, ok := r.lineOffset(m.Line, m.Column)
		if !ok || off >= len(r.raw) || r.raw[off] != '{' {
			r.dirty = true
			return
		}
		text := flowEntry(keys, str)
		if len(m.Content) > 2 { // m had entries before ours
			text += ", "
		}
		r.addPatch(off+1, 0, text, stage)
		r.front = append(r.front, inserted{m, added})
		return
	}
	// The anchor is the first key the source has: keys earlier stages
	// inserted in front of it have no position of their own.
	var first *yaml.Node
	for i := 0; i+1 < len(m.Content)-2; i += 2 {
		if m.Content[i].Line > 0 {
			first = m.Content[i]
			break
		}
	}
	if first == nil { // ours is the only entry: nothing to anchor on
		r.dirty = true
		return
	}
	off, ok := r.lineOffset(first.Line, first.Column)
	if !ok || first.Style != 0 || first.Value == "" || !bytes.HasPrefix(r.raw[off:], []byte(first.Value)) {
		r.dirty = true
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
			b.WriteString(" " + yamlString(str) + "\n")
		}
	}
	b.WriteString(indent)
	r.addPatch(off, 0, b.String(), stage)
	r.front = append(r.front, inserted{m, added})
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
