package renderer

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"

	"github.com/meshbundle/meshbundle/internal/golden"
)

// Golden files: testdata/<filter>/<case>.in.yaml is the rendered chart,
// <case>.appmesh.yaml the AppMesh (optional: defaults), <case>.golden.yaml
// the expected output. UPDATE_GOLDEN=1 go test ./renderer rewrites them.

// loadAppMesh reads the AppMesh next to an input, or returns the defaults.
func loadAppMesh(t testing.TB, in string) *appmesh.AppMesh {
	t.Helper()
	path := strings.TrimSuffix(in, ".in.yaml") + ".appmesh.yaml"
	if _, err := os.Stat(path); err != nil {
		return appmesh.Default()
	}
	am, err := appmesh.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return am
}

// compareGolden compares got with the golden file of in, or rewrites it.
func compareGolden(t *testing.T, in string, got []byte) {
	t.Helper()
	golden.Check(t, strings.TrimSuffix(in, ".in.yaml")+".golden.yaml", got, "UPDATE_GOLDEN=1 go test ./renderer")
}

// stageByName is one stage of the pipeline, for the golden tests.
func stageByName(t testing.TB, name string) stage {
	for _, st := range pipeline {
		if st.name == name {
			return st
		}
	}
	t.Fatalf("no stage %q in the pipeline", name)
	return stage{}
}

// runStages runs the stages on data as Render does, every tree kept.
func runStages(am *appmesh.AppMesh, warn io.Writer, data []byte, stages ...stage) ([]*Resource, error) {
	s, err := New(am, warn).run(bytes.NewReader(data), stages, true)
	if err != nil {
		return nil, err
	}
	return s.docs, nil
}

// goldenElsewhere are stages whose golden files another test renders.
var goldenElsewhere = map[string]string{"canary": "TestCanaryGolden (every phase)"}

// TestFilterGolden runs each stage of the pipeline alone on its small
// inputs (testdata/<stage>/), so a golden diff points at one filter.
func TestFilterGolden(t *testing.T) {
	for _, st := range pipeline {
		filter := st.name
		if _, ok := goldenElsewhere[filter]; ok {
			continue
		}
		inputs, _ := filepath.Glob(filepath.Join("testdata", filter, "*.in.yaml"))
		if len(inputs) == 0 {
			t.Errorf("no golden inputs for filter %s", filter)
		}
		for _, in := range inputs {
			t.Run(filter+"/"+strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
				am := loadAppMesh(t, in)
				data, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				var warnings bytes.Buffer
				rs, err := runStages(am, &warnings, data, stageByName(t, filter))
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				if err := (Writer{}).Write(&out, rs); err != nil {
					t.Fatal(err)
				}
				if warnings.Len() > 0 {
					out.WriteString("# warnings:\n# " + strings.ReplaceAll(strings.TrimSpace(warnings.String()), "\n", "\n# ") + "\n")
				}
				compareGolden(t, in, out.Bytes())
			})
		}
	}
}

// TestChartGolden runs the whole pipeline on realistic rendered charts and
// checks that it is deterministic.
func TestChartGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "charts", "*.in.yaml"))
	if len(inputs) == 0 {
		t.Fatal("no chart inputs")
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			am := loadAppMesh(t, in)
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var out, again bytes.Buffer
			if err := New(am, nil).Render(bytes.NewReader(data), &out); err != nil {
				t.Fatal(err)
			}
			if err := New(am, nil).Render(bytes.NewReader(data), &again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), again.Bytes()) {
				t.Error("two renders of the same input differ")
			}
			compareGolden(t, in, out.Bytes())
			checkFilenames(t, data, out.Bytes())
		})
	}
}

// checkFilenames: when every input document carries Helm 4's post-render
// filename, so must every output document (generated ones included), or
// Helm 4 cannot regroup them.
func checkFilenames(t *testing.T, in, out []byte) {
	t.Helper()
	ins, err := Reader{}.Read(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ins {
		if r.Filename() == "" {
			return // a Helm 3 stream
		}
	}
	outs, err := Reader{}.Read(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range outs {
		if r.Filename() == "" {
			t.Errorf("%s has no %s annotation", r, postRenderFilenameAnnotation)
		}
	}
}
