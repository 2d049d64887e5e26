// Package e2e drives the post-renderer the way users call it, with the real
// CLIs on the local control plane (ci/testcluster with Istio's charts, so
// Istio objects are validated by a real istiod):
//
//   - Helm 4 (helm.sh/helm/v4 v4.2.0, `helm4`): the plugin in
//     plugins/helm-postrender installed with `helm plugin install <dir>`, then
//     install, upgrade and a rejected install through `--post-renderer meshbundle`.
//   - Helm 3: the `meshbundle postrender` form of the full CLI (renderer/e2e
//     already covers `--post-renderer meshbundle-postrender`).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// Istio's CRDs and a running istiod: the VirtualService and ServiceEntry the
// renderer generates go through Istio's real validation webhook.
func TestMain(m *testing.M) { testcluster.Main(m, testcluster.WithIstiod()) }

// filenameAnnotation is the annotation Helm 4 puts on every document before
// post-rendering and regroups the output by (helm.sh/helm/v4 pkg/action).
const filenameAnnotation = "postrenderer.helm.sh/postrender-filename"

// env is one isolated Helm home with the built binaries on PATH.
type env struct {
	root, kubeconfig, path string
	helmHome               []string
}

func newEnv(t *testing.T) (*testcluster.Cluster, env) {
	t.Helper()
	c := testcluster.Shared(t)
	root, err := testcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, pkg := range []string{"meshbundle-postrender", "meshbundle"} {
		if _, err := testcluster.BuildInto(bin, pkg); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	return c, env{
		root: root, kubeconfig: c.Kubeconfig,
		path:     bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		helmHome: []string{"HELM_CACHE_HOME=" + home + "/cache", "HELM_CONFIG_HOME=" + home + "/config", "HELM_DATA_HOME=" + home + "/data"},
	}
}

// run runs a CLI built by ci/tools.sh (helm, helm4) against the cluster and
// returns stdout and stderr separately.
func (e env) run(t *testing.T, tool string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin, berr := testcluster.Bin(tool)
	if berr != nil {
		t.Fatal(berr)
	}
	cmd := exec.Command(bin, append(args, "--kubeconfig", e.kubeconfig)...)
	cmd.Dir = e.root
	cmd.Env = append(append(os.Environ(), e.helmHome...), "PATH="+e.path)
	var o, s bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &s
	err = cmd.Run()
	return o.String(), s.String(), err
}

func writeAppMesh(t *testing.T, ns, spec string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "appmesh.yaml")
	doc := fmt.Sprintf("apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: example-app\n  namespace: %s\nspec:\n%s", ns, spec)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A route and an alias: objects the renderer generates, which Helm 4 must
// file under the template of the Service they came from.
const withRoute = `  ports:
    mode: fix
  routes:
  - service: web
    hosts: [shop.example.com]
  aliases:
  - name: api.shop.internal
    service: api
`

// The upgrade drops the route and switches injection off.
const withoutRoute = `  injection:
    enabled: false
  ports:
    mode: fix
`

func TestHelm4Plugin(t *testing.T) {
	c, e := newEnv(t)
	ctx := context.Background()
	ns := c.Namespace(t, nil)

	out, stderr, err := e.run(t, "helm4", "plugin", "install", filepath.Join(e.root, "plugins", "helm-postrender"))
	if err != nil {
		t.Fatalf("helm4 plugin install: %v\n%s%s", err, out, stderr)
	}
	out, _, err = e.run(t, "helm4", "plugin", "list")
	if err != nil || !strings.Contains(out, "postrenderer/v1") {
		t.Fatalf("helm4 plugin list: %v\n%s", err, out)
	}

	helm4 := func(verb, config string) (string, string, error) {
		return e.run(t, "helm4", verb, "example-app", "charts/example-app", "-n", ns,
			"--post-renderer", "meshbundle", "--post-renderer-args", "--config="+config)
	}

	// Install.
	if out, stderr, err := helm4("install", writeAppMesh(t, ns, withRoute)); err != nil {
		t.Fatalf("helm4 install: %v\n%s%s", err, out, stderr)
	}
	var web corev1.Service
	get(t, c, ns, "web", &web)
	if got := web.Spec.Ports[0].Name; got != "http-web" {
		t.Errorf("Service web port name = %q, want http-web (the plugin did not run the renderer)", got)
	}
	var vs istionet.VirtualService
	get(t, c, ns, "web", &vs)
	var se istionet.ServiceEntry
	get(t, c, ns, "api-alias-api-shop-internal", &se)

	// Helm 4 regrouped the renderer's output by the filename annotation:
	// every generated object sits in the file of the object it came from,
	// none in Helm's "generated-by-postrender-N.yaml" fallback, and the
	// annotation itself never reaches the cluster.
	manifest, _, err := e.run(t, "helm4", "get", "manifest", "example-app", "-n", ns)
	if err != nil {
		t.Fatalf("helm4 get manifest: %v", err)
	}
	sources := sourcesByObject(t, manifest)
	for obj, want := range map[string]string{
		"Service/web":        "example-app/templates/web.yaml",
		"VirtualService/web": "example-app/templates/web.yaml",
		"ServiceEntry/api-alias-api-shop-internal": "example-app/templates/api.yaml",
	} {
		if got := sources[obj]; got != want {
			t.Errorf("%s is filed under %q, want %q (all: %v)", obj, got, want, sources)
		}
	}
	for obj, src := range sources {
		if strings.Contains(src, "generated-by-postrender") {
			t.Errorf("%s lost its filename annotation: Helm 4 filed it under %s", obj, src)
		}
	}
	for _, obj := range []client.Object{&web, &vs, &se} {
		if v, ok := obj.GetAnnotations()[filenameAnnotation]; ok {
			t.Errorf("%T %s reached the cluster with %s=%s", obj, obj.GetName(), filenameAnnotation, v)
		}
	}

	// Upgrade: the route goes, injection flips off in the pod template.
	if out, stderr, err := helm4("upgrade", writeAppMesh(t, ns, withoutRoute)); err != nil {
		t.Fatalf("helm4 upgrade: %v\n%s%s", err, out, stderr)
	}
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &istionet.VirtualService{}); !apierrors.IsNotFound(err) {
		t.Errorf("VirtualService web after the upgrade dropped the route: err = %v, want NotFound", err)
	}
	dep := &unstructured.Unstructured{}
	dep.SetAPIVersion("apps/v1")
	dep.SetKind("Deployment")
	get(t, c, ns, "web", dep)
	if got, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "metadata", "labels", "sidecar.istio.io/inject"); got != "false" {
		t.Errorf("after upgrade Deployment web template inject label = %q, want false", got)
	}
	out, _, _ = e.run(t, "helm4", "history", "example-app", "-n", ns)
	if !strings.Contains(out, "Upgrade complete") {
		t.Errorf("helm4 history has no completed upgrade:\n%s", out)
	}

	// A failing render aborts: Helm 4 says the plugin failed, the renderer's
	// own message (object, field, fix) is on Helm's stderr, and no release
	// or object is created.
	bad := c.Namespace(t, nil)
	out, stderr, err = e.run(t, "helm4", "install", "bad", "charts/example-app", "-n", bad, "--post-renderer", "meshbundle")
	if err == nil {
		t.Fatalf("helm4 install with a failing render succeeded:\n%s", out)
	}
	for _, want := range []string{`plugin "meshbundle" exited with error`, "Service web (# Source: example-app/templates/web.yaml) port 80", `name it "http-web"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("helm4 stderr lacks %q:\n%s", want, stderr)
		}
	}
	if out != "" {
		t.Errorf("helm4 printed on stdout after a failing render:\n%s", out)
	}
	assertEmpty(t, c, bad)
	if out, _, err := e.run(t, "helm4", "status", "bad", "-n", bad); err == nil {
		t.Errorf("a release exists after the rejected install:\n%s", out)
	}
}

// TestHelm3MeshbundlePostrender: the full CLI as post-renderer,
// `--post-renderer meshbundle --post-renderer-args postrender ...`.
func TestHelm3MeshbundlePostrender(t *testing.T) {
	c, e := newEnv(t)
	ns := c.Namespace(t, nil)
	args := func(verb, release, ns string, extra ...string) []string {
		return append([]string{verb, release, "charts/example-app", "-n", ns, "--post-renderer", "meshbundle", "--post-renderer-args", "postrender"}, extra...)
	}
	config := "--config=" + writeAppMesh(t, ns, withRoute)
	for _, verb := range []string{"install", "upgrade"} {
		if out, stderr, err := e.run(t, "helm", args(verb, "example-app", ns, "--post-renderer-args", config)...); err != nil {
			t.Fatalf("helm %s: %v\n%s%s", verb, err, out, stderr)
		}
	}
	var vs istionet.VirtualService
	get(t, c, ns, "web", &vs)
	var web corev1.Service
	get(t, c, ns, "web", &web)
	if got := web.Spec.Ports[0].Name; got != "http-web" {
		t.Errorf("Service web port name = %q, want http-web", got)
	}

	// Failing render: Helm 3 quotes the post-renderer's stderr.
	bad := c.Namespace(t, nil)
	_, stderr, err := e.run(t, "helm", args("install", "bad", bad)...)
	if err == nil {
		t.Fatal("helm install with a failing render succeeded")
	}
	if !strings.Contains(stderr, `Service web (# Source: example-app/templates/web.yaml) port 80`) || !strings.Contains(stderr, `name it "http-web"`) {
		t.Errorf("helm stderr lacks the renderer's message:\n%s", stderr)
	}
	assertEmpty(t, c, bad)
}

// sourcesByObject maps "Kind/name" to the `# Source:` file Helm recorded it
// under in a release manifest.
func sourcesByObject(t *testing.T, manifest string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, doc := range strings.Split(manifest, "\n---") {
		var src string
		sc := bufio.NewScanner(strings.NewReader(doc))
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "# Source: "); ok {
				src = s
				break
			}
		}
		var obj unstructured.Unstructured
		if err := sigsyaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatalf("parse manifest document: %v\n%s", err, doc)
		}
		if obj.Object == nil {
			continue
		}
		out[obj.GetKind()+"/"+obj.GetName()] = src
	}
	return out
}

func assertEmpty(t *testing.T, c *testcluster.Cluster, ns string) {
	t.Helper()
	var list corev1.ServiceList
	if err := c.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d Services created in %s by a rejected install", len(list.Items), ns)
	}
}

func get(t *testing.T, c *testcluster.Cluster, ns, name string, obj client.Object) {
	t.Helper()
	if err := c.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %T %s/%s: %v", obj, ns, name, err)
	}
}
