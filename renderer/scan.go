package renderer

import (
	"hash/maphash"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"go.yaml.in/yaml/v3"
)

// The scanner: the fast path of parsing a document.
//
// yaml.v3 parses at 12-14 MB/s, which alone is about the whole budget of
// the post-renderer (docs/renderer.md). Charts render a narrow dialect of
// YAML: block mappings and sequences, one-line plain or quoted scalars,
// "{}" and "[]", a "# Source:" comment on top. scanDocument parses exactly
// that dialect, line by line, into the same yaml.v3 node tree
// yaml.Unmarshal builds (kinds, tags, styles, values, lines, columns and
// the head comment), so everything above it — reads, edits, byte patches,
// re-encoding — is unchanged. Anything else (flow collections with
// entries, anchors, aliases, tags, block scalars, multi-line scalars,
// comments inside the document, tabs, odd indentation, non-ASCII bytes, a
// key over 1024 bytes, escapes other than \" \\ \n) makes it give up, and
// the caller parses the document with yaml.v3: the scanner never has to be
// right about YAML it does not understand. FuzzScanner checks that both
// build the same tree on every document the scanner accepts.
//
// The tree is built in a few allocations (a slab of nodes, one of child
// pointers) and its strings point into the document's bytes, which are
// never written after the Reader made them (see Resource.raw).

// yamlOnly makes parseResource use yaml.v3 for every document: tests and
// benchmarks compare the two paths with it.
var yamlOnly = false

// scanDocument parses raw into a document node, or reports false when raw
// is not in the dialect it understands.
func scanDocument(raw []byte) (*yaml.Node, bool) { return scanInto(raw, &slabs{}) }

// slabs are the memory a tree is cut from. The Reader hands the slabs of a
// document whose tree was released to the next document (scanInto), so a
// stream of small documents costs the slabs of one, not of all: trees are
// most of what the renderer allocates (16 bytes of nodes per byte of
// YAML), and the garbage collector's work grows with what is allocated.
type slabs struct {
	nodes []yaml.Node  // nodes
	ptrs  []*yaml.Node // Content slices
	stack []*yaml.Node // scratch: children of the collections being parsed
	keys  []uint64     // scratch: hashes of the keys of skimmed mappings (skimInto)
}

// scanInto is scanDocument cutting the tree from sl when it is large
// enough, and else from new slabs it leaves in sl: on return sl holds the
// slabs the tree lives in (more are allocated if a document has more than
// two nodes a line), free again only once the tree is.
func scanInto(raw []byte, sl *slabs) (*yaml.Node, bool) { return scanKeeping(raw, sl, nil) }

// skimInto parses raw as scanInto does but keeps of the tree only the
// paths of keep (see keepSet): the rest is read and checked — the same
// dialect, the same refusals, no duplicate keys — and dropped as it goes,
// so the tree costs the kept nodes, not the document's bytes. It reports
// false where scanInto would, and also for a key the full parse would
// refuse (a duplicate, a null key), so the caller's full parse says why.
func skimInto(raw []byte, sl *slabs, keep *keepSet) (*yaml.Node, bool) {
	return scanKeeping(raw, sl, keep)
}

// keepSet says what a skimmed tree keeps of a block mapping (or of each
// mapping entry of a block sequence): of each key listed, its value as
// keys[key] says (nil: all of it); keys not listed are kept whole with
// rest, dropped without: the mapping is cut. A cut mapping of a tree that
// is kept for filters to read carries mark as its Anchor (the scanner
// refuses anchors, so none is the chart's), and reading or editing a key
// it dropped is a bug that panics (mapValue, Resource.edit).
type keepSet struct {
	keys map[string]*keepSet
	rest bool
	mark string
}

// cutSets are the marked keepSets by mark.
var cutSets = map[string]*keepSet{}

// cutTo is a keepSet that cuts a mapping to keys, marked with name in the
// trees it cuts.
func cutTo(name string, keys map[string]*keepSet) *keepSet {
	k := &keepSet{keys: keys, mark: "\x00cut " + name}
	cutSets[k.mark] = k
	return k
}

// passing is a keepSet that keeps every key of a mapping, the ones listed
// as keys says.
func passing(keys map[string]*keepSet) *keepSet { return &keepSet{keys: keys, rest: true} }

