package renderer

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestReleasedTreesChangeNothing proves the memory saving of Render
// (document trees released once read unless a filter keeps them, facts
// read instead of trees) keeps the output: for every golden input, Render
// writes the same bytes, and so the same objects, as the same pipeline
// keeping every tree.
func TestReleasedTreesChangeNothing(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*", "*.in.yaml"))
	if len(inputs) < 5 {
		t.Fatalf("found only %d golden inputs", len(inputs))
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(in, "testdata/"), ".in.yaml"), func(t *testing.T) {
			am := loadAppMesh(t, in)
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var streamed bytes.Buffer
			if err := New(am, nil).Render(bytes.NewReader(data), &streamed); err != nil {
				t.Fatal(err)
			}
			rs, err := runFilters(am, data)
			if err != nil {
				t.Fatal(err)
			}
			sameObjects(t, streamed.Bytes(), rs)
			// One engine for both: the bytes are the same too.
			var listed bytes.Buffer
			if err := (Writer{}).Write(&listed, rs); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(streamed.Bytes(), listed.Bytes()) {
				t.Errorf("Render and the pipeline keeping every tree wrote different bytes")
			}
		})
	}
}

// sameObjects fails t unless streamed (Render's output) holds the objects
// the list pipeline's resources rs print as, in order.
func sameObjects(t *testing.T, streamed []byte, rs []*Resource) {
	t.Helper()
	var listed bytes.Buffer
	if err := (Writer{}).Write(&listed, rs); err != nil {
		t.Fatal(err)
	}
	got, want := objects(t, streamed), objects(t, listed.Bytes())
	if len(got) != len(want) {
		t.Fatalf("Render wrote %d objects, the list pipeline %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			g, _ := yaml.Marshal(got[i])
			w, _ := yaml.Marshal(want[i])
			t.Errorf("object %d differs:\nRender:\n%s\nlist pipeline:\n%s", i, g, w)
		}
	}
}

// objects decodes a stream into generic objects, in order.
func objects(t *testing.T, stream []byte) []map[string]any {
	t.Helper()
	rs, err := Reader{}.Read(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, 0, len(rs))
	for _, r := range rs {
		var m map[string]any
		if err := yaml.Unmarshal(r.raw, &m); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		out = append(out, m)
	}
	return out
}
