package renderer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

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
}

// objectKey identifies an object in the stream.
type objectKey struct{ group, kind, namespace, name string }

// Read splits in into documents (the apimachinery YAML reader handles the
// "---" rules), parses each one, drops empty documents, and refuses
// duplicates: Helm would apply only one of them.
func (rd Reader) Read(in io.Reader) ([]*Resource, error) {
	yr := kyaml.NewYAMLReader(bufio.NewReader(in))
	var out []*Resource
	seen := map[objectKey]int{}
	for i := 1; ; i++ {
		chunk, err := yr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read document %d: %w", i, err)
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
		// An exact-size copy: the reader's buffer grows by doubling, and
		// the document's bytes live until the stream is written.
		r, err := parseResource(bytes.Clone(chunk))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w (fix: the chart must render Kubernetes objects only)", i, err)
		}
		if r == nil {
			continue
		}
		k := rd.key(r)
		if first, dup := seen[k]; dup {
			return nil, fmt.Errorf("document %d: duplicate %s (also document %d): Helm would apply only one (fix: give the objects distinct names)", i, r, first)
		}
		seen[k] = i
		if rd.Document != nil {
			if err := rd.Document(r); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func (rd Reader) key(r *Resource) objectKey {
	ns := r.Namespace
	if ns == "" {
		ns = rd.Namespace
	}
	return objectKey{r.Group(), r.Kind, ns, r.Name}
}