// cutOf returns the keepSet a mapping was cut to, or nil.
func cutOf(m *yaml.Node) *keepSet {
	if m == nil || m.Anchor == "" {
		return nil
	}
	return cutSets[m.Anchor]
}

func scanKeeping(raw []byte, sl *slabs, keep *keepSet) (*yaml.Node, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	lines := 1
	for _, c := range raw {
		// Tabs, carriage returns, control and non-ASCII bytes (columns
		// would count runes) are yaml.v3's business.
		if c < ' ' || c >= 0x7f {
			if c != '\n' {
				return nil, false
			}
			lines++
		}
	}
	// A line holds at most a key and its value, mostly: the slabs are
	// sized for that and grow if not. A skimmed tree is smaller: a head
	// (keep cuts the document) is a few nodes and grows from none; a
	// pruned tree (keep passes the rest) is most of a document, maybe of
	// a wide one, and starts with slabs for at most 4 096 lines.
	if keep != nil && keep.rest {
		lines = min(lines, 4096)
	}
	if keep == nil || keep.rest {
		if cap(sl.nodes) < 2*lines+2 {
			sl.nodes = make([]yaml.Node, 0, 2*lines+2)
		}
		if cap(sl.ptrs) < 2*lines {
			sl.ptrs = make([]*yaml.Node, 0, 2*lines)
		}
	}
	s := &scanner{src: unsafe.String(&raw[0], len(raw)), line: 1, endOf: -1,
		nodes: sl.nodes[:0], ptrs: sl.ptrs[:0], stack: sl.stack[:0], keys: sl.keys[:0], sel: keep}
	doc, ok := s.document()
	sl.stack, sl.keys = s.stack[:0], s.keys[:0]
	if keep != nil {
		// Nothing of a skimmed tree points into the slabs' free part.
		sl.nodes, sl.ptrs = s.nodes, s.ptrs
	}
	return doc, ok
}

type scanner struct {
	src  string // the document; strings of the tree are slices of it
	pos  int    // start of the current line
	line int    // its number, from 1
	// end is the end of the line starting at endOf: eol is asked for it
	// several times a line, and searching the line again each time was
	// a third of the scanner's CPU.
	end, endOf int

	nodes []yaml.Node  // slab the nodes are cut from
	ptrs  []*yaml.Node // slab the Content slices are cut from
	stack []*yaml.Node // children of the collections being parsed

	// Skimming (skimInto): sel is what the next mapping keeps of its keys
	// (nil: everything, unless discard); discard, that nothing of what is
	// being parsed is kept: its nodes are all junk, overwritten by the
	// next, and its mappings' keys are checked for duplicates by hash
	// (keys) since no tree is left to check.
	sel     *keepSet
	discard bool
	junk    yaml.Node
	keys    []uint64
}

// keySeed hashes the keys of skimmed mappings. A collision only makes the
// scanner give up the document to the full parse.
var keySeed = maphash.MakeSeed()

// node returns a new node from the slab (the junk node while discarding).
func (s *scanner) node(kind yaml.Kind, tag, value string, line, col int) *yaml.Node {
	if s.discard {
		s.junk = yaml.Node{Kind: kind, Value: value, Line: line, Column: col}
		return &s.junk
	}
	if len(s.nodes) == cap(s.nodes) {
		// Slabs double (a skimmed tree's size is not known ahead), up
		// to 8 192 nodes (1.2 MB).
		s.nodes = make([]yaml.Node, 0, min(max(64, 2*cap(s.nodes)), 8192))
	}
	s.nodes = append(s.nodes, yaml.Node{Kind: kind, Tag: tag, Value: value, Line: line, Column: col})
	return &s.nodes[len(s.nodes)-1]
}

// content moves the children pushed since mark into n.Content, a slice of
// the pointer slab whose capacity is its length, so that an edit appending
// a key copies it instead of overwriting a neighbour's children.
func (s *scanner) content(n *yaml.Node, mark int) {
	if s.discard {
		return // nothing was pushed
	}
	kids := s.stack[mark:]
	if len(kids) > 0 {
		if cap(s.ptrs)-len(s.ptrs) < len(kids) {
			s.ptrs = make([]*yaml.Node, 0, max(64, len(kids)))
		}
		at := len(s.ptrs)
		s.ptrs = append(s.ptrs, kids...)
		n.Content = s.ptrs[at:len(s.ptrs):len(s.ptrs)]
	}
	clear(kids)
	s.stack = s.stack[:mark]
}

