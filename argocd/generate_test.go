package argocd_test

// How Argo CD is exercised here: Argo CD's cmp-server
// (github.com/argoproj/argo-cd/v3/cmpserver) and its plugin types do not build
// from the Go module proxy at any pinned version this Go can use (checked
// 2026-11: v3.6.x needs Go 1.27; v3.5.7 needs
// github.com/argoproj/argo-cd/gitops-engine at a pseudo-version the proxy
// refuses with 403, because Argo CD's go.mod replaces it with the in-repo
// ./gitops-engine). So these tests run the real `meshbundle argocd generate`
// binary the way cmp-server runs a plugin's generate command: in a copy of
// the repository, working directory <checkout>/<ARGOCD_APP_SOURCE_PATH>, with
// the build environment Argo CD documents (user-guide/build-environment.md:
// ARGOCD_APP_NAME, ARGOCD_APP_NAMESPACE, ARGOCD_APP_PROJECT_NAME,
// ARGOCD_APP_REVISION, ARGOCD_APP_REVISION_SHORT(_8), ARGOCD_APP_SOURCE_PATH,
// ARGOCD_APP_SOURCE_REPO_URL, ARGOCD_APP_SOURCE_TARGET_REVISION,
// KUBE_VERSION, KUBE_API_VERSIONS), the Application's plugin env as
// ARGOCD_ENV_<NAME>, and its parameters as ARGOCD_APP_PARAMETERS plus
// PARAM_<NAME> (config-management-plugins.md). The command line is taken
// from the plugin.yaml that charts/argocd-plugin renders.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/argocd"
	"github.com/meshbundle/meshbundle/ci/testcluster"
)

const sourcePath = "apps/shop"

// checkout lays out a repository as cmp-server receives it: the app chart
// (a copy of charts/example-app plus a template reporting what Helm saw) in
// apps/shop with its AppMesh and values files, and a file outside the app.
// files overrides or adds files relative to the app directory.
func checkout(t *testing.T, files map[string]string) (root, appDir string) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "_cmp_server", "5a0b6c3e")
	appDir = filepath.Join(root, sourcePath)
	repo, err := testcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(appDir, os.DirFS(filepath.Join(repo, "charts", "example-app"))); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		"appmesh.yaml":     "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: shop\n  namespace: shop\nspec:\n  ports:\n    mode: fix\n  routes:\n  - service: web\n    hosts: [shop.example.com]\n",
		"values-prod.yaml": "web:\n  replicas: 3\n",
		// What the chart saw: release, namespace, capabilities.
		"templates/seen.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: seen
data:
  release: {{ .Release.Name | quote }}
  namespace: {{ .Release.Namespace | quote }}
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
  tier: {{ .Values.tier | default "none" | quote }}
