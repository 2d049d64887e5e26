package renderer

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// FuzzScanner checks the scanner against yaml.v3 on every document it
// accepts: the same tree, node for node (kind, style, tag, value, anchor,
// comments, line and column), so the renderer above it cannot tell which
// one parsed a document. What the scanner refuses goes to yaml.v3, which
// needs no check. The skimming scanner (skimInto) is checked too, with
// headKeep and the pruned trees of prunedTree: with the model's duplicate
// check on what it keeps, it takes exactly what the scanner accepts and
// the model takes (no duplicate or null keys), and keeps of it the tree
// yaml.v3 builds, cut likewise. The seeds are every document of the golden inputs and
// the bench charts, plus shapes at the edges of the dialect.
func FuzzScanner(f *testing.F) {
	for _, d := range scannerSeeds(f) {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanner(t, data)
	})
}

// checkScanner fails when the scanner accepts data and builds another tree
// than yaml.v3 (or accepts what yaml.v3 refuses); it reports whether the
// scanner accepted it.
func checkScanner(t *testing.T, data []byte) bool {
	t.Helper()
	head, skimmed := skimInto(bytes.Clone(data), &slabs{}, headKeep)
	got, ok := scanDocument(bytes.Clone(data))
	if !ok {
		if skimmed {
			t.Fatalf("the skimming scanner accepts what the scanner refuses:\n%s", data)
		}
		return false
	}
	var want yaml.Node
	if err := yaml.Unmarshal(data, &want); err != nil {
		t.Fatalf("the scanner accepts what yaml.v3 refuses (%v):\n%s", err, data)
	}
	if g, w := dumpTree(got), dumpTree(&want); g != w {
		t.Fatalf("scanner and yaml.v3 differ on\n%s\nscanner:\n%s\nyaml.v3:\n%s", data, g, w)
	}
	// The model takes what has no duplicate or null keys: skimming checks
	// the keys it drops, newResource (duplicateKeys) those it keeps.
	takes := len(want.Content) == 1 && want.Content[0].Kind == yaml.MappingNode && duplicateKeys(want.Content[0], nil) == nil
	if got := skimmed && duplicateKeys(head.Content[0], nil) == nil; got != takes {
		t.Fatalf("skimming takes (%v) where the scanner and the model take (%v):\n%s", got, takes, data)
	}
	if skimmed {
		if g, w := dumpTree(withoutComments(head)), dumpTree(withoutComments(cutTree(&want, headKeep))); g != w {
			t.Fatalf("the skimming scanner keeps another tree than yaml.v3's cut to headKeep on\n%s\nskimmed:\n%s\nyaml.v3, cut:\n%s", data, g, w)
		}
	}
	// The pruned trees of Services and workloads: the same acceptance,
	// and yaml.v3's tree cut likewise, comments and all.
	for _, keep := range []*keepSet{serviceKeep, workloadKeep, cronJobKeep} {
		pruned, ok := skimInto(bytes.Clone(data), &slabs{}, keep)
		if got := ok && duplicateKeys(pruned.Content[0], nil) == nil; got != takes {
			t.Fatalf("pruning takes (%v) where the scanner and the model take (%v):\n%s", got, takes, data)
		}
		if ok {
			if g, w := dumpTree(pruned), dumpTree(cutTree(&want, keep)); g != w {
				t.Fatalf("pruning keeps another tree than yaml.v3's cut on\n%s\npruned:\n%s\nyaml.v3, cut:\n%s", data, g, w)
			}
		}
	}
	return true
}

// cutTree is a copy of a document's tree keeping of it what keep says, as
// skimInto does: a selection applies to a block mapping's keys, or to those
// of each mapping entry of a block sequence; other values are kept whole;
// a cut mapping is marked.
func cutTree(doc *yaml.Node, keep *keepSet) *yaml.Node {
	var cut func(n *yaml.Node, keep *keepSet) *yaml.Node
	cut = func(n *yaml.Node, keep *keepSet) *yaml.Node {
		if keep == nil || n.Style&yaml.FlowStyle != 0 {
			return n
		}
		c := *n
		switch n.Kind {
		case yaml.SequenceNode:
			c.Content = nil
			for _, e := range n.Content {
				c.Content = append(c.Content, cut(e, keep))
			}
		case yaml.MappingNode:
			c.Content = nil
			if !keep.rest {
				c.Anchor = keep.mark
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				sub, ok := keep.keys[n.Content[i].Value]
				if ok || keep.rest {
					c.Content = append(c.Content, n.Content[i], cut(n.Content[i+1], sub))
				}
			}
		}
		return &c
	}
	d := *doc
	d.Content = []*yaml.Node{cut(doc.Content[0], keep)}
	return &d
}