// push adds a child of the collection being parsed (nothing while
// discarding).
func (s *scanner) push(n *yaml.Node) {
	if !s.discard {
		s.stack = append(s.stack, n)
	}
}

// tag is resolveTag, skipped while discarding: no one reads the tag.
func (s *scanner) tag(v string) string {
	if s.discard {
		return ""
	}
	return resolveTag(v)
}

// noteKey records a key of a mapping being skimmed, for the duplicate
// check, and reports false for a key the full parse refuses as null
// (only plain keys resolve to null).
func (s *scanner) noteKey(k *yaml.Node) bool {
	if k.Style == 0 && resolveWords[k.Value] == "!!null" {
		return false
	}
	s.keys = append(s.keys, maphash.String(keySeed, k.Value))
	return true
}

// distinctKeys reports whether the keys noted since mark differ (by hash),
// and forgets them.
func (s *scanner) distinctKeys(mark int) bool {
	keys := s.keys[mark:]
	defer func() { s.keys = s.keys[:mark] }()
	if len(keys) <= 8 {
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if keys[i] == keys[j] {
					return false
				}
			}
		}
		return true
	}
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			return false
		}
	}
	return true
}

// eol is the end of the current line (before its newline).
func (s *scanner) eol() int {
	if s.endOf == s.pos {
		return s.end
	}
	s.endOf, s.end = s.pos, len(s.src)
	if i := strings.IndexByte(s.src[s.pos:], '\n'); i >= 0 {
		s.end = s.pos + i
	}
	return s.end
}

// advance moves to the next line.
func (s *scanner) advance() {
	e := s.eol()
	if e < len(s.src) {
		e++
	}
	s.pos = e
	s.line++
}

// skipBlank moves over blank lines to the next line with content and
// returns its indentation: -1 at the end of the document, false for a
// comment line or a document marker, which the scanner leaves to yaml.v3.
func (s *scanner) skipBlank() (int, bool) {
	for s.pos < len(s.src) {
		e := s.eol()
		ind := 0
		for s.pos+ind < e && s.src[s.pos+ind] == ' ' {
			ind++
		}
		if s.pos+ind == e {
			s.advance()
			continue
		}
		c := s.src[s.pos+ind]
		if c == '#' || ind == 0 && (c == '%' || strings.HasPrefix(s.src[s.pos:], "---") || strings.HasPrefix(s.src[s.pos:], "...")) {
			return 0, false
		}
		return ind, true
	}
	return -1, true
}

// document parses the head comment and the top-level mapping.
func (s *scanner) document() (*yaml.Node, bool) {
	// Blank lines, then at most one block of comment lines at column 1:
	// yaml.v3 gives it to the first key when the key follows at once, to
	// the document after a blank line.
	var head []string
	for s.pos < len(s.src) {
		e := s.eol()
		l := s.src[s.pos:e]
		if strings.TrimLeft(l, " ") == "" {
			if head != nil {
				break
			}
			s.advance()
			continue
		}
		if l[0] != '#' {
			break
		}
		head = append(head, l)
		s.advance()
	}
	// A blank line between the comments and the first key.
	gap := head != nil && s.pos < len(s.src) && strings.TrimLeft(s.src[s.pos:s.eol()], " ") == ""
	ind, ok := s.skipBlank()
	if !ok || ind != 0 {
		return nil, false
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Line: s.line, Column: 1}
	obj, ok := s.mapping(0)
	if !ok {
		return nil, false
	}
	if ind, ok := s.skipBlank(); !ok || ind != -1 {
		return nil, false
	}
	if head != nil {
		if gap {
			doc.HeadComment = strings.Join(head, "\n")
		} else if len(obj.Content) > 0 {
			obj.Content[0].HeadComment = strings.Join(head, "\n")
		}
	}
	doc.Content = []*yaml.Node{obj}
	return doc, true
}

