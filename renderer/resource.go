package renderer

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
)

// Annotations and labels the renderer reads or writes on chart objects.
const (
	// helmHookAnnotation marks hook objects (test pods, hook Jobs); they are
	// never injected, renamed or copied.
	helmHookAnnotation = "helm.sh/hook"
	// postRenderFilenameAnnotation is set by Helm 4 on every document it
	// sends through a post-renderer; Helm regroups the output by it.
	postRenderFilenameAnnotation = "postrenderer.helm.sh/postrender-filename"
	// appLabel marks objects the renderer generated, with the AppMesh name.
	appLabel = "meshbundle.dev/app"
)

// Resource is one document of the stream: the document model every filter
// reads and edits. It holds
//   - raw, the document's bytes as read (or as generated), which the Writer
//     prints with the edits' byte patches spliced in;
//   - its yaml.v3 tree, parsed once when the document is read, which reads
//     see and edits change too; Render drops it once the document's
//     per-document edits are made and its facts taken, unless a filter
//     declared it will edit the document later (keepTree): nothing is
//     parsed twice;
//   - facts, the few fields the indexes and filters read of every
//     document, taken from the tree (facts.go).
//
// Filters read through get (a read-only view) and change the document only
// through stream.set (Resource.edit), which edits the tree, places a byte patch where the
// source layout allows, marks the document for re-encoding where it does
// not, and refreshes facts and indexes: no edit can reach the tree without
// reaching the output. The filter files do not import yaml.v3
// (TestFiltersEditThroughTheModel), so they cannot bypass it.
type Resource struct {
	raw []byte     // the document as read (or as generated); never written: the scanner's strings point into it
	doc *yaml.Node // the document node, its top-level mapping (top) the one child; nil once released
	f   *facts     // what the indexes read of every document (facts.go)
	// ed is what edits of the tree need besides it (line offsets, keys
	// inserted in front): made on the first edit, dropped with the tree,
	// so that a released document holds only what the Writer prints.
	ed *editing

	patches []patch // byte edits of raw (see patch.go)

	touchedIn int8 // 1 + the stage that last edited it (stream.set); the pipeline has a few stages (int8: a Resource stays 144 bytes, see below)
	dirty     bool // the tree holds an edit no patch expresses: re-encode it
	// expanded: the source has anchors and aliases, which the tree holds
	// resolved: an edit re-encodes the document from the tree, since a
	// byte patch of an anchored node would change its aliases too.
	expanded bool
	// sketch: a generated document whose tree was built from its plain
	// value, for reading; an edit first parses its bytes into the tree.
	sketch bool
	// skimmed: no filter reads documents of its kind (Reader.treeOf),
	// so its tree was never built: the Reader kept its names and facts.
	skimmed bool
	// pruned: its tree lacks subtrees no filter reads (prunedTree); an
	// edit that cannot be a byte patch of the kept part parses it whole
	// (unprune).
	pruned    bool
	listed    bool // in the stream's list (and indexes)
	generated bool // added by a filter (stream.insert), not read

	APIVersion string
	Kind       string
	Name       string
	Namespace  string // as rendered; may be empty (helm -n decides)
}

// editing is the state of a document's tree while it is edited.
type editing struct {
	lines []int // offsets of line starts in raw, built on first use
	// front lists keys the current stage inserted into a mapping with a
	// byte patch, which puts them in front of its first key; settle moves
	// them there in the tree too, so the tree reads like the bytes.
	front []inserted
	// log holds the edits of a pruned tree, for unprune to make them
	// again on the whole tree.
	log []loggedEdit
}

// loggedEdit is one edit of a pruned tree.
type loggedEdit struct {
	p     path
	value any
	stage int
}

// editState returns the document's editing state, made on first use.
func (r *Resource) editState() *editing {
	if r.ed == nil {
		r.ed = &editing{}
	}
	return r.ed
}

// inserted is one key a patch put in front of mapping m.
type inserted struct{ m, key *yaml.Node }

// Group is the API group of the object ("" for the core group).
func (r *Resource) Group() string {
	g, _, ok := strings.Cut(r.APIVersion, "/")
	if !ok {
		return ""
	}
	return g
}