// withoutComments is a copy of a tree without its comments: a skimmed tree
// drops the key a head comment belongs to, and no one reads it.
func withoutComments(n *yaml.Node) *yaml.Node {
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	c.Content = nil
	for _, ch := range n.Content {
		c.Content = append(c.Content, withoutComments(ch))
	}
	return &c
}

// dumpTree prints every field of a node tree the renderer can observe.
func dumpTree(n *yaml.Node) string {
	var b strings.Builder
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		fmt.Fprintf(&b, "%s%d style=%d tag=%s value=%q anchor=%q alias=%v head=%q line=%q foot=%q at=%d:%d\n",
			strings.Repeat("  ", depth), n.Kind, n.Style, n.Tag, n.Value, n.Anchor, n.Alias != nil, n.HeadComment, n.LineComment, n.FootComment, n.Line, n.Column)
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}

// scannerSeeds are the documents of every golden input and of the bench
// charts, and shapes at the edges of what the scanner reads.
func scannerSeeds(tb testing.TB) [][]byte {
	var streams [][]byte
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*", "*.in.yaml"))
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			tb.Fatal(err)
		}
		streams = append(streams, data)
	}
	streams = append(streams, benchChart(2), wideDocument("configmap", 20), wideDocument("service", 20), wideDocument("deployment", 20))
	var docs [][]byte
	for _, s := range streams {
		for _, d := range bytes.Split(s, []byte("\n---")) {
			docs = append(docs, bytes.TrimPrefix(d, []byte("---")))
		}
	}
	for _, d := range []string{
		"a: 1\n",
		"# Source: x\n\napiVersion: v1\n",
		"\n\n# Source: x\n# more\napiVersion: v1\nkind: A\n",
		"a:\n- b\n-   c\n- d: 1\n  e: 2\n-  {}\n- []\nf: -1\n",
		"a:\n  - x: 'it''s'\n    y: \"q\\\"uote\\\\ \\n\"\n  - z\nb: \n",
		"k: 0x1F\nl: 1_000\nm: 2024-01-02\nn: .5\no: +.inf\np: 0o17\nq: -0b11\nr: 1e3\ns: 10m\nt: 16Mi\nu: ~\nv: yes\nw: True\nx: 1.0\ny: 007\nz: \"\"\n",
		"a: b # comment\n",
		"a: |\n  text\n",
		"a: &x 1\nb: *x\n",
		"a: !!str 1\n",
		"a: {b: 1}\n",
		"a: b\n  c\n",
		"a:\n b: 1\n  c: 2\n",
		"a:\n-\n  b: 1\n",
		"\"quoted key\": 1\n'k': v\n",
		"a: http://example.com:80/x\nb: a:b\n",
		"a:\n  b:\n  - 1\n  - 2\n  c: 3\n",
		"- a\n- b\n",
		"just a scalar\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n    helm.sh/hook: test\n    other: 1\n  labels: {a: b}\ndata:\n  a: 1\n  b: {c: d, e: [f]}\n  c:\n  - d: 1\n    e: 2\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: 1\n  a: 2\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  x: {a: 1, a: 2}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  - {a: 1, \"b\": 2}\n  - ~: 1\n",
		"kind: ConfigMap\nmetadata: {name: x}\napiVersion: v1\nkind: Secret\n",
		"metadata:\n  name: x\n  name: y\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name:\n    a: 1\n    a: 2\n",
		"data:\n  null: 1\n",
		"data:\n  {a: 1}: 1\n",
		"# Source: x\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w\n  annotations:\n    a: 1\n    helm.sh/hook: x\nspec:\n  template:\n    metadata:\n      labels: {app: w}\n    spec:\n      containers:\n      - name: c\n        env:\n        - name: A\n          value: b\n        ports:\n        - containerPort: 80\n      - {name: d}\n      initContainers:\n      - image: i\n        args: [a]\n",
		"apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: j\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: c\n            env:\n            - name: A\n            - name: A\n",
	} {
		docs = append(docs, []byte(d))
	}
	return docs
}