// mapping parses a block mapping whose first key is on the current line at
// column col (0-based); the cursor ends on the first line after it. While
// skimming it keeps the keys s.sel names (all of them without a
// selection) and checks them all for duplicates.
func (s *scanner) mapping(col int) (*yaml.Node, bool) {
	sel, own := s.sel, s.discard
	s.sel = nil
	cut := sel != nil && !sel.rest
	skim := own || cut // keys dropped: checked here, by hash
	m := s.node(yaml.MappingNode, "!!map", "", s.line, col+1)
	if cut && !own {
		m.Anchor = sel.mark
	}
	mark, kmark := len(s.stack), len(s.keys)
	for first := true; ; first = false {
		if !first {
			ind, ok := s.skipBlank()
			if !ok {
				return nil, false
			}
			if ind < col {
				break
			}
			if ind > col {
				return nil, false // a continuation line or odd indentation
			}
		}
		e := s.eol()
		if cut {
			s.discard = true // the key is kept below if selected
		}
		k, after, ok := s.key(s.pos+col, e)
		if !ok {
			return nil, false
		}
		if skim && !s.noteKey(k) {
			return nil, false
		}
		if sel != nil {
			sub, keep := sel.keys[k.Value]
			if cut && keep && !own {
				kept := *k
				s.discard = false
				k = s.node(kept.Kind, "!!str", kept.Value, kept.Line, kept.Column)
				if k.Style = kept.Style; k.Style == 0 {
					k.Tag = resolveTag(k.Value)
				}
			}
			s.sel = sub
		}
		s.push(k)
		v, ok := s.value(col, after, e)
		if !ok {
			return nil, false
		}
		s.push(v)
		s.sel, s.discard = nil, own
	}
	if skim && !s.distinctKeys(kmark) {
		return nil, false
	}
	s.content(m, mark)
	return m, true
}

// value parses the value of a key of a mapping at column col whose ':'
// ends at offset after; the cursor ends on the first line after it.
func (s *scanner) value(col, after, e int) (*yaml.Node, bool) {
	// A selection (skimming) is of a block mapping's keys, or of those of
	// each mapping entry of a block sequence: a scalar or a flow
	// collection here is kept whole.
	sel := s.sel
	s.sel = nil
	i := after
	for i < e && s.src[i] == ' ' {
		i++
	}
	if i < e {
		v, ok := s.inline(i, e)
		if !ok {
			return nil, false
		}
		s.advance()
		return v, true
	}
	// Nothing on the line: a nested block, or null.
	line, nullCol := s.line, after-s.pos+1
	s.advance()
	ind, ok := s.skipBlank()
	if !ok {
		return nil, false
	}
	switch {
	case ind > col && s.dash(ind):
		return s.sequence(ind, sel)
	case ind > col:
		s.sel = sel
		return s.mapping(ind)
	case ind == col && s.dash(ind):
		return s.sequence(ind, sel) // kubectl's compact layout
	}
	return s.node(yaml.ScalarNode, "!!null", "", line, nullCol), true
}

// dash reports whether the current line has a sequence entry at column ind.
func (s *scanner) dash(ind int) bool {
	i := s.pos + ind
	return i < len(s.src) && s.src[i] == '-' && (i+1 == len(s.src) || s.src[i+1] == ' ' || s.src[i+1] == '\n')
}

// sequence parses a block sequence whose first "-" is on the current line
// at column col, its mapping entries selected by sel; the cursor ends on
// the first line after it.
func (s *scanner) sequence(col int, sel *keepSet) (*yaml.Node, bool) {
	seq := s.node(yaml.SequenceNode, "!!seq", "", s.line, col+1)
	mark := len(s.stack)
	for {
		e := s.eol()
		i := s.pos + col + 1
		for i < e && s.src[i] == ' ' {
			i++
		}
		if i == e || s.src[i] == '-' && (i+1 == e || s.src[i+1] == ' ') {
			return nil, false // an entry on the next lines, a nested sequence
		}
		var v *yaml.Node
		var ok bool
		if s.isKey(i, e) {
			s.sel = sel
			v, ok = s.mapping(i - s.pos)
		} else if v, ok = s.inline(i, e); ok {
			s.advance()
		}
		if !ok {
			return nil, false
		}
		s.push(v)
		ind, ok := s.skipBlank()
		if !ok {
			return nil, false
		}
		if ind < col || ind == col && !s.dash(col) {
			break // the parent goes on
		}
		if ind > col {
			return nil, false
		}
	}
	s.content(seq, mark)
	return seq, true
}

// isKey reports whether the text at i on the line starts a "key:" entry.
func (s *scanner) isKey(i, e int) bool {
	_, _, ok := s.key(i, e)
	return ok
}

