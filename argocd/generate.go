package argocd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/renderer"
)

// Generate renders the chart in dir (the app's directory in Argo CD's
// checkout, the generate command's working directory) and writes the
// manifests to out. It writes to out only when everything succeeded and the
// result holds at least one object: an empty "successful" output would make
// Argo CD prune the whole app. Renderer warnings go to warn.
func Generate(dir string, p Params, out, warn io.Writer) error {
	dir, root, err := appDir(dir, p)
	if err != nil {
		return err
	}
	amPath, err := inside(root, dir, p.AppMesh, "AppMesh file (parameter "+ParamAppMesh+")")
	if err != nil {
		return err
	}
	am, err := appmesh.Load(amPath)
	if err != nil {
		return err
	}
	return render(root, dir, p, am, out, warn)
}

// Render renders the chart in dir, as Generate does, with am instead of the
// AppMesh file: what Argo CD would render once am is committed. `meshbundle
// canary` (GitOps mode) checks each step with it before committing.
func Render(dir string, p Params, am *appmesh.AppMesh, out, warn io.Writer) error {
	dir, root, err := appDir(dir, p)
	if err != nil {
		return err
	}
	return render(root, dir, p, am, out, warn)
}

// appDir is the app's directory made absolute and the root of the checkout
// holding it.
func appDir(dir string, p Params) (abs, root string, err error) {
	if abs, err = filepath.Abs(dir); err != nil {
		return "", "", err
	}
	root, err = checkoutRoot(abs, p.SourcePath)
	return abs, root, err
}

func render(root, dir string, p Params, am *appmesh.AppMesh, out, warn io.Writer) error {
	if ns := am.Metadata.Namespace; ns != "" && p.Namespace != "" && ns != p.Namespace {
		return fmt.Errorf("AppMesh %s metadata.namespace %q differs from the Application's destination namespace %q (fix: make them equal, or drop metadata.namespace)", p.AppMesh, ns, p.Namespace)
	}

	ch, err := loader.Load(dir)
	if err != nil {
		return fmt.Errorf("load chart in %s: %w (fix: the app directory must be a Helm chart with Chart.yaml)", displayPath(root, dir), err)
	}
	if deps := ch.Metadata.Dependencies; len(deps) > 0 {
		if err := action.CheckDependencies(ch, deps); err != nil {
			return fmt.Errorf("chart %s: %w (fix: run `helm dependency build` and commit charts/)", ch.Name(), err)
		}
	}
	vals, err := p.values(root, dir)
	if err != nil {
		return err
	}

	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.IncludeCRDs = true
	install.DisableOpenAPIValidation = true
	install.ReleaseName = p.ReleaseName
	install.Namespace = p.Namespace
	if p.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(p.KubeVersion)
		if err != nil {
			return fmt.Errorf("KUBE_VERSION %q: %w (fix: Argo CD sets it to the destination cluster's version, e.g. 1.31.0; unset it to render for Helm's default)", p.KubeVersion, err)
		}
		install.KubeVersion = kv
	}
	install.APIVersions = chartutil.VersionSet(p.APIVersions)
	install.PostRenderer = requireObjects{chart: ch.Name(), next: renderer.New(am, warn)}
	rel, err := install.Run(ch, vals)
	if err != nil {
		return fmt.Errorf("render chart %s as release %s: %w", ch.Name(), p.ReleaseName, err)
	}

	var buf bytes.Buffer
	buf.WriteString(strings.TrimSpace(rel.Manifest))
	buf.WriteString("\n")
	// Hooks as `helm template` prints them, in the order Helm sorted them
	// (Argo CD maps Helm hooks to its own); the renderer leaves hooks alone.
	for _, h := range rel.Hooks {
		fmt.Fprintf(&buf, "---\n# Source: %s\n%s\n", h.Path, strings.TrimSpace(h.Manifest))
	}
	_, err = out.Write(buf.Bytes())
	return err
}

// values merges, lowest first: the values files, the inline values, the set
// map (as --set, keys in sorted order so the result is deterministic).
func (p Params) values(root, dir string) (map[string]any, error) {
	var opts values.Options
	for _, f := range p.ValuesFiles {
		path, err := inside(root, dir, strings.TrimSpace(f), "values file (parameter "+ParamValuesFiles+")")
		if err != nil {
			return nil, err
		}
		opts.ValueFiles = append(opts.ValueFiles, path)
	}
	vals, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		return nil, fmt.Errorf("values files: %w (fix: correct the YAML of the values file named)", err)
	}
	if strings.TrimSpace(p.Values) != "" {
		inline := map[string]any{}
		if err := yaml.Unmarshal([]byte(p.Values), &inline); err != nil {
			return nil, fmt.Errorf("plugin parameter %q: %w (fix: it must be a YAML mapping)", ParamValues, err)
		}
		vals = chartutil.CoalesceTables(inline, vals)
	}
	keys := make([]string, 0, len(p.Set))
	for k := range p.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// Commas would split one value into several assignments.
		kv := k + "=" + strings.ReplaceAll(p.Set[k], ",", `\,`)
		if err := strvals.ParseInto(kv, vals); err != nil {
			return nil, fmt.Errorf("plugin parameter %q key %q: %w (fix: use keys in helm --set syntax, e.g. image.tag)", ParamSet, k, err)
		}
	}
	return vals, nil
}

// checkoutRoot is the repository checkout: dir minus ARGOCD_APP_SOURCE_PATH.
func checkoutRoot(dir, sourcePath string) (string, error) {
	sp := filepath.Clean(filepath.FromSlash(sourcePath))
	if sourcePath == "" || sp == "." {
		return dir, nil
	}
	if !strings.HasSuffix(dir, string(filepath.Separator)+sp) {
		return "", fmt.Errorf("working directory %s does not end in ARGOCD_APP_SOURCE_PATH %q (fix: run generate in the app's directory, as Argo CD does)", dir, sourcePath)
	}
	return strings.TrimSuffix(dir, string(filepath.Separator)+sp), nil
}

// inside resolves name against dir and refuses paths that leave the
// checkout (symlinks included), as Argo CD refuses out-of-repo values files.
func inside(root, dir, name, what string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%s: empty path (fix: give a path relative to the app directory)", what)
	}
	if filepath.IsAbs(name) {
		return "", fmt.Errorf("%s %q: absolute path (fix: give a path relative to the app directory)", what, name)
	}
	path := filepath.Join(dir, name)
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w (fix: commit the file to the app directory, or correct the parameter)", what, name, err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	if rel, err := filepath.Rel(realRoot, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s %q is outside the repository checkout (fix: keep it in the repository)", what, name)
	}
	if _, err := os.Stat(real); err != nil {
		return "", fmt.Errorf("%s %q: %w (fix: commit the file to the app directory, or correct the parameter)", what, name, err)
	}
	return real, nil
}

func displayPath(root, dir string) string {
	if rel, err := filepath.Rel(root, dir); err == nil {
		return rel
	}
	return dir
}

// requireObjects refuses a chart that renders no objects before the
// renderer adds its own (the state ConfigMap): printing only those would
// make Argo CD prune every object of the app.
type requireObjects struct {
	chart string
	next  interface {
		Run(*bytes.Buffer) (*bytes.Buffer, error)
	}
}

func (r requireObjects) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	for _, doc := range releaseutil.SplitManifests(in.String()) {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err == nil && len(obj) > 0 {
			return r.next.Run(in)
		}
	}
	return nil, fmt.Errorf("chart %s rendered no objects with these values: refusing to print a manifest Argo CD would prune the app to (fix: check the values files and parameters)", r.chart)
}
