package meshcheck

import (
	"path/filepath"
	"strings"
	"testing"

	"istio.io/istio/pkg/config/analysis/analyzers"
	"istio.io/istio/pkg/config/analysis/diag"
	"istio.io/istio/pkg/config/analysis/local"
	"istio.io/istio/pkg/config/analysis/msg"
	"istio.io/istio/pkg/config/resource"
)

func chartNames(t testing.TB) []string {
	inputs, _ := filepath.Glob(filepath.Join(chartsDir, "*.in.yaml"))
	if len(inputs) == 0 {
		t.Fatal("no charts under " + chartsDir)
	}
	var names []string
	for _, in := range inputs {
		names = append(names, strings.TrimSuffix(filepath.Base(in), ".in.yaml"))
	}
	return names
}

// analyze runs all of Istio's analyzers on the objects.
func analyze(t *testing.T, ns, objects string) diag.Messages {
	t.Helper()
	sa := local.NewIstiodAnalyzer(analyzers.AllCombined(), resource.Namespace(ns), resource.Namespace("istio-system"), nil)
	// The test reader keeps Services, Pods and Namespaces (the plain reader
	// drops them, so IST0118 could never fire); it must come before the
	// default resources.
	if err := sa.AddTestReaderKubeSource([]local.ReaderSource{{Name: "rendered", Reader: strings.NewReader(objects)}}); err != nil {
		t.Fatal(err)
	}
	if err := sa.AddDefaultResources(); err != nil {
		t.Fatal(err)
	}
	res, err := sa.Analyze(make(chan struct{}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Messages
}

// TestAnalyzers: no error-level message on any chart's output (plus the
// gateway the routes reference).
func TestAnalyzers(t *testing.T) {
	for _, name := range chartNames(t) {
		t.Run(name, func(t *testing.T) {
			c := loadChart(t, name)
			out := applied(t, c.am.Metadata.Namespace, c.render(t))
			msgs := analyze(t, c.am.Metadata.Namespace, join(ingressGateway.kube, ingressGateway.istio, out.kube, out.istio))
			for _, m := range msgs {
				if m.Type.Level() == diag.Error {
					t.Errorf("analyzer error: %s", m.String())
				} else {
					t.Logf("%s", m.String())
				}
			}
		})
	}
}

// TestAnalyzerSeesBadPortName proves the analysis above can fail: on the
// example chart as Helm renders it (no post-renderer) IST0118 fires for
// web's "web" port, and after the renderer's fix it does not.
func TestAnalyzerSeesBadPortName(t *testing.T) {
	c := loadChart(t, "example-app")
	count := func(stream []byte) int {
		out := applied(t, "shop", stream)
		n := 0
		for _, m := range analyze(t, "shop", join(out.kube, out.istio)) {
			if m.Type.Code() == msg.PortNameIsNotUnderNamingConvention.Code() {
				if !strings.Contains(m.String(), "Service shop/web") {
					t.Errorf("IST0118 on an unexpected object: %s", m.String())
				}
				n++
			}
		}
		return n
	}
	if n := count(c.in); n != 1 {
		t.Errorf("IST0118 on the raw chart: %d messages, want 1", n)
	}
	if n := count(c.render(t)); n != 0 {
		t.Errorf("IST0118 after the renderer: %d messages, want 0", n)
	}
}