// key parses a mapping key at offset i and returns it and the offset after
// its ':'.
func (s *scanner) key(i, e int) (*yaml.Node, int, bool) {
	line, col := s.line, i-s.pos+1
	switch c := s.src[i]; c {
	case '"', '\'':
		v, end, ok := s.quoted(i, e)
		if !ok || end >= e || s.src[end] != ':' || end+1 < e && s.src[end+1] != ' ' || end-i >= 1000 {
			return nil, 0, false
		}
		n := s.node(yaml.ScalarNode, "!!str", v, line, col)
		n.Style = quoteStyle(c)
		return n, end + 1, true
	}
	if !plainStart(s.src, i, e) {
		return nil, 0, false
	}
	for j := i; j < e; j++ {
		switch s.src[j] {
		case ':':
			if j+1 == e || s.src[j+1] == ' ' {
				k := s.src[i:j]
				if k[len(k)-1] == ' ' || len(k) >= 1000 || k == "<<" {
					return nil, 0, false
				}
				return s.node(yaml.ScalarNode, s.tag(k), k, line, col), j + 1, true
			}
		case '#':
			if s.src[j-1] == ' ' {
				return nil, 0, false
			}
		}
	}
	return nil, 0, false
}

// inline parses a scalar (or "{}", "[]") that fills the rest of the line
// from offset i (in a sequence entry, isKey ran first: "- k: v" is a
// mapping).
func (s *scanner) inline(i, e int) (*yaml.Node, bool) {
	line, col := s.line, i-s.pos+1
	rest := strings.TrimRight(s.src[i:e], " ")
	switch c := s.src[i]; c {
	case '"', '\'':
		v, end, ok := s.quoted(i, e)
		if !ok || strings.TrimRight(s.src[end:e], " ") != "" {
			return nil, false
		}
		n := s.node(yaml.ScalarNode, "!!str", v, line, col)
		n.Style = quoteStyle(c)
		return n, true
	case '{', '[':
		n, end, ok := s.flow(i, e)
		if !ok || strings.TrimRight(s.src[end:e], " ") != "" {
			return nil, false
		}
		return n, true
	}
	if !plainStart(s.src, i, e) || rest == "<<" {
		return nil, false
	}
	for j := 1; j < len(rest); j++ {
		if rest[j] == '#' && rest[j-1] == ' ' || rest[j] == ' ' && rest[j-1] == ':' {
			return nil, false // a comment, or "a: b" where a scalar belongs
		}
	}
	if rest[len(rest)-1] == ':' {
		return nil, false
	}
	return s.node(yaml.ScalarNode, s.tag(rest), rest, line, col), true
}

// flow parses a flow collection that opens at offset i and closes on its
// line: entries are one-line scalars (plain ones without ':' or '#') and
// flow collections, a mapping's are "key: value". It returns the offset
// after the closing bracket.
func (s *scanner) flow(i, e int) (*yaml.Node, int, bool) {
	open := s.src[i]
	kind, tag, closer := yaml.MappingNode, "!!map", byte('}')
	if open == '[' {
		kind, tag, closer = yaml.SequenceNode, "!!seq", ']'
	}
	n := s.node(kind, tag, "", s.line, i-s.pos+1)
	n.Style = yaml.FlowStyle
	mark, kmark := len(s.stack), len(s.keys)
	// While discarding, the keys of a flow mapping are checked as a block
	// mapping's are (the junk node cannot tell a collection key by kind).
	keyed := kind == yaml.MappingNode && s.discard
	j := i + 1
	skip := func() {
		for j < e && s.src[j] == ' ' {
			j++
		}
	}
	skip()
	if j < e && s.src[j] == closer {
		s.content(n, mark)
		return n, j + 1, true
	}
	for {
		entries := 1
		if kind == yaml.MappingNode {
			entries = 2
		}
		for k := 0; k < entries; k++ {
			if k == 1 { // after a key: ": " then the value
				if j+1 >= e || s.src[j] != ':' || s.src[j+1] != ' ' {
					return nil, 0, false
				}
				j += 2
				skip()
			}
			if j >= e {
				return nil, 0, false
			}
			if kind == yaml.MappingNode && k == 0 && (s.src[j] == '{' || s.src[j] == '[') {
				return nil, 0, false // a collection as a key
			}
			var v *yaml.Node
			var ok bool
			if v, j, ok = s.flowEntry(j, e); !ok {
				return nil, 0, false
			}
			if keyed && k == 0 && !s.noteKey(v) {
				return nil, 0, false
			}
			s.push(v)
			if kind == yaml.MappingNode && k == 0 && v.Kind != yaml.ScalarNode {
				return nil, 0, false
			}
		}
		skip()
		if j >= e {
			return nil, 0, false
		}
		if s.src[j] == closer {
			if keyed && !s.distinctKeys(kmark) {
				return nil, 0, false
			}
			s.content(n, mark)
			return n, j + 1, true
		}
		if s.src[j] != ',' {
			return nil, 0, false
		}
		j++
		skip()
		if j >= e || s.src[j] == closer || s.src[j] == ',' {
			return nil, 0, false // a trailing or empty entry
		}
	}
}

