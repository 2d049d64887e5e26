package renderer

import (
	"fmt"
	"strings"

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

// Resource is one document of the stream. Documents no filter edits are
// written back as their original bytes; an edited one is re-encoded from its
// YAML node tree, which keeps comments and key order.
//
// The node tree is the expensive part (about 30 bytes of heap per byte of
// YAML), so Render drops it once a document has been read, its per-document
// edits made and its facts taken (release); a filter that later needs it
// gets it back from root, which parses the bytes again. A dirty tree is
// never dropped: it holds edits no bytes do.
type Resource struct {
	raw   []byte     // the document as read (or as generated)
	doc   *yaml.Node // the document node; nil once released
	obj   *yaml.Node // its top-level mapping; nil once released
	dirty bool       // obj was edited in a way no patch expresses: re-encode it
	f     *facts     // what the filters read of every document (facts.go)

	patches []patch // byte edits of raw (see patch.go)
	lines   []int   // offsets of line starts in raw, built on first use

	APIVersion string
	Kind       string
	Name       string
	Namespace  string // as rendered; may be empty (helm -n decides)
}

// Group is the API group of the object ("" for the core group).
func (r *Resource) Group() string {
	g, _, ok := strings.Cut(r.APIVersion, "/")
	if !ok {
		return ""
	}
	return g
}

// String names the object for error messages: "Service shop/web".
func (r *Resource) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// IsHook reports whether Helm treats the object as a hook.
func (r *Resource) IsHook() bool { return r.facts().hook }

// Filename is Helm 4's post-render filename of the object ("" with Helm 3).
func (r *Resource) Filename() string { return r.facts().filename }

// Lookup returns the node at the mapping path below the object, or nil.
func (r *Resource) Lookup(path ...string) *yaml.Node { return lookup(r.root(), path...) }

// root returns the top-level mapping, parsing the document again when its
// tree was released. The bytes parsed are the patched ones, which then
// become the document's bytes: the new tree and the bytes agree.
func (r *Resource) root() *yaml.Node {
	if r.obj != nil {
		return r.obj
	}
	raw := r.raw
	if len(r.patches) > 0 {
		raw = r.patched()
	}
	again, err := parseResource(raw)
	if err != nil || again == nil {
		// The bytes parsed before and patches keep them valid YAML; this
		// is a bug, not bad input.
		panic(fmt.Sprintf("renderer: re-reading %s: %v", r, err))
	}
	r.raw, r.doc, r.obj, r.patches, r.lines = raw, again.doc, again.obj, nil, nil
	return r.obj
}

// release drops the node tree of a clean document after its facts are
// taken, so that the heap holds bytes, not trees, of the whole stream.
func (r *Resource) release() {
	if r.dirty || r.obj == nil {
		return
	}
	r.facts()
	r.doc, r.obj, r.lines = nil, nil, nil
}

// revert drops every edit of the document: raw (its bytes before the
// edits) is read again when the tree is next needed.
func (r *Resource) revert(raw []byte) {
	r.raw, r.doc, r.obj, r.dirty, r.f, r.patches, r.lines = raw, nil, nil, false, nil, nil, nil
}

// markDirty records that the node tree was edited.
func (r *Resource) markDirty() { r.dirty, r.f = true, nil }

// edited records an edit of the tree: the facts read before it are stale.
func (r *Resource) edited() { r.f = nil }

// parseResource builds a Resource from one document's bytes. It returns
// (nil, nil) for documents holding only comments or whitespace.
func parseResource(raw []byte) (*Resource, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("malformed YAML: %w", err)
	}
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
	if err := duplicateKeys(obj, nil); err != nil {
		return nil, err
	}
	r := &Resource{raw: raw, doc: &doc, obj: obj}
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
	if len(missing) > 0 {
		return nil, fmt.Errorf("not a Kubernetes object: missing %s", strings.Join(missing, ", "))
	}
	if ns := lookup(obj, "metadata", "namespace"); ns != nil {
		if ns.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s: metadata.namespace is not a string", r)
		}
		r.Namespace = ns.Value
	}
	return r, nil
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
func duplicateKeys(n *yaml.Node, path []string) error {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
				return fmt.Errorf("malformed YAML: a %s used as a mapping key at line %d under %s; Kubernetes objects have string keys", nodeKindName(k), k.Line, keyPath(path))
			}
			for j := 0; j < i; j += 2 {
				if n.Content[j].Value == k.Value && n.Content[j].Kind == yaml.ScalarNode && k.Kind == yaml.ScalarNode {
					return fmt.Errorf("malformed YAML: duplicate key %q at line %d (also line %d) under %s", k.Value, k.Line, n.Content[j].Line, keyPath(path))
				}
			}
			if err := duplicateKeys(n.Content[i+1], append(path, k.Value)); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := duplicateKeys(c, append(path, fmt.Sprintf("[%d]", i))); err != nil {
				return err
			}
		}
	}
	return nil
}

func keyPath(path []string) string {
	if len(path) == 0 {
		return "the document root"
	}
	return strings.ReplaceAll(strings.Join(path, "."), ".[", "[")
}
