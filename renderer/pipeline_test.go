package renderer

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshbundle/meshbundle/appmesh"
)

// modelInternals are what only the document model (resource.go, patch.go,
// node.go, facts.go, stream.go) may touch: the tree, the bytes and their
// patches, and the edit underneath stream.set. A filter that used them
// could change the tree without the bytes, or skip the index refresh.
var modelInternals = map[string]bool{
	"root": true, "doc": true, "obj": true, "raw": true, "dirty": true, "patches": true, "front": true,
	"Content": true, "Lookup": true, "lookup": true, "mapValue": true, "deepCopy": true,
	"edit": true, "setScalar": true, "insertKeys": true, "insertTree": true, "addPatch": true, "release": true,
}

// TestFiltersEditThroughTheModel: every stage of the pipeline is one file
// named after it, which does not import yaml.v3 and touches none of the
// model's internals, and assigns nothing to the stream's document list. So
// a filter can change a document only through stream.set, which keeps
// tree, bytes and indexes in step: the lost edit cannot be written.
// Negative control: the same check fails on a source that edits a node.
func TestFiltersEditThroughTheModel(t *testing.T) {
	for _, st := range pipeline {
		src, err := os.ReadFile(st.name + ".go")
		if err != nil {
			t.Errorf("stage %s: %v (a filter is one file named after its stage)", st.name, err)
			continue
		}
		for _, v := range modelViolations(t, st.name+".go", src) {
			t.Errorf("%s", v)
		}
	}
	bad := "package renderer\nimport \"go.yaml.in/yaml/v3\"\nfunc (f *x) Filter(s *stream) error { s.docs[0].root().Content = nil; s.docs = nil; var _ yaml.Node; return nil }\n"
	if got := modelViolations(t, "bad.go", []byte(bad)); len(got) < 4 {
		t.Errorf("negative control: found %d violations in a filter that edits the tree directly, want 4: %v", len(got), got)
	}
}

// modelViolations lists what a filter source does that only the model may.
func modelViolations(t *testing.T, name string, src []byte) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly|parser.ParseComments)
	if err == nil {
		f, err = parser.ParseFile(fset, name, src, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, imp := range f.Imports {
		if strings.Contains(imp.Path.Value, "yaml") {
			out = append(out, fset.Position(imp.Pos()).String()+": imports "+imp.Path.Value)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if modelInternals[n.Sel.Name] {
				out = append(out, fset.Position(n.Pos()).String()+": uses the model's "+n.Sel.Name)
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && modelInternals[id.Name] {
				out = append(out, fset.Position(n.Pos()).String()+": calls the model's "+id.Name)
			}
		case *ast.AssignStmt:
			for _, lhs := range n.Lhs {
				if sel, ok := lhs.(*ast.SelectorExpr); ok && sel.Sel.Name == "docs" {
					out = append(out, fset.Position(n.Pos()).String()+": assigns the document list (use add or insert)")
				}
			}
		}
		return true
	})
	return out
}

// team is the example filter of docs/renderer.md ("Adding a filter"): it
// labels every Deployment with the team owning the app, and records the
// team in one generated ConfigMap. It is what a new filter file holds.
type team struct{ *env }

func newTeam(e *env) *team { return &team{e} }

// Document labels each Deployment as it is read.
func (f *team) Document(s *stream, r *Resource) error {
	if r.is("apps", "Deployment") && !r.IsHook() {
		s.set(r, path{"metadata", "labels", "example.dev/team"}, "shop")
	}
	return nil
}

// readsTree: the Deployments it labels.
func (f *team) readsTree(group, kind string) bool { return group == "apps" && kind == "Deployment" }

// Filter adds one object for the whole stream.
func (f *team) Filter(s *stream) error {
	cm, err := f.generate(&corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "team", Namespace: f.am.Metadata.Namespace},
		Data:       map[string]string{"deployments": strings.Join(sortedKeys(s.ix.deployments), ",")},
	}, firstFilename(s.docs))
	if err != nil {
		return err
	}
	s.add(cm)
	return nil
}

// TestAddingAFilter: the how-to of docs/renderer.md works. One line adds
// the example filter to the pipeline; it edits Deployments as byte
// patches (the rest of each document keeps its bytes), its object is
// generated like the others, and Render still writes nothing else new.
func TestAddingAFilter(t *testing.T) {
	const in = "# Source: app/templates/web.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web   # kept\nspec:\n  template:\n    metadata:\n      labels: {app: web}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80}]\n"
	stages := append(slices.Clone(pipeline), stage{"team", func(e *env) filter { return newTeam(e) }})
	am := appmesh.Default()
	am.Metadata.Namespace = "shop"
	rs, err := runStages(am, nil, []byte(in), stages...)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := (Writer{}).Write(&out, rs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  labels:\n    example.dev/team: shop\n    app: web   # kept\n", // a byte patch: the comment stays
		"kind: ConfigMap\nmetadata:\n  name: team\n  namespace: shop\n",
		"deployments: web\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Negative control: without the line in the pipeline, none of it.
	rs, err = runStages(am, nil, []byte(in), pipeline...)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := (Writer{}).Write(&out, rs); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "example.dev/team") || strings.Contains(out.String(), "name: team") {
		t.Errorf("the plain pipeline wrote the example filter's edits:\n%s", out.String())
	}
}

// TestDocumentsParsedOnce: Render parses each document of the stream once
// (its tree is kept or dropped, never parsed again), on every golden input.
// The count to meet is the Reader's own parse of the stream, and a count
// of 0 fails, so a counter that counts nothing cannot pass.
func TestDocumentsParsedOnce(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*", "*.in.yaml"))
	if len(inputs) < 5 {
		t.Fatalf("found only %d golden inputs", len(inputs))
	}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		am := loadAppMesh(t, in)
		if strings.Contains(in, "canary") {
			am = canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 10))
		}
		before := parses.Load()
		if _, err := (Reader{}).Read(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		docs := parses.Load() - before
		before, again := parses.Load(), reparses.Load()
		if err := New(am, nil).Render(bytes.NewReader(data), io.Discard); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := parses.Load() - before; got != docs || docs == 0 {
			t.Errorf("%s: Render parsed %d times for %d documents", in, got, docs)
		}
		t.Logf("%s: %d documents, %d pruned ones parsed whole again", in, docs, reparses.Load()-again)
	}
}