// flowEntry parses one scalar or collection inside a flow collection at
// offset i and returns it and the offset after it.
func (s *scanner) flowEntry(i, e int) (*yaml.Node, int, bool) {
	line, col := s.line, i-s.pos+1
	switch c := s.src[i]; c {
	case '{', '[':
		return s.flow(i, e)
	case '"', '\'':
		v, end, ok := s.quoted(i, e)
		if !ok {
			return nil, 0, false
		}
		n := s.node(yaml.ScalarNode, "!!str", v, line, col)
		n.Style = quoteStyle(c)
		return n, end, true
	}
	if !plainStart(s.src, i, e) {
		return nil, 0, false
	}
	j := i
	for ; j < e; j++ {
		c := s.src[j]
		if c == ',' || c == ']' || c == '}' || c == ':' {
			break
		}
		if c == '[' || c == '{' || c == '#' || c == '?' {
			// yaml.v3 (libyaml) ends a plain scalar at '?' in flow
			// context and then refuses the rest: "[a?b]" is malformed
			// there, though YAML 1.2 allows it. Left to yaml.v3.
			return nil, 0, false
		}
	}
	if j < e && s.src[j] == ':' && (j+1 >= e || s.src[j+1] != ' ') {
		return nil, 0, false // "a:b" in flow context: left to yaml.v3
	}
	v := strings.TrimRight(s.src[i:j], " ")
	if v == "" || v == "<<" || len(v) >= 1000 {
		return nil, 0, false
	}
	return s.node(yaml.ScalarNode, s.tag(v), v, line, col), j, true
}

// plainStart reports whether a plain scalar may start at i: not with an
// indicator, except "-" before a non-space ("-1").
func plainStart(src string, i, e int) bool {
	switch src[i] {
	case '-':
		return i+1 < e && src[i+1] != ' '
	case '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	}
	return true
}

func quoteStyle(c byte) yaml.Style {
	if c == '"' {
		return yaml.DoubleQuotedStyle
	}
	return yaml.SingleQuotedStyle
}

// quoted parses a quoted scalar that ends on its line and returns its value
// and the offset after the closing quote.
func (s *scanner) quoted(i, e int) (string, int, bool) {
	q := s.src[i]
	var b []byte // set once an escape changes the value
	start := i + 1
	for j := start; j < e; j++ {
		c := s.src[j]
		switch {
		case q == '\'' && c == '\'':
			if j+1 < e && s.src[j+1] == '\'' {
				b = append(append(b, s.src[start:j]...), '\'')
				j++
				start = j + 1
				continue
			}
		case q == '"' && c == '\\':
			if j+1 >= e {
				return "", 0, false
			}
			var r byte
			switch s.src[j+1] {
			case '"':
				r = '"'
			case '\\':
				r = '\\'
			case 'n':
				r = '\n'
			default:
				return "", 0, false
			}
			b = append(append(b, s.src[start:j]...), r)
			j++
			start = j + 1
			continue
		case q == '"' && c == '"':
		default:
			continue
		}
		if b == nil {
			return s.src[start:j], j + 1, true
		}
		return string(append(b, s.src[start:j]...)), j + 1, true
	}
	return "", 0, false // a quoted scalar over several lines
}

// resolveTag is the tag yaml.v3 resolves a plain scalar to (its resolve,
// for the tag only).
func resolveTag(v string) string {
	if v == "" {
		return "!!null"
	}
	switch c := v[0]; {
	case c == '+' || c == '-' || c >= '0' && c <= '9':
		if t, ok := resolveWords[v]; ok {
			return t
		}
		// Most plain scalars that start like a number are decimal
		// integers ("80", "8080") or quantities ("10m", "16Mi"): settled
		// here without the parsers below, whose failures allocate.
		switch numberish(v) {
		case decimal:
			return "!!int"
		case notNumber:
			return "!!str"
		}
		if isTimestamp(v) {
			return "!!timestamp"
		}
		plain := strings.ReplaceAll(v, "_", "")
		if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return "!!int"
		}
		if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return "!!int"
		}
		if yamlStyleFloat.MatchString(plain) {
			if _, err := strconv.ParseFloat(plain, 64); err == nil {
				return "!!float"
			}
		}
		for _, p := range []struct {
			prefix string
			base   int
		}{{"0b", 2}, {"-0b", 2}, {"0o", 8}, {"-0o", 8}} {
			if rest, ok := strings.CutPrefix(plain, p.prefix); ok {
				if _, err := strconv.ParseInt(p.prefix[:len(p.prefix)-2]+rest, p.base, 64); err == nil {
					return "!!int"
				}
				if p.prefix[0] != '-' {
					if _, err := strconv.ParseUint(rest, p.base, 64); err == nil {
						return "!!int"
					}
				}
			}
		}
	case c == '.':
		if t, ok := resolveWords[v]; ok {
			return t
		}
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return "!!float"
		}
	case len(v) <= 5 && strings.IndexByte("yYnNtTfFoO~", c) >= 0: // the longest word is "false"
		if t, ok := resolveWords[v]; ok {
			return t
		}
	}
	return "!!str"
}

