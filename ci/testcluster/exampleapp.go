package testcluster

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/renderer"
)

// ExampleApp is the release name of charts/example-app in the e2e tests.
const ExampleApp = "example-app"

// InstallExampleApp installs charts/example-app into am's namespace the way
// an app team does: `helm install` through the meshbundle post-renderer
// with am (defaults set and validated first). It returns the namespace's
// Helm configuration; it does not wait for the pods.
func (c *Cluster) InstallExampleApp(t testing.TB, am *appmesh.AppMesh) *action.Configuration {
	t.Helper()
	appmesh.SetDefaults(am)
	if errs := appmesh.Validate(am); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	ch := ExampleAppChart(t)
	cfg, err := c.HelmConfig(am.Metadata.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = ExampleApp, am.Metadata.Namespace
	in.PostRenderer = renderer.New(am, nil)
	in.Timeout = time.Minute
	if _, err := in.RunWithContext(context.Background(), ch, map[string]any{}); err != nil {
		t.Fatalf("helm install %s through the post-renderer: %v", ExampleApp, err)
	}
	return cfg
}

// ExampleAppChart loads charts/example-app (for a routine `helm upgrade`).
func ExampleAppChart(t testing.TB) *chart.Chart {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(filepath.Join(root, "charts", "example-app"))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}