// TestScannerAgreesOnSeeds runs the agreement check on the seeds (go test
// runs them in FuzzScanner too; this one also proves the scanner takes the
// charts' documents, not only refuses them: a negative control for "they
// agree").
func TestScannerAgreesOnSeeds(t *testing.T) {
	accepted := 0
	seeds := scannerSeeds(t)
	for _, d := range seeds {
		if checkScanner(t, d) {
			accepted++
		}
	}
	t.Logf("the scanner parsed %d of %d seed documents", accepted, len(seeds))
	for _, d := range [][]byte{benchChart(1), wideDocument("deployment", 3)} {
		for _, doc := range bytes.Split(bytes.TrimPrefix(d, []byte("---\n")), []byte("---\n")) {
			if _, ok := scanDocument(doc); !ok {
				t.Errorf("the scanner gives the bench chart's document to yaml.v3:\n%s", doc)
			}
		}
	}
	// Negative control: a tree that differs in one column is caught.
	got, _ := scanDocument([]byte("a: 1\n"))
	var want yaml.Node
	_ = yaml.Unmarshal([]byte("a:  1\n"), &want)
	if dumpTree(got) == dumpTree(&want) {
		t.Fatal("dumpTree does not see a column")
	}
}

// TestScannerChangesNoOutput renders every golden input and the bench
// charts, with AppMeshes that turn on every filter, once as Render does and
// once with yaml.v3 parsing every document: the bytes (or the error) must be
// the same.
func TestScannerChangesNoOutput(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*", "*.in.yaml"))
	streams := map[string][]byte{"bench": benchChart(50)}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		streams[in] = data
	}
	for name, data := range streams {
		for _, knobs := range []uint32{0, 0xffffffff, 0x9e3779b9, 0x5bd1e995} {
			t.Run(fmt.Sprintf("%s/%#x", name, knobs), func(t *testing.T) {
				am := fuzzMesh(data, knobs)
				var out bytes.Buffer
				err := New(am, nil).Render(bytes.NewReader(data), &out)
				sameWithoutScanner(t, am, data, out.Bytes(), err)
			})
		}
	}
}

// FuzzSplitDocuments checks splitDocuments against apimachinery's
// YAMLReader, which it replaces: the same documents, the same errors.
func FuzzSplitDocuments(f *testing.F) {
	for _, s := range []string{"", "a: 1", "---\na: 1\n---\nb: 2\n", "--- # c\na\n---\n---\n", "----\n", "--- x\n", "a\n---", "a\r\n---\r\nb\r\n", "\n\n---\n\n", "---\n# Source: x\n---\n"} {
		f.Add([]byte(s))
	}
	f.Add(benchChart(3))
	f.Fuzz(func(t *testing.T, data []byte) {
		yr := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		next := splitDocuments(bytes.Clone(data))
		for i := 0; ; i++ {
			want, werr := yr.Read()
			got, gerr := next()
			if fmt.Sprint(werr) != fmt.Sprint(gerr) || !bytes.Equal(want, got) {
				t.Fatalf("document %d of %q: got %q (%v), want %q (%v)", i, data, got, gerr, want, werr)
			}
			if werr != nil {
				return
			}
		}
	})
}

// FuzzResolveTag checks resolveTag (and its shortcuts for decimals and
// quantities) against the tag yaml.v3 gives the same plain scalar.
func FuzzResolveTag(f *testing.F) {
	for _, v := range []string{"80", "8080", "0", "007", "089", "10m", "16Mi", "1.0.0", "1e3", "+1", "-1", "0x1F", "0o17", "-0b11",
		"1_000", "1.5", ".5", "+.inf", "2024-01-02", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43,10", "2001-12-14 21:59:43.10",
		"123456789012345678", "1234567890123456789", "99999999999999999999", "true", "n", "NULL", "name", "~", "1-2", "12:30", "1__0"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("k: "+v+"\n"), &doc); err != nil || len(doc.Content) == 0 {
			return
		}
		m := doc.Content[0]
		if m.Kind != yaml.MappingNode || len(m.Content) != 2 {
			return
		}
		val := m.Content[1]
		if val.Kind != yaml.ScalarNode || val.Style != 0 || val.Value != v {
			return // not one plain scalar
		}
		if got := resolveTag(v); got != val.ShortTag() {
			t.Fatalf("resolveTag(%q) = %s, yaml.v3 says %s", v, got, val.ShortTag())
		}
	})
}