`,
		"../../secrets.yaml": "web:\n  replicas: 9\n",
	}
	for name, data := range files {
		base[name] = data
	}
	for name, data := range base {
		path := filepath.Join(appDir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if data == "" {
			continue // an empty entry removes nothing but creates the directory
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, appDir
}

// argoEnv is the environment cmp-server gives the generate command.
func argoEnv(params string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"ARGOCD_APP_NAME=shop",
		"ARGOCD_APP_NAMESPACE=shop",
		"ARGOCD_APP_PROJECT_NAME=default",
		"ARGOCD_APP_REVISION=f913b6cbf58aa5ae5ca1f8a2b149477aebcbd9d8",
		"ARGOCD_APP_REVISION_SHORT=f913b6c",
		"ARGOCD_APP_REVISION_SHORT_8=f913b6cb",
		"ARGOCD_APP_SOURCE_PATH=" + sourcePath,
		"ARGOCD_APP_SOURCE_REPO_URL=https://git.example.com/shop.git",
		"ARGOCD_APP_SOURCE_TARGET_REVISION=main",
		"KUBE_VERSION=1.33.2",
		"KUBE_API_VERSIONS=v1,apps/v1,networking.istio.io/v1,monitoring.coreos.com/v1,monitoring.coreos.com/v1/ServiceMonitor",
	}
	if params != "" {
		env = append(env, "ARGOCD_APP_PARAMETERS="+params)
	}
	return append(env, extra...)
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// generateCommand is spec.generate.command of the plugin.yaml that
// charts/argocd-plugin renders, with meshbundle built from this tree on PATH.
func generateCommand(t *testing.T) []string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "meshbundle-argocd-")
		if buildErr != nil {
			return
		}
		_, buildErr = testcluster.BuildInto(binDir, "meshbundle")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	cmp := pluginConfig(t)
	cmd := append([]string(nil), cmp.Spec.Generate.Command...)
	cmd = append(cmd, cmp.Spec.Generate.Args...)
	if len(cmd) == 0 || cmd[0] != "meshbundle" {
		t.Fatalf("plugin.yaml generate command = %v, want meshbundle ...", cmd)
	}
	cmd[0] = filepath.Join(binDir, "meshbundle")
	return cmd
}

// cmpPlugin is the part of Argo CD's ConfigManagementPlugin this test uses;
// Argo CD's own type (cmpserver/plugin.PluginConfig) does not build here.
type cmpPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version  string `json:"version"`
		Discover struct {
			FileName string `json:"fileName"`
		} `json:"discover"`
		Generate struct {
			Command []string `json:"command"`
			Args    []string `json:"args"`
		} `json:"generate"`
		Parameters struct {
			Static []struct {
				Name           string `json:"name"`
				Title          string `json:"title"`
				CollectionType string `json:"collectionType"`
				String         string `json:"string"`
			} `json:"static"`
		} `json:"parameters"`
	} `json:"spec"`
}

// pluginConfig renders charts/argocd-plugin with the Helm SDK and decodes
// its plugin.yaml.
func pluginConfig(t *testing.T) cmpPlugin {
	t.Helper()
	cm := pluginConfigMap(t)
	var p cmpPlugin
	if err := yaml.UnmarshalStrict([]byte(cm.Data["plugin.yaml"]), &p, yaml.DisallowUnknownFields); err != nil {
		t.Fatalf("plugin.yaml in ConfigMap %s: %v\n%s", cm.Name, err, cm.Data["plugin.yaml"])
	}
	return p
}

func pluginConfigMapName(t *testing.T) string { return pluginConfigMap(t).Name }

// pluginConfigMap is the ConfigMap charts/argocd-plugin renders.
func pluginConfigMap(t *testing.T) corev1.ConfigMap {
	t.Helper()
	repo, err := testcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(filepath.Join(repo, "charts", "argocd-plugin"))
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.ReleaseName, install.Namespace = true, true, "meshbundle-cmp", "argocd"
	rel, err := install.Run(ch, nil)
	if err != nil {
		t.Fatalf("render charts/argocd-plugin: %v", err)
	}
	var cm corev1.ConfigMap
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
			t.Fatal(err)
		}
	}
	return cm
}

// run runs the generate command in dir with env; it returns stdout, stderr.
func run(t *testing.T, dir string, env []string) (string, string, error) {
	t.Helper()
	argv := generateCommand(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // Argo CD's default exec timeout
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func TestPluginYAML(t *testing.T) {
	p := pluginConfig(t)
	if p.APIVersion != "argoproj.io/v1alpha1" || p.Kind != "ConfigManagementPlugin" || p.Metadata.Name != "meshbundle" || p.Spec.Version != "v1" {
		t.Errorf("plugin.yaml header: %+v", p)
	}
	// discover.fileName is a glob relative to the app directory: it must
	// match the AppMesh file generate reads by default.
	if m, err := filepath.Match(filepath.Clean(p.Spec.Discover.FileName), argocd.DefaultAppMesh); err != nil || !m {
		t.Errorf("discover.fileName %q does not match %s", p.Spec.Discover.FileName, argocd.DefaultAppMesh)
	}
	announced := map[string]string{}
	for _, s := range p.Spec.Parameters.Static {
		announced[s.Name] = s.CollectionType
	}
	want := map[string]string{argocd.ParamAppMesh: "", argocd.ParamValuesFiles: "array", argocd.ParamValues: "", argocd.ParamSet: "map", argocd.ParamRelease: ""}
	if fmt.Sprint(announced) != fmt.Sprint(want) {
		t.Errorf("announced parameters %v, want %v", announced, want)
	}
}

func TestGenerate(t *testing.T) {
	root, app := checkout(t, nil)
	params := `[{"name":"values-files","array":["values-prod.yaml"]},{"name":"values","string":"tier: gold\n"},{"name":"set","map":{"api.replicas":"4"}}]`
	env := argoEnv(params, "PARAM_VALUES_FILES_0=values-prod.yaml", "PARAM_VALUES=tier: gold\n", "PARAM_SET_API_REPLICAS=4")
	out, stderr, err := run(t, app, env)
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, stderr)
	}
	objs := map[string]map[string]any{}
	for _, doc := range releaseutil.SplitManifests(out) {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, doc)
		}
		md, _ := o["metadata"].(map[string]any)
		objs[fmt.Sprintf("%s/%v", o["kind"], md["name"])] = o
	}
	seen := objs["ConfigMap/seen"]["data"]
	if got := fmt.Sprint(seen); got != "map[kubeVersion:v1.33.2 monitoring:true namespace:shop release:shop tier:gold]" {
		t.Errorf("the chart saw %s", got)
	}
	for obj, want := range map[string]string{
		"Deployment/web": "3", // values-prod.yaml
		"Deployment/api": "4", // set map
	} {
		if got := fmt.Sprint(objs[obj]["spec"].(map[string]any)["replicas"]); got != want {
			t.Errorf("%s replicas = %s, want %s", obj, got, want)
		}
	}
	for _, want := range []string{"VirtualService/web", "ConfigMap/meshbundle-shop", "Pod/shop-test-connection"} {
		if objs[want] == nil {
			t.Errorf("output lacks %s; has %d objects", want, len(objs))
		}
	}
	if !strings.Contains(out, "name: http-web") {
		t.Errorf("the renderer did not fix the web port name:\n%s", out)
	}

	// Deterministic: a second run, and one in a second checkout, print the
	// same bytes, so Argo CD never shows a diff that is not a change.
	again, _, err := run(t, app, env)
	if err != nil || again != out {
		t.Errorf("second run differs (err %v)", err)
	}
	_, app2 := checkout(t, nil)
	if other, _, err := run(t, app2, env); err != nil || other != out {
		t.Errorf("run in another checkout differs (err %v)", err)
	}
	_ = root

	// Without the JSON, PARAM_<NAME> carries string and array parameters.
	noJSON := argoEnv("", "PARAM_VALUES_FILES_0=values-prod.yaml", "ARGOCD_ENV_RELEASE_NAME=shop")
	out2, stderr, err := run(t, app, noJSON)
	if err != nil {
		t.Fatalf("generate with PARAM_ variables: %v\n%s", err, stderr)
	}
	if !strings.Contains(out2, "replicas: 3") {
		t.Errorf("PARAM_VALUES_FILES_0 was not applied")
	}
}

func TestGenerateFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string            // what is wrong
		files  map[string]string // files written into the app directory
		params string            // ARGOCD_APP_PARAMETERS
		extra  []string          // more environment
		want   string            // in stderr
	}{
		{name: "port the renderer rejects (ports enforced)",
			files: map[string]string{"appmesh.yaml": "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: shop\n"},
			want:  `name it "http-web"`},
		{name: "AppMesh typo",
			files: map[string]string{"appmesh.yaml": "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: shop\nspec:\n  injection:\n    enable: true\n"},
			want:  `unknown field "spec.injection.enable"`},
		{name: "AppMesh namespace differs from the destination",
			files: map[string]string{"appmesh.yaml": "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: shop\n  namespace: other\nspec:\n  ports:\n    mode: fix\n"},
			want:  `differs from the Application's destination namespace "shop"`},
		{name: "values file missing", params: `[{"name":"values-files","array":["values-nope.yaml"]}]`,
			want: `values file (parameter values-files) "values-nope.yaml"`},
		{name: "values file outside the checkout", params: `[{"name":"values-files","array":["../../../../etc-passwd.yaml"]}]`,
			files: map[string]string{"../../../../etc-passwd.yaml": "x: 1\n"},
			want:  "outside the repository checkout"},
		{name: "parameters not JSON", params: `{"name":`, want: "ARGOCD_APP_PARAMETERS"},
		{name: "unknown parameter", params: `[{"name":"valuesFiles","array":["a.yaml"]}]`, want: `unknown plugin parameter "valuesFiles"`},
		{name: "array given as string", params: `[{"name":"values-files","string":"a.yaml"}]`, want: "want an array"},
		{name: "template fails",
			files: map[string]string{"templates/fail.yaml": "{{ fail \"chart says no\" }}\n"},
			want:  "chart says no"},
		{name: "chart renders nothing", params: `[{"name":"values","string":"web: {replicas: 1}"}]`,
			files: map[string]string{"appmesh.yaml": "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: shop\n", "templates/web.yaml": "# nothing\n", "templates/api.yaml": "# nothing\n", "templates/seen.yaml": "# nothing\n", "templates/tests/test-connection.yaml": "# nothing\n"},
			want:  "refusing to print a manifest Argo CD would prune"},
		{name: "chart dependency not vendored",
			files: map[string]string{"Chart.yaml": "apiVersion: v2\nname: example-app\nversion: 0.1.0\ndependencies:\n- name: redis\n  version: 1.0.0\n  repository: https://charts.example.com\n"},
			want:  "run `helm dependency build` and commit charts/"},
		{name: "KUBE_VERSION unparsable", extra: []string{"KUBE_VERSION=banana"}, want: `KUBE_VERSION "banana"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, app := checkout(t, tc.files)
			env := argoEnv(tc.params, tc.extra...)
			out, stderr, err := run(t, app, env)
			if err == nil {
				t.Fatalf("generate succeeded:\n%s", out)
			}
			if out != "" {
				t.Errorf("stdout not empty on failure (%d bytes): Argo CD could apply or prune with it", len(out))
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
		})
	}
}

// TestGenerateManyObjects: an app with 2 000 Deployment+Service pairs
// (4 000 objects, ~2 MB) renders well inside Argo CD's 60 s exec timeout.
func TestGenerateManyObjects(t *testing.T) {
	_, app := checkout(t, map[string]string{
		"templates/many.yaml": `{{- range $i := until 2000 }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{{ $i }}
spec:
  selector: {matchLabels: {app: svc-{{ $i }}}}
  template:
    metadata: {labels: {app: svc-{{ $i }}}}
    spec:
      containers: [{name: app, image: "registry.example/app:1", ports: [{containerPort: 8080, name: http}]}]
---
apiVersion: v1
kind: Service
metadata:
  name: svc-{{ $i }}
spec:
  selector: {app: svc-{{ $i }}}
  ports: [{name: web, port: 80, targetPort: http}]
{{- end }}
`})
	generateCommand(t) // build first: time only the render
	start := time.Now()
	out, stderr, err := run(t, app, argoEnv(""))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, stderr)
	}
	if n := strings.Count(out, "name: http-web"); n < 2000 {
		t.Errorf("%d Service ports fixed, want >= 2000", n)
	}
	t.Logf("4 000 objects in %s (%d bytes)", took.Round(time.Millisecond), len(out))
	if took > 20*time.Second {
		t.Errorf("generate took %s for 4 000 objects: too close to Argo CD's 60 s exec timeout", took)
	}
}