// String names the object for error messages and warnings: "Service
// shop/web", followed by the template Helm rendered it from ("Service
// shop/web (# Source: app/templates/svc.yaml)"), so that a user finds what
// to fix in the chart. Helm 3 heads each document with a "# Source:"
// comment; Helm 4 drops it and says the template in the
// postrender-filename annotation instead. Generated objects have none.
func (r *Resource) String() string {
	s := r.name()
	if r.generated {
		return s
	}
	src := sourceOf(r.raw)
	if src == "" && r.f != nil {
		src = r.f.filename()
	} else if src == "" && r.doc != nil {
		src = scalar(lookup(r.top(), "metadata", "annotations", postRenderFilenameAnnotation))
	}
	if src != "" {
		s += " (# Source: " + src + ")"
	}
	return s
}

// name is the object's kind, namespace and name: "Service shop/web".
func (r *Resource) name() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// is reports whether r is of the API group and kind.
func (r *Resource) is(group, kind string) bool { return r.Kind == kind && r.Group() == group }

// IsHook reports whether Helm treats the object as a hook.
func (r *Resource) IsHook() bool { return r.facts().hook() }

// Filename is Helm 4's post-render filename of the object ("" with Helm 3).
func (r *Resource) Filename() string { return r.facts().filename() }

// get returns a read-only view of the node at p below the object's root
// (missing steps give an empty view).
func (r *Resource) get(p ...any) node { return node{r.root()}.at(p...) }

// Lookup returns the node at the mapping path below the object, or nil;
// for tests, which read the output as trees.
func (r *Resource) Lookup(path ...string) *yaml.Node { return lookup(r.root(), path...) }

// root returns the top-level mapping. A released tree is never parsed
// again: a filter that edits a document after reading must say so in
// keepTree, and reading a released tree is a bug the tests catch.
func (r *Resource) root() *yaml.Node {
	if r.doc == nil && r.skimmed {
		panic(fmt.Sprintf("renderer: %s was skimmed, its tree never built: a filter that reads documents of its kind must say so (readsTree)", r))
	}
	if r.doc == nil {
		panic(fmt.Sprintf("renderer: the tree of %s was released after reading; the filter that reads it must keep it (keepTree)", r))
	}
	return r.top()
}

// top is the document's top-level mapping, nil once released. It is not a
// field of its own: a Resource is kept for every document of the stream
// (144 bytes with the names).
func (r *Resource) top() *yaml.Node {
	if r.doc == nil {
		return nil
	}
	return r.doc.Content[0]
}

// release drops the tree of a clean document after its facts are taken,
// so that the heap holds bytes, not trees, of the whole stream.
func (r *Resource) release() {
	if r.dirty || r.doc == nil {
		return
	}
	r.facts()
	r.doc, r.ed = nil, nil
}

// copyTree returns a document holding a deep copy of r's tree, without
// bytes or source positions: a document the renderer derives from one of
// the chart's (the canary copy), edited through the tree and then made a
// document of its own with fromTree.
func (r *Resource) copyTree() *Resource {
	obj := deepCopy(r.root())
	clearPositions(obj)
	return &Resource{doc: &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{obj}}, dirty: true,
		APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Namespace: r.Namespace}
}

// derived makes a copyTree document, once edited, a document of its own:
// its bytes are its tree encoded.
func (r *Resource) derived() (*Resource, error) { return fromTree(r.doc) }

// settle ends a stage's edits of the document: the keys its patches
// inserted move to the front of their mappings in the tree, where the
// bytes have them, so later stages read, copy and anchor on what the output
// will say. A dirty document's tree is what the Writer prints as is.
func (r *Resource) settle() {
	if !r.dirty && !r.settleRotating() {
		moved := map[*yaml.Node][]*yaml.Node{}
		var order []*yaml.Node
		for _, in := range r.frontKeys() {
			if _, ok := moved[in.m]; !ok {
				order = append(order, in.m)
			}
			moved[in.m] = append(moved[in.m], in.key)
		}
		for _, m := range order {
			keys := map[*yaml.Node]bool{}
			for _, k := range moved[m] {
				keys[k] = true
			}
			out := make([]*yaml.Node, 0, len(m.Content))
			for _, k := range moved[m] {
				for i := 0; i+1 < len(m.Content); i += 2 {
					if m.Content[i] == k {
						out = append(out, m.Content[i], m.Content[i+1])
					}
				}
			}
			for i := 0; i+1 < len(m.Content); i += 2 {
				if !keys[m.Content[i]] {
					out = append(out, m.Content[i], m.Content[i+1])
				}
			}
			m.Content = out
		}
	}
	if r.ed != nil {
		r.ed.front = nil
	}
}

