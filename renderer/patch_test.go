package renderer

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/meshbundle/meshbundle/appmesh"
)

// checkPatches asserts, for every patched document, that the patched bytes
// mean exactly what the edited node tree means: a patch may change the
// layout, never the content.
func checkPatches(t *testing.T, rs []*Resource) {
	t.Helper()
	for _, r := range rs {
		if r.dirty || len(r.patches) == 0 {
			continue
		}
		var fromPatch, fromTree any
		if err := yaml.Unmarshal(r.patched(), &fromPatch); err != nil {
			t.Fatalf("%s: patched document does not parse: %v\n%s", r, err, r.patched())
		}
		// Decode the tree itself: encoding it first would add yaml.v3's own
		// quirks (a flow "{0}" re-encodes as "{0: ''}").
		if err := r.doc.Decode(&fromTree); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromPatch, fromTree) {
			t.Errorf("%s: patched bytes differ from the edited tree\npatched:\n%s\ntree: %#v", r, r.patched(), fromTree)
		}
	}
}

// runFilters runs the whole pipeline, every tree kept, and returns the
// resources.
func runFilters(am *appmesh.AppMesh, data []byte) ([]*Resource, error) {
	return runStages(am, nil, data, pipeline...)
}

func TestPatchesMatchTree(t *testing.T) {
	tests := []struct {
		name string // layout being patched
		doc  string // a Deployment or Service in that layout
	}{
		{"block labels, no annotations", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    metadata:\n      labels:\n        app: a\n    spec: {}\n"},
		{"flow labels", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    metadata:\n      labels: {app: a}\n      annotations: {}\n"},
		{"comments and quoting", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    metadata:\n      # labels of the pod\n      \"labels\":\n        'app': \"a\" # trailing\n      annotations:\n        x: |\n          multi\n          line\n"},
		{"no template metadata", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      containers: []\n"},
		{"null annotations", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    metadata:\n      annotations:\n      labels: {app: a}\n"},
		{"indented sequence ports", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n    - port: 80\n    - name: \"web\"\n      port: 443\n"},
		{"flow ports", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports: [{port: 80}, {name: 'web', port: 443}]\n"},
		{"namespace without labels", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"},
		{"namespace with flow metadata", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"},
	}
	am, err := appmesh.Decode([]byte("apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: t, namespace: shop}\nspec:\n  ports: {mode: fix}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := runFilters(am, []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			var edited bool
			for _, r := range rs {
				edited = edited || r.dirty || len(r.patches) > 0
			}
			if !edited && !strings.Contains(tt.doc, "kind: ConfigMap") {
				t.Fatalf("nothing edited in\n%s", tt.doc)
			}
			checkPatches(t, rs)
		})
	}
}

// TestAliasedLabelsStayLocal: a pod template whose labels are a YAML alias
// of the selector gets its own copy; the selector keeps only its label.
func TestAliasedLabelsStayLocal(t *testing.T) {
	doc := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  selector:\n    matchLabels: &l {app: a}\n  template:\n    metadata:\n      labels: *l\n"
	rs, err := runFilters(appmesh.Default(), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := (Writer{}).Write(&out, rs); err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(out.Bytes()[4:], &obj); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(obj.Spec.Selector.MatchLabels) != 1 {
		t.Errorf("selector changed: %v\n%s", obj.Spec.Selector.MatchLabels, out.String())
	}
	if obj.Spec.Template.Metadata.Labels["sidecar.istio.io/inject"] != "true" || obj.Spec.Template.Metadata.Labels["app"] != "a" {
		t.Errorf("template labels = %v\n%s", obj.Spec.Template.Metadata.Labels, out.String())
	}
}
