package renderer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Reader parses a multi-document YAML stream (helm template output) into
// Resources, in order.
type Reader struct {
	// Namespace is the release namespace: objects rendered without a
	// namespace live there, which matters for duplicate detection.
	Namespace string
	// Document, when set, is called with each document as soon as it is
	// parsed (Render makes the per-document edits there and releases the
	// tree, so the whole stream's trees are never in memory at once).
	Document func(*Resource) error
	// treeOf, when set, says what the Reader builds of the tree of a
	// document of a kind (by API group and kind): headKeep skims it (no
	// tree, see skim), another keepSet prunes it (prunedTree), nil parses
	// it whole. Without it every document is parsed whole.
	treeOf func(group, kind string) *keepSet
}

// objectKey identifies an object in the stream.
type objectKey struct{ group, kind, namespace, name string }

// Read splits in into documents (with the "---" rules of apimachinery's
// YAML reader, which kubectl and Helm use), parses each one, drops empty
// documents, and refuses duplicates: Helm would apply only one of them.
func (rd Reader) Read(in io.Reader) ([]*Resource, error) {
	data, err := io.ReadAll(in)
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	return rd.read(data)
}

// read is Read on the whole input. The documents' bytes are slices of data,
// which is never written afterwards (the scanner's strings point into it).
func (rd Reader) read(data []byte) ([]*Resource, error) {
	next := splitDocuments(data)
	var out []*Resource
	// The documents by object key, for duplicates: the position and bytes
	// of each, which name it only if an error needs the name.
	type seenAt struct {
		i     int
		chunk []byte
	}
	seen := map[objectKey]seenAt{}
	// The slabs the scanner cuts trees from, reused while each document's
	// tree is released in Document (see slabs).
	sl := &slabs{}
	for i := 1; ; i++ {
		chunk, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read document %d: %w (fix: put nothing but a comment after ---)", i, err)
		}
		if len(bytes.TrimSpace(chunk)) == 0 {
			continue
		}
		// The reader keeps a separator line that opens the stream (helm
		// template output starts with "---"); the Writer adds its own.
		if bytes.HasPrefix(chunk, []byte("---")) {
			if nl := bytes.IndexByte(chunk, '\n'); nl >= 0 {
				chunk = chunk[nl+1:]
			} else {
				continue
			}
		}
		r, err := parseResource(chunk, sl, rd.treeOf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", documentName(i, chunk), withFix(err, "the chart must render Kubernetes objects only"))
		}
		if r == nil {
			continue
		}
		// Helm applies the items of a List as objects of their own.
		one := [1]*Resource{r}
		docs := one[:]
		if !r.skimmed && isList(r.root()) { // a List is never skimmed
			if docs, err = flatten(r, chunk, ""); err != nil {
				return nil, fmt.Errorf("%s %w", documentName(i, chunk), withFix(err, "the chart must render Kubernetes objects only"))
			}
		}
		for _, r := range docs {
			k := rd.key(r)
			if first, dup := seen[k]; dup {
				return nil, fmt.Errorf("%s: duplicate %s (also %s): Helm would apply only one (fix: give the objects distinct names)", documentName(i, chunk), r.name(), documentName(first.i, first.chunk))
			}
			seen[k] = seenAt{i, chunk}
			if rd.Document != nil {
				if err := rd.Document(r); err != nil {
					return nil, err
				}
			}
			out = append(out, r)
		}
		// A tree still held (kept for a filter, edited, or no Document
		// callback) owns its slabs; the next document gets new ones.
		for _, r := range docs {
			if r.doc != nil {
				sl = &slabs{}
				break
			}
		}
	}
	return out, nil
}

// withFix is err with fix as its "(fix: ...)" unless it says its own.
func withFix(err error, fix string) error {
	if strings.Contains(err.Error(), "(fix: ") {
		return err
	}
	return fmt.Errorf("%w (fix: %s)", err, fix)
}