// settleRotating is settle's common case without allocating: each mapping's
// inserted keys are listed together, once, and are the last entries of
// the mapping, in order (insertTree appends them), so moving them to the
// front is a rotation. It reports false, having changed nothing, when
// the keys are not so.
func (r *Resource) settleRotating() bool {
	front := r.frontKeys()
	if len(front) > 8 {
		return false // a mapping listed twice is checked pairwise below
	}
	for i := 0; i < len(front); {
		m, j := front[i].m, i+1
		for j < len(front) && front[j].m == m {
			j++
		}
		for _, later := range front[j:] {
			if later.m == m {
				return false
			}
		}
		k, n := 2*(j-i), len(m.Content)
		if k > n {
			return false
		}
		for t, in := range front[i:j] {
			if m.Content[n-k+2*t] != in.key {
				return false
			}
		}
		i = j
	}
	for i := 0; i < len(front); {
		m, j := front[i].m, i+1
		for j < len(front) && front[j].m == m {
			j++
		}
		k := 2 * (j - i)
		c := m.Content
		slices.Reverse(c)
		slices.Reverse(c[:k])
		slices.Reverse(c[k:])
		i = j
	}
	return true
}

// frontKeys are the keys the running stage inserted in front of mappings.
func (r *Resource) frontKeys() []inserted {
	if r.ed == nil {
		return nil
	}
	return r.ed.front
}

// parses counts the chart documents parsed (TestDocumentsParsedOnce);
// reparses the pruned ones parsed whole again (unprune).
var parses, reparses atomic.Int64

