package chartgen

import (
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
)

// TestChartRenders loads and renders a generated chart with the Helm SDK
// (what `helm template` runs) and checks the shape the benchmark relies on.
func TestChartRenders(t *testing.T) {
	const n = 8
	dir := filepath.Join(t.TempDir(), "chart")
	if err := Write(dir, n); err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(ch, nil, chartutil.ReleaseOptions{Name: Name, Namespace: "shop"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != n {
		t.Fatalf("rendered %d templates, want %d", len(out), n)
	}
	for i := range n {
		doc := out[Name+"/templates/"+ServiceName(i)+".yaml"]
		// ~1 KB per pair is the size DESIGN §7's budget is stated for.
		if len(doc) < 900 || len(doc) > 1300 {
			t.Errorf("pair %d renders %d bytes, want about 1 KB", i, len(doc))
		}
		wantPort := "- name: http\n"
		if HasBadPort(i) {
			wantPort = "- name: web\n"
		}
		if !strings.Contains(doc, wantPort) {
			t.Errorf("pair %d: Service port %q missing in\n%s", i, wantPort, doc)
		}
		for _, want := range []string{"kind: Deployment", "readinessProbe", "port: http", "memory: 128Mi", "instance: " + Name} {
			if !strings.Contains(doc, want) {
				t.Errorf("pair %d: %q missing in\n%s", i, want, doc)
			}
		}
	}
}

func TestWriteRejectsEmptyChart(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "chart"), 0); err == nil {
		t.Fatal("Write accepted a chart of 0 pairs")
	}
}

// TestWideChartsRender: each wide chart renders, with the Helm SDK, into
// one document holding all n entries.
func TestWideChartsRender(t *testing.T) {
	const n = 50
	for kind, entry := range map[string]string{WideConfigMap: "  key-49: value-49\n", WideService: "example.dev/note-49:", WideContainers: "- name: c49\n", WideEnv: "- name: VAR_49\n"} {
		dir := filepath.Join(t.TempDir(), "chart")
		if err := WriteWide(dir, kind, n); err != nil {
			t.Fatal(err)
		}
		ch, err := loader.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := chartutil.ToRenderValues(ch, nil, chartutil.ReleaseOptions{Name: Name, Namespace: "shop"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := engine.Render(ch, vals)
		if err != nil {
			t.Fatal(err)
		}
		doc := out[Name+"/templates/wide.yaml"]
		if !strings.Contains(doc, entry) || strings.Count(doc, "\n---") > 0 {
			t.Errorf("%s: the rendered document lacks entry %d or is split:\n%.300s", kind, n-1, doc)
		}
	}
	if err := WriteWide(t.TempDir(), "Secret", 1); err == nil {
		t.Error("an unknown wide kind was written")
	}
}