// splitDocuments returns a function that yields the documents of data one
// by one (io.EOF after the last), as apimachinery's YAMLReader splits them:
// a line starting with "---" ends a document (it opens one when nothing is
// buffered yet, and stays in it), anything but a comment after the dashes
// is an error, and every line ends with a newline. Without a carriage
// return in data, which that reader strips from line ends, the documents
// are slices of data (capped, so appending copies); with one, the
// apimachinery reader does the work, on copies.
func splitDocuments(data []byte) func() ([]byte, error) {
	if bytes.IndexByte(data, '\r') >= 0 {
		yr := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		return func() ([]byte, error) {
			chunk, err := yr.Read()
			return bytes.Clone(chunk), err
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data[:len(data):len(data)], '\n')
	}
	pos := 0
	return func() ([]byte, error) {
		start := pos
		for pos < len(data) {
			// The next line starting with "---": the lines between are
			// not visited one by one (a search for "\n---" is several
			// times faster than one for each line's end).
			ls := pos
			if !bytes.HasPrefix(data[pos:], []byte("---")) {
				i := bytes.Index(data[pos:], []byte("\n---"))
				if i < 0 {
					pos = len(data)
					break
				}
				ls = pos + i + 1
			}
			nl := bytes.IndexByte(data[ls:], '\n')
			pos = ls + nl + 1
			if rest := strings.TrimSpace(string(data[ls+3 : pos])); rest != "" && rest[0] != '#' {
				return nil, fmt.Errorf("invalid Yaml document separator: %s", rest)
			}
			if ls > start {
				return data[start:ls:ls], nil // the separator is consumed
			}
		}
		if pos > start {
			return data[start:pos:pos], nil
		}
		return nil, io.EOF
	}
}

func (rd Reader) key(r *Resource) objectKey {
	ns := r.Namespace
	if ns == "" {
		ns = rd.Namespace
	}
	return objectKey{r.Group(), r.Kind, ns, r.Name}
}

// documentName names the i-th document of the stream for errors, with the
// template Helm rendered it from ("document 3 (# Source: app/templates/x.yaml)").
func documentName(i int, chunk []byte) string {
	if src := sourceOf(chunk); src != "" {
		return fmt.Sprintf("document %d (# Source: %s)", i, src)
	}
	return fmt.Sprintf("document %d", i)
}

// sourceOf is the template path of Helm's "# Source:" comment heading a
// document ("" without one).
func sourceOf(chunk []byte) string {
	for len(chunk) > 0 {
		line := chunk
		if nl := bytes.IndexByte(chunk, '\n'); nl >= 0 {
			line, chunk = chunk[:nl], chunk[nl+1:]
		} else {
			chunk = nil
		}
		line = bytes.TrimSpace(line)
		if src, ok := bytes.CutPrefix(line, []byte("# Source: ")); ok {
			return string(bytes.TrimSpace(src))
		}
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return ""
		}
	}
	return ""
}

// flatten returns the document, or for a List (any kind "...List" with
// items, as Helm's builder reads it) its items, nested Lists flattened
// too. Each item becomes a document of its own, encoded from its tree with
// the "# Source:" comment of the List's bytes (chunk); field names the
// item in errors.
func flatten(r *Resource, chunk []byte, field string) ([]*Resource, error) {
	if r.skimmed || !isList(r.root()) { // a List is never skimmed
		return []*Resource{r}, nil
	}
	source := sourceOf(chunk)
	items := lookup(r.root(), "items")
	var out []*Resource
	for i, item := range items.Content {
		f := fmt.Sprintf("%sitems[%d]", field, i)
		doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{deepCopy(item)}}
		if source != "" {
			doc.HeadComment = "# Source: " + source
		}
		if item.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: not a Kubernetes object: a YAML %s in the items of %s", f, nodeKindName(item), r.name())
		}
		clearPositions(doc)
		raw, err := encodeTree(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		one, err := newResource(raw, doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		more, err := flatten(one, chunk, f+".")
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}
