package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// Helm 4 takes post-renderers only as plugins, and sends every document
// (hooks included) through them with the postrender-filename annotation it
// regroups the output by. This installs example-app with the real Helm 4
// CLI and meshbundle-postrender as a postrender/v1 subprocess plugin.
func TestHelm4PluginInstall(t *testing.T) {
	c, tl := setup(t)
	helm4, err := testcluster.Bin("helm4")
	if err != nil {
		t.Fatal(err)
	}
	plugins := t.TempDir()
	dir := filepath.Join(plugins, "meshbundle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := `apiVersion: v1
type: postrenderer/v1
name: meshbundle
version: 0.1.0
runtime: subprocess
runtimeConfig:
  platformCommand:
  - command: "` + tl.postrender + `"
`
	if err := os.WriteFile(filepath.Join(dir, "plugin.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"HELM_PLUGINS=" + plugins}
	ns := c.Namespace(t, nil)
	chart := filepath.Join("..", "..", "charts", "example-app")
	config := writeAppMesh(t, ns, meshOn)

	out, err := runHelm(t, helm4, tl.kubeconfig, env, "install", "example-app", chart, "-n", ns,
		"--post-renderer", "meshbundle", "--post-renderer-args", "--config="+config)
	if err != nil {
		t.Fatalf("helm4 install: %v\n%s", err, out)
	}
	var web corev1.Service
	get(t, c, ns, "web", &web)
	if web.Spec.Ports[0].Name != "http-web" {
		t.Errorf("Service web port = %q, want http-web", web.Spec.Ports[0].Name)
	}
	var vs istionet.VirtualService
	get(t, c, ns, "web", &vs)
	var alias corev1.Service
	get(t, c, ns, "storefront", &alias)
	// helm install returns before the Deployment controller creates pods
	// (no --wait); injection happens at pod creation, so once a pod exists
	// its containers are final.
	testcluster.WaitFor(t, "web pods", func() bool { return countPods(t, c, ns, "web") > 0 })
	if n := podsWithSidecar(t, c, ns, "web"); n == 0 {
		t.Error("no web pod carries istio-proxy")
	}
	// Helm 4 regrouped every generated object: the release manifest lists them.
	manifest, err = runHelm(t, helm4, tl.kubeconfig, env, "get", "manifest", "example-app", "-n", ns)
	if err != nil {
		t.Fatalf("helm4 get manifest: %v\n%s", err, manifest)
	}
	for _, want := range []string{"kind: VirtualService", "name: storefront", "name: meshbundle-example-app", "kind: ServiceEntry"} {
		if !strings.Contains(manifest, want) {
			t.Errorf("helm4 release manifest lacks %q", want)
		}
	}
	// The test hook went through the plugin too, untouched.
	hooks, err := runHelm(t, helm4, tl.kubeconfig, env, "get", "hooks", "example-app", "-n", ns)
	if err != nil {
		t.Fatalf("helm4 get hooks: %v\n%s", err, hooks)
	}
	if !strings.Contains(hooks, "example-app-test-connection") || strings.Contains(hooks, "sidecar.istio.io/inject") {
		t.Errorf("hooks after post-rendering:\n%s", hooks)
	}

	// A renderer error fails the Helm 4 install too and creates nothing.
	// Helm 4.2 buffers a postrender plugin's stderr and never prints it
	// (internal/plugin/runtime_subprocess.go runPostrenderer/executeCmd), so
	// only the exit is visible: "plugin \"meshbundle\" exited with error".
	ns2 := c.Namespace(t, nil)
	out, err = runHelm(t, helm4, tl.kubeconfig, env, "install", "bad", chart, "-n", ns2, "--post-renderer", "meshbundle")
	if err == nil || !strings.Contains(out, `plugin "meshbundle" exited with error`) {
		t.Errorf("helm4 install with enforced ports: err %v, output:\n%s", err, out)
	}
	var list corev1.ServiceList
	if err := c.Client.List(context.Background(), &list, client.InNamespace(ns2)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d Services created by a rejected Helm 4 install", len(list.Items))
	}
}