// parseResource builds a Resource from one document's bytes, its tree cut
// from sl if the scanner reads it (see scanInto). It returns (nil, nil) for
// documents holding only comments or whitespace. With treeOf, a document
// of a kind no filter reads is skimmed (skim): it gets no tree at all; a
// wide one of a kind filters read gets a pruned tree.
func parseResource(raw []byte, sl *slabs, treeOf func(group, kind string) *keepSet) (*Resource, error) {
	parses.Add(1)
	if !yamlOnly {
		if treeOf != nil {
			if r := skim(raw, sl, treeOf); r != nil {
				return r, nil
			}
		}
		if doc, ok := scanInto(raw, sl); ok {
			return buildResource(raw, doc, false) // the scanner reads no anchors, aliases or merge keys
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("malformed YAML: %w (fix: correct the template's YAML at the line named, counted from the document's start)", err)
	}
	return newResource(raw, &doc)
}

// headKeep is what the Reader reads of a document no filter reads: its
// names and the facts every document has (hook, Helm 4 filename).
// Its cut mappings are not marked: the head is dropped once read.
var headKeep = &keepSet{keys: map[string]*keepSet{"apiVersion": nil, "kind": nil,
	"metadata": {keys: map[string]*keepSet{"name": nil, "namespace": nil,
		"annotations": {keys: map[string]*keepSet{helmHookAnnotation: nil, postRenderFilenameAnnotation: nil}}}}}}

// skim reads a document whose kind treeOf says no filter reads (a
// ConfigMap, a Secret, a CRD: most of a chart's bytes): the scanner checks
// all of it but keeps only headKeep, the facts are taken and that head
// dropped, so the document costs its bytes and a Resource, never a tree
// (a tree is ~20 bytes of heap per byte of YAML, and a ConfigMap of
// 100 000 keys was held whole while it was read). A wide document of a
// kind filters read (pruneMin) gets the tree treeOf keeps of it, pruned
// (prunedTree). It returns nil, for the full parse to do, where the kind
// is one a filter reads whole, the scanner gives up, or the head is not a
// plain object: the full parse then says what is wrong in its own words.
func skim(raw []byte, sl *slabs, treeOf func(group, kind string) *keepSet) *Resource {
	group, kind, ok := guessKind(raw)
	if !ok {
		return nil
	}
	keep := treeOf(group, kind)
	if keep == nil || keep != headKeep && len(raw) < pruneMin {
		return nil
	}
	tree, ok := skimInto(raw, sl, keep)
	if !ok {
		return nil
	}
	r, err := newResource(raw, tree)
	if err != nil || r == nil || r.Kind != kind || r.Group() != group {
		return nil
	}
	if keep != headKeep {
		r.pruned = true // a pruned tree, read and edited by filters
		return r
	}
	r.facts()
	r.doc, r.skimmed = nil, true
	return r
}

// pruneMin is the size from which a document filters read is pruned
// (prunedTree). A smaller one's whole tree is at most ~1.3 MB, and is
// dropped as soon as it is read unless a filter keeps it; pruning it
// would only cost the edit log (5 % more CPU at 5 000 pairs without a
// canary, where every Deployment is edited). The package's tests prune
// every document (pruneMin 0), so that the golden inputs and FuzzRender
// cover the pruned path against the pipeline keeping every whole tree.
var pruneMin = 64 << 10

// guessKind reads apiVersion's group and kind off the lines that start
// with them at column 0, as charts render them: a line scan, so that a
// document a filter reads is not scanned twice. skim checks the guess
// against the parse.
func guessKind(raw []byte) (group, kind string, ok bool) {
	var api []byte
	var haveAPI, haveKind bool
	for len(raw) > 0 && !(haveAPI && haveKind) {
		line := raw
		if nl := bytes.IndexByte(raw, '\n'); nl >= 0 {
			line, raw = raw[:nl], raw[nl+1:]
		} else {
			raw = nil
		}
		if v, found := bytes.CutPrefix(line, []byte("apiVersion:")); found && !haveAPI {
			api, haveAPI = bytes.TrimSpace(v), true
		} else if v, found := bytes.CutPrefix(line, []byte("kind:")); found && !haveKind {
			kind, haveKind = string(bytes.TrimSpace(v)), true
		}
	}
	if !haveAPI || !haveKind || kind == "" {
		return "", "", false
	}
	if g, _, found := bytes.Cut(api, []byte("/")); found {
		group = string(g)
	}
	return group, kind, true
}

// newResource builds a Resource from its bytes and their tree.
func newResource(raw []byte, doc *yaml.Node) (*Resource, error) { return buildResource(raw, doc, true) }

// buildResource is newResource; mayAlias is false for a tree known to hold
// no alias or merge key (the scanner's), which is then not searched for one.
func buildResource(raw []byte, doc *yaml.Node, mayAlias bool) (*Resource, error) {
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	obj := doc.Content[0]
	if obj.Kind == yaml.ScalarNode && obj.Tag == "!!null" {
		return nil, nil
	}
	if obj.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a Kubernetes object: the document is a YAML %s, not a mapping with apiVersion, kind and metadata", nodeKindName(obj))
	}
	expanded := false
	if mayAlias && hasAliases(obj) {
		// Anchors, aliases and merge keys are resolved into plain copies,
		// as Kubernetes' decoder reads them: filters read what Helm will
		// apply, and an edit of one copy cannot reach another (a pod
		// template's labels shared with the immutable selector).
		budget := aliasBudget
		var err error
		if obj, err = resolveAliases(obj, &budget, nil); err != nil {
			return nil, err
		}
		doc.Content[0] = obj
		expanded = true
	}
	var steps [16]step // room for the paths of most documents
	if err := duplicateKeys(obj, steps[:0]); err != nil {
		return nil, err
	}
	r := &Resource{raw: raw, doc: doc, expanded: expanded}
	var missing []string
	for _, f := range []struct {
		dst  *string
		path []string
	}{
		{&r.APIVersion, []string{"apiVersion"}},
		{&r.Kind, []string{"kind"}},
		{&r.Name, []string{"metadata", "name"}},
	} {
		n := lookup(obj, f.path...)
		if n == nil || n.Kind != yaml.ScalarNode || n.Value == "" {
			missing = append(missing, strings.Join(f.path, "."))
			continue
		}
		*f.dst = n.Value
	}
	if len(missing) > 0 && !(r.Kind != "" && isList(obj)) { // a List needs no name: the Reader flattens it
		return nil, fmt.Errorf("not a Kubernetes object: missing %s (fix: give every object apiVersion, kind and metadata.name)", strings.Join(missing, ", "))
	}
	if ns := lookup(obj, "metadata", "namespace"); ns != nil {
		if ns.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s: metadata.namespace is not a string (fix: render the namespace as a plain string)", r)
		}
		r.Namespace = ns.Value
	}
	return r, nil
}

// aliasBudget bounds the nodes resolving a document's aliases may create:
// a few nested aliases can otherwise expand exponentially.
const aliasBudget = 1 << 20

// hasAliases reports whether the tree holds an alias or a merge key.
func hasAliases(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Tag == "!!merge" {
		return true
	}
	for _, c := range n.Content {
		if hasAliases(c) {
			return true
		}
	}
	return false
}

