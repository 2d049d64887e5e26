package renderer

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"go.yaml.in/yaml/v3"

	"github.com/meshbundle/meshbundle/appmesh"
)

// Pruned trees (prunedTree): Services and workloads are read without the
// subtrees no filter reads. These tests cover what the golden inputs do
// not reach: edits that cannot be byte patches, which parse the document
// whole and make its edits again (Resource.unprune).

// prunedShapes are Services and workloads whose edits are re-encoded
// (dirty) or patched, each with subtrees pruning drops (container env,
// args, resources; annotations).
var prunedShapes = []struct {
	name    string
	doc     string
	unprune bool // an edit cannot be a byte patch: parsed whole again
}{
	{"patched", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  annotations:\n    note: x\nspec:\n  template:\n    metadata:\n      labels:\n        app: a\n    spec:\n      containers:\n      - name: c\n        image: i\n        env:\n        - name: A\n          value: b\n        ports:\n        - name: http\n          containerPort: 80\n", false},
	{"no template metadata", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        args: [--x]\n        env:\n        - {name: A, value: b}\n", true},
	{"null template annotations", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    metadata:\n      annotations:\n      labels: {app: a}\n    spec:\n      initContainers:\n      - name: init\n        resources:\n          requests: {cpu: 1m}\n      containers:\n      - name: c\n        env:\n        - name: A\n          value: b\n", true},
	{"quoted first label", "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: a\nspec:\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels:\n            \"app\": a\n        spec:\n          containers:\n          - name: c\n            command: [run]\n", true},
	{"service, renamed port, many annotations", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n    one: \"1\"\n    two: \"2\"\nspec:\n  selector:\n    app: a\n  ports:\n  - name: web\n    port: 80\n", false},
	{"service, null port name", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n    one: \"1\"\nspec:\n  selector:\n    app: a\n  ports:\n  - name:\n    port: 80\n", true},
}

// TestPrunedTreesChangeNothing: on each shape, Render (pruning) writes
// the same bytes as the pipeline keeping every tree (which prunes
// nothing), and parses the document whole again exactly where an edit
// cannot be a byte patch. Negative control: the pruned tree itself, which
// the Writer would print for such a document without unprune, lacks what
// pruning dropped.
func TestPrunedTreesChangeNothing(t *testing.T) {
	am, err := appmesh.Decode([]byte("apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: t, namespace: shop}\nspec:\n  ports: {mode: fix}\n  injection: {jobs: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range prunedShapes {
		t.Run(tt.name, func(t *testing.T) {
			before := reparses.Load()
			var pruned bytes.Buffer
			if err := New(am, nil).Render(strings.NewReader(tt.doc), &pruned); err != nil {
				t.Fatal(err)
			}
			if got := reparses.Load() - before; got != map[bool]int64{false: 0, true: 1}[tt.unprune] {
				t.Errorf("parsed whole again %d times, want it %v", got, tt.unprune)
			}
			rs, err := runFilters(am, []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			var whole bytes.Buffer
			if err := (Writer{}).Write(&whole, rs); err != nil {
				t.Fatal(err)
			}
			if pruned.String() != whole.String() {
				t.Errorf("pruning changes the output:\n%s\nkeeping every tree:\n%s", pruned.String(), whole.String())
			}
			if whole.String() == "---\n"+tt.doc {
				t.Errorf("nothing edited")
			}
			// The control: the pruned tree lacks the dropped subtrees.
			r, err := parseResource([]byte(tt.doc), &slabs{}, func(group, kind string) *keepSet { return prunedTree(group, kind) })
			if err != nil || !r.pruned {
				t.Fatalf("not pruned (%v)", err)
			}
			// (yaml.v3 refuses to print the cut marks themselves: a pruned
			// tree cannot be printed by mistake.)
			if _, err := encodeTree(r.doc); err == nil {
				t.Error("a pruned tree with its cut marks prints")
			}
			enc, err := encodeTree(withoutMarks(r.doc))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(enc, whole.Bytes()) || strings.Count(string(enc), "\n") >= strings.Count(tt.doc, "\n") {
				t.Errorf("negative control: the pruned tree prints all of the document:\n%s", enc)
			}
		})
	}
}

// TestPrunedEditThroughCut: an edit through a mapping the Reader cut (no
// filter makes one today; a new filter could) parses the document whole
// and makes it there, writing what the whole tree writes. Reading a key a
// cut mapping dropped panics; reading a kept one does not.
func TestPrunedEditThroughCut(t *testing.T) {
	doc := prunedShapes[0].doc
	edits := []struct {
		p     path
		value string
		stage int
	}{
		{path{"spec", "template", "metadata", "labels", "x"}, "1", 0},
		{path{"spec", "template", "spec", "containers", 0, "env", 0, "value"}, "c", 2},
		{path{"spec", "template", "metadata", "labels", "y"}, "2", 2},
	}
	print := func(treeOf func(group, kind string) *keepSet) (string, *Resource) {
		r, err := parseResource([]byte(doc), &slabs{}, treeOf)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range edits {
			if i > 0 && e.stage != edits[i-1].stage {
				r.settle()
			}
			r.edit(e.p, e.value, e.stage, &texts{})
		}
		r.settle()
		var out bytes.Buffer
		if err := (Writer{}).Write(&out, []*Resource{r}); err != nil {
			t.Fatal(err)
		}
		return out.String(), r
	}
	before := reparses.Load()
	got, r := print(func(group, kind string) *keepSet { return prunedTree(group, kind) })
	want, _ := print(nil)
	if got != want || !strings.Contains(want, "value: c") {
		t.Errorf("an edit through a cut mapping writes\n%s\nthe whole tree\n%s", got, want)
	}
	if reparses.Load()-before != 1 || r.pruned {
		t.Errorf("the document was not parsed whole again")
	}

	r, _ = parseResource([]byte(doc), &slabs{}, func(group, kind string) *keepSet { return prunedTree(group, kind) })
	c := r.get("spec", "template", "spec", "containers", 0)
	if c.at("image").str() != "i" || c.at("ports", 0, "containerPort").str() != "80" {
		t.Errorf("kept keys read %q, %q", c.at("image").str(), c.at("ports", 0, "containerPort").str())
	}
	defer func() {
		if recover() == nil {
			t.Error("reading a dropped key of a cut mapping does not panic")
		}
	}()
	c.at("env")
}

// withoutMarks is a copy of a tree without the cut marks.
func withoutMarks(n *yaml.Node) *yaml.Node {
	c := *n
	c.Anchor = ""
	c.Content = nil
	for _, ch := range n.Content {
		c.Content = append(c.Content, withoutMarks(ch))
	}
	return &c
}

// TestResourceSize: a Resource, kept for every document of the stream,
// stays at 144 bytes. At 152 it falls into the allocator's 160-byte size
// class with yaml.Node, and the long-lived Resources scattered among the
// nodes of released trees left ~6 MB of half-empty spans at 5 000
// Deployment+Service pairs: 1.5 times the collections under the memory
// limit, and a peak RSS over the budget.
func TestResourceSize(t *testing.T) {
	if got := unsafe.Sizeof(Resource{}); got > 144 {
		t.Errorf("a Resource is %d bytes, more than 144", got)
	}
}
