package meshcheck

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"

	"github.com/meshbundle/meshbundle/renderer"
)

// The renderer satisfies Helm's post-renderer interface as it is, so the
// SDK users (installer, Argo CD plugin) pass it to action.Install directly.
var _ postrender.PostRenderer = (*renderer.Renderer)(nil)

// helmTemplate renders charts/example-app like `helm template example-app
// charts/example-app -n shop`, with the Helm SDK, optionally through a
// post-renderer.
func helmTemplate(t *testing.T, pr postrender.PostRenderer) (*release.Release, string, error) {
	t.Helper()
	chrt, err := loader.Load(filepath.Join("..", "..", "charts", "example-app"))
	if err != nil {
		t.Fatalf("load charts/example-app: %v", err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.DryRunOption, install.ClientOnly, install.Replace = true, "true", true, true
	install.ReleaseName, install.Namespace = "example-app", "shop"
	install.KubeVersion = &chartutil.KubeVersion{Version: "v1.34.0", Major: "1", Minor: "34"}
	install.PostRenderer = pr
	rel, err := install.RunWithContext(context.Background(), chrt, map[string]any{})
	if err != nil {
		return nil, "", err
	}
	// Same assembly as `helm template`: manifests, then hooks.
	var out bytes.Buffer
	fmt.Fprintln(&out, strings.TrimSpace(rel.Manifest))
	for _, h := range rel.Hooks {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return rel, out.String(), nil
}

// TestExampleAppInput keeps renderer/testdata/charts/example-app.in.yaml
// equal to what Helm renders from charts/example-app (UPDATE_GOLDEN=1
// refreshes it), so the golden, analyzer and simulation tests use the
// real chart.
func TestExampleAppInput(t *testing.T) {
	_, got, err := helmTemplate(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(chartsDir, "example-app.in.yaml")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s is stale: charts/example-app renders differently (UPDATE_GOLDEN=1 go test ./renderer/meshcheck -run TestExampleAppInput)\n%s", path, got)
	}
}

// TestHelmSDKPostRender installs (client-only dry run) the example chart
// with the renderer as Helm's post-renderer: the release manifest carries
// the renderer's edits, hooks are untouched, and a renderer error fails
// the install with the renderer's message.
func TestHelmSDKPostRender(t *testing.T) {
	c := loadChart(t, "example-app")
	rel, _, err := helmTemplate(t, renderer.New(c.am, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: http-web", "sidecar.istio.io/inject: \"true\"", "kind: VirtualService", "name: storefront", "name: meshbundle-example-app"} {
		if !strings.Contains(rel.Manifest, want) {
			t.Errorf("release manifest lacks %q", want)
		}
	}
	for _, h := range rel.Hooks {
		if strings.Contains(h.Manifest, "sidecar.istio.io/inject") {
			t.Errorf("hook %s was injected:\n%s", h.Name, h.Manifest)
		}
	}

	// Default config enforces port names: the chart's "web" port fails.
	_, _, err = helmTemplate(t, renderer.New(nil, nil))
	if err == nil || !strings.Contains(err.Error(), `Service web (# Source: example-app/templates/web.yaml) port 80 (spec.ports[0].name "web")`) {
		t.Errorf("install with enforce mode: err = %v, want the renderer's port error", err)
	}
}
