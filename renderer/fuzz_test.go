package renderer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"
)

// FuzzRender feeds arbitrary streams to the full pipeline (with an AppMesh
// that turns every filter on): it must never panic, and either fail with
// nothing written or produce output that reads back as a stream and means
// what the keep-every-tree pipeline writes.
// The seed corpus is every input under testdata.
func FuzzRender(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*", "*.in.yaml"))
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	am, err := appmesh.Decode([]byte(`apiVersion: meshbundle.dev/v1alpha1
kind: AppMesh
metadata: {name: fuzz, namespace: shop}
spec:
  injection: {emitNamespace: true}
  ports: {mode: fix}
`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if err := New(am, nil).Render(bytes.NewReader(data), &out); err != nil {
			if out.Len() != 0 {
				t.Fatalf("error %v but %d bytes written", err, out.Len())
			}
			return
		}
		if _, err := (Reader{Namespace: "shop"}).Read(bytes.NewReader(out.Bytes())); err != nil {
			t.Fatalf("output does not read back: %v\n%s", err, out.Bytes())
		}
		rs, err := runFilters(am, data)
		if err != nil {
			t.Fatalf("second run failed: %v", err)
		}
		checkPatches(t, rs)
		// Render's streaming (trees released, facts read) means the same
		// as the pipeline that keeps every tree.
		sameObjects(t, out.Bytes(), rs)
	})
}