// resolveAliases returns a copy of n with every alias replaced by a copy
// of its anchored node and every merge key ("<<: *base") by the keys it
// merges (the mapping's own keys win, then the sources in order).
func resolveAliases(n *yaml.Node, budget *int, path []string) (*yaml.Node, error) {
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("YAML aliases under %s expand to more than %d nodes (fix: write the values out in the chart)", keyPath(path), aliasBudget)
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil, fmt.Errorf("malformed YAML: an alias without its anchor under %s (fix: define the anchor before its alias, in the same document)", keyPath(path))
		}
		return resolveAliases(n.Alias, budget, path)
	}
	c := *n
	c.Anchor = ""
	c.Content = nil
	if n.Kind != yaml.MappingNode {
		for i, ch := range n.Content {
			r, err := resolveAliases(ch, budget, append(path, fmt.Sprintf("[%d]", i)))
			if err != nil {
				return nil, err
			}
			c.Content = append(c.Content, r)
		}
		return &c, nil
	}
	own := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Tag != "!!merge" {
			own[n.Content[i].Value] = true
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag != "!!merge" {
			r, err := resolveAliases(v, budget, append(path, k.Value))
			if err != nil {
				return nil, err
			}
			c.Content = append(c.Content, k, r)
			continue
		}
		sources := []*yaml.Node{v}
		if deref(v) != nil && deref(v).Kind == yaml.SequenceNode {
			sources = deref(v).Content
		}
		for _, src := range sources {
			m, err := resolveAliases(src, budget, append(path, "<<"))
			if err != nil {
				return nil, err
			}
			if m.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("malformed YAML: the merge key under %s merges a %s, not a mapping (fix: merge mappings only)", keyPath(path), nodeKindName(m))
			}
			for j := 0; j+1 < len(m.Content); j += 2 {
				if !own[m.Content[j].Value] {
					own[m.Content[j].Value] = true
					c.Content = append(c.Content, m.Content[j], m.Content[j+1])
				}
			}
		}
	}
	return &c, nil
}

// isList reports whether a document is a List Helm applies as its items:
// a kind "...List" with an items sequence (or none written).
func isList(obj *yaml.Node) bool {
	items := lookup(obj, "items")
	return strings.HasSuffix(scalar(lookup(obj, "kind")), "List") && items != nil &&
		(items.Kind == yaml.SequenceNode || items.Kind == yaml.ScalarNode && items.Tag == "!!null")
}

func nodeKindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	default:
		return "node"
	}
}

// duplicateKeys rejects a mapping that repeats a key: Kubernetes' strict
// decoding refuses such objects, and which value a reader keeps is
// undefined, so the renderer would edit one copy and Helm apply the other.
// The path to n is a stack of steps, spelled out only for an error (it
// runs on every document: a path slice of strings per collection was a
// tenth of reading's allocations).
func duplicateKeys(n *yaml.Node, at []step) error {
	switch n.Kind {
	case yaml.MappingNode:
		// One set per mapping: a ConfigMap of 100 000 keys costs its keys,
		// not their square.
		var seen map[string]*yaml.Node
		if len(n.Content) > 16 {
			seen = make(map[string]*yaml.Node, len(n.Content)/2)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
				return fmt.Errorf("malformed YAML: a %s used as a mapping key at line %d under %s; Kubernetes objects have string keys (fix: quote the key)", nodeKindName(k), k.Line, keyPath(stepPath(at)))
			}
			var first *yaml.Node
			if seen != nil {
				first = seen[k.Value]
				seen[k.Value] = k
			} else {
				for j := 0; j < i; j += 2 {
					if n.Content[j].Value == k.Value {
						first = n.Content[j]
						break
					}
				}
			}
			if first != nil {
				return fmt.Errorf("malformed YAML: duplicate key %q at line %d (also line %d) under %s (fix: keep one of them)", k.Value, k.Line, first.Line, keyPath(stepPath(at)))
			}
			if len(n.Content[i+1].Content) > 0 {
				if err := duplicateKeys(n.Content[i+1], append(at, step{key: k.Value})); err != nil {
					return err
				}
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if len(c.Content) > 0 {
				if err := duplicateKeys(c, append(at, step{index: i, inSeq: true})); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// step is one step of a path: a mapping key, or a sequence index (inSeq).
type step struct {
	key   string
	index int
	inSeq bool
}

// stepPath spells a path out as keyPath reads it ("[3]" for an index).
func stepPath(steps []step) []string {
	out := make([]string, len(steps))
	for i, st := range steps {
		if st.inSeq {
			out[i] = fmt.Sprintf("[%d]", st.index)
		} else {
			out[i] = st.key
		}
	}
	return out
}

func keyPath(path []string) string {
	if len(path) == 0 {
		return "the document root"
	}
	return strings.ReplaceAll(strings.Join(path, "."), ".[", "[")
}