// The shapes numberish tells apart.
const (
	decimal   = iota // digits only, no leading zero, fits an int64: an !!int
	notNumber        // a byte no number or timestamp has: a !!str
	maybe            // anything else: ask the parsers
)

// numberish sorts a plain scalar that starts like a number (not one of
// resolveWords). Every int (decimal, 0x, 0o, 0b, signs, underscores),
// float and timestamp yaml.v3 resolves is spelled with the bytes of
// numberBytes only, so a scalar with any other byte ("10m", "16Mi",
// "1.0-rc") is a string.
func numberish(v string) int {
	digits := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= '0' && c <= '9' {
			continue
		}
		digits = false
		if strings.IndexByte(numberBytes, c) < 0 {
			return notNumber
		}
	}
	// 18 digits always fit an int64; a leading zero is octal to
	// ParseInt's base 0, or a float when it is not octal ("089").
	if digits && len(v) <= 18 && (v[0] != '0' || len(v) == 1) {
		return decimal
	}
	return maybe
}

// numberBytes are the bytes besides digits that ints (0x1F, 0o17, -0b11,
// 1_000), floats (+1.5e-3) and timestamps (2001-12-14t21:59:43.10-05:00,
// 2001-12-14 21:59:43,10: Go's time.Parse takes a comma before the
// fraction) are spelled with.
const numberBytes = "+-._,:eExXoObBtTzZ abcdefABCDEF"

// resolveWords are the plain scalars yaml.v3 resolves by name.
var resolveWords = map[string]string{
	"true": "!!bool", "True": "!!bool", "TRUE": "!!bool",
	"false": "!!bool", "False": "!!bool", "FALSE": "!!bool",
	"~": "!!null", "null": "!!null", "Null": "!!null", "NULL": "!!null",
	".nan": "!!float", ".NaN": "!!float", ".NAN": "!!float",
	".inf": "!!float", ".Inf": "!!float", ".INF": "!!float",
	"+.inf": "!!float", "+.Inf": "!!float", "+.INF": "!!float",
	"-.inf": "!!float", "-.Inf": "!!float", "-.INF": "!!float",
}

var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// isTimestamp reports whether yaml.v3 reads a plain scalar as a timestamp.
func isTimestamp(v string) bool {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i != 4 || i == len(v) || v[i] != '-' {
		return false
	}
	for _, f := range []string{"2006-1-2T15:4:5.999999999Z07:00", "2006-1-2t15:4:5.999999999Z07:00", "2006-1-2 15:4:5.999999999", "2006-1-2"} {
		if _, err := time.Parse(f, v); err == nil {
			return true
		}
	}
	return false
}
