package installer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	"istio.io/istio/manifests"
	"istio.io/istio/pkg/config/mesh"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/internal/golden"
)

// dryRun renders src and returns the objects per release name.
func dryRun(t *testing.T, src Source) map[string][]unstructured.Unstructured {
	t.Helper()
	res, err := Install(context.Background(), Options{Source: src, DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	out := map[string][]unstructured.Unstructured{}
	for _, rel := range res.Rendered {
		for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
			var u unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatalf("release %s: %v", rel.Name, err)
			}
			if len(u.Object) > 0 {
				out[rel.Name] = append(out[rel.Name], u)
			}
		}
	}
	return out
}

func find(t *testing.T, objs []unstructured.Unstructured, kind, name string) unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return unstructured.Unstructured{}
}

// into converts a rendered object to its typed form.
func into[T any](t *testing.T, u unstructured.Unstructured) *T {
	t.Helper()
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := yaml.UnmarshalStrict(b, &out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return &out
}

// The mesh config istiod will read parses with Istio's mesh config code and
// carries the seed's settings: DNS capture, the Jaeger provider, sampling.
func TestDefaultMeshConfig(t *testing.T) {
	objs := dryRun(t, Source{})
	cm := into[corev1.ConfigMap](t, find(t, objs[ReleaseIstiod], "ConfigMap", "istio"))
	mc, err := mesh.ApplyMeshConfigDefaults(cm.Data["mesh"])
	if err != nil {
		t.Fatalf("mesh config does not parse: %v", err)
	}
	if got := mc.GetDefaultConfig().GetProxyMetadata()["ISTIO_META_DNS_CAPTURE"]; got != "true" {
		t.Errorf("proxyMetadata ISTIO_META_DNS_CAPTURE = %q, want true", got)
	}
	if got := mc.GetDefaultConfig().GetTracing().GetSampling(); got != 1.0 {
		t.Errorf("defaultConfig.tracing.sampling = %v, want 1", got)
	}
	var found bool
	for _, ep := range mc.GetExtensionProviders() {
		if ep.GetName() == TracingProvider {
			otel := ep.GetOpentelemetry()
			if otel.GetService() != "jaeger-collector.istio-system.svc.cluster.local" || otel.GetPort() != 4317 {
				t.Errorf("provider jaeger = %s:%d, want jaeger-collector.istio-system.svc.cluster.local:4317", otel.GetService(), otel.GetPort())
			}
			found = true
		}
	}
	if !found {
		t.Errorf("no extension provider %q in %v", TracingProvider, mc.GetExtensionProviders())
	}
	tel := find(t, objs[ReleaseMesh], "Telemetry", "mesh-default")
	if tel.GetNamespace() != "istio-system" {
		t.Errorf("Telemetry namespace %q, want the root namespace istio-system", tel.GetNamespace())
	}
	tracing, _, _ := unstructured.NestedSlice(tel.Object, "spec", "tracing")
	want := map[string]any{"providers": []any{map[string]any{"name": "jaeger"}}, "randomSamplingPercentage": float64(1)}
	if len(tracing) != 1 || !sameValues(tracing[0].(map[string]any), want) {
		t.Errorf("Telemetry spec.tracing = %v, want [%v]", tracing, want)
	}
	// The pilot env switch for ServiceEntry address auto-allocation.
	d := into[appsv1.Deployment](t, find(t, objs[ReleaseIstiod], "Deployment", "istiod"))
	if env := containerEnv(d.Spec.Template.Spec.Containers[0], "PILOT_ENABLE_IP_AUTOALLOCATE"); env != "true" {
		t.Errorf("istiod env PILOT_ENABLE_IP_AUTOALLOCATE = %q, want true", env)
	}
}

func containerEnv(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// Overrides reach both the mesh config and the Telemetry from one place.
func TestSamplingAndCollectorOverrides(t *testing.T) {
	objs := dryRun(t, Source{Set: []string{
		"meshConfig.defaultConfig.tracing.sampling=25.5",
		"meshConfig.extensionProviders[0].opentelemetry.service=otel.observability.svc.cluster.local",
	}})
	cm := into[corev1.ConfigMap](t, find(t, objs[ReleaseIstiod], "ConfigMap", "istio"))
	mc, err := mesh.ApplyMeshConfigDefaults(cm.Data["mesh"])
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range mc.GetExtensionProviders() {
		if s := ep.GetOpentelemetry().GetService(); ep.GetName() == TracingProvider && s != "otel.observability.svc.cluster.local" {
			t.Errorf("provider %s service %q, want the override", ep.GetName(), s)
		}
	}
	tel := find(t, objs[ReleaseMesh], "Telemetry", "mesh-default")
	tracing, _, _ := unstructured.NestedSlice(tel.Object, "spec", "tracing")
	if got := tracing[0].(map[string]any)["randomSamplingPercentage"]; got != 25.5 {
		t.Errorf("Telemetry randomSamplingPercentage = %v, want 25.5", got)
	}
}

// The default gateway comes from Istio's gateway chart and is injected by
// istiod with the gateway template: label, annotation, image "auto".
func TestGatewayInjectedWithGatewayTemplate(t *testing.T) {
	cases := []struct {
		name     string   // test name
		set      []string // --set flags
		wantType string   // expected Service type
	}{
		{name: "default LoadBalancer", wantType: "LoadBalancer"},
		{name: "NodePort override", set: []string{"gateway.service.type=NodePort"}, wantType: "NodePort"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := dryRun(t, Source{Set: tc.set})[ReleaseGateway]
			d := into[appsv1.Deployment](t, find(t, objs, "Deployment", ReleaseGateway))
			if d.Namespace != DefaultGatewayNamespace {
				t.Errorf("gateway namespace %q, want %q", d.Namespace, DefaultGatewayNamespace)
			}
			pod := d.Spec.Template
			if pod.Labels["sidecar.istio.io/inject"] != "true" {
				t.Errorf("pod label sidecar.istio.io/inject = %q, want true", pod.Labels["sidecar.istio.io/inject"])
			}
			if pod.Annotations["inject.istio.io/templates"] != "gateway" {
				t.Errorf("pod annotation inject.istio.io/templates = %q, want gateway", pod.Annotations["inject.istio.io/templates"])
			}
			if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Image != "auto" {
				t.Errorf("containers %v: want one container with image auto (filled by injection)", pod.Spec.Containers)
			}
			svc := into[corev1.Service](t, find(t, objs, "Service", ReleaseGateway))
			if string(svc.Spec.Type) != tc.wantType {
				t.Errorf("Service type %q, want %q", svc.Spec.Type, tc.wantType)
			}
		})
	}
}

// Every image of every release and profile is pinned: hub docker.io/istio
// (or Jaeger's), tag PinnedTag, never latest. The injector's values decide the
// sidecar and gateway images, so they are checked too.
func TestNoLatestImages(t *testing.T) {
	for _, profile := range []string{"default", "minimal", "ha"} {
		t.Run(profile, func(t *testing.T) {
			objs := dryRun(t, Source{Profile: profile, Jaeger: true})
			images := 0
			for rel, list := range objs {
				for _, o := range list {
					for _, img := range imagesOf(o) {
						images++
						if img == "auto" {
							continue
						}
						if strings.HasSuffix(img, ":latest") || !strings.Contains(img[strings.LastIndex(img, "/")+1:], ":") {
							t.Errorf("release %s %s %s: image %q is not pinned", rel, o.GetKind(), o.GetName(), img)
						}
						if strings.HasPrefix(img, PinnedHub+"/") && !strings.HasSuffix(img, ":"+PinnedTag) {
							t.Errorf("release %s %s %s: image %q, want tag %s", rel, o.GetKind(), o.GetName(), img, PinnedTag)
						}
					}
					if o.GetKind() == "ConfigMap" && o.GetName() == "istio-sidecar-injector" {
						vals, _, _ := unstructured.NestedString(o.Object, "data", "values")
						for _, want := range []string{`"hub": "` + PinnedHub + `"`, `"tag": "` + PinnedTag + `"`} {
							if !strings.Contains(vals, want) {
								t.Errorf("istio-sidecar-injector values lack %s", want)
							}
						}
					}
				}
			}
			if images < 3 {
				t.Errorf("only %d images found; the walk is broken", images)
			}
		})
	}
}

func imagesOf(o unstructured.Unstructured) []string {
	var out []string
	for _, list := range []string{"initContainers", "containers"} {
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", list)
		for _, c := range cs {
			if img, ok := c.(map[string]any)["image"].(string); ok {
				out = append(out, img)
			}
		}
	}
	return out
}

// PinnedTag must be a release of the module's line: the module's VERSION
// file holds major.minor.
func TestPinnedTagMatchesModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio").Output()
	if err != nil {
		t.Fatalf("go list istio.io/istio: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(b))
	if !strings.HasPrefix(PinnedTag, line+".") {
		t.Errorf("PinnedTag %s is not a %s.x release (istio.io/istio VERSION file); update installer/images.go", PinnedTag, line)
	}
}

// Bad input fails in the validate phase with a failure.BadInputError naming the field.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknownField := write("unknown.yaml", "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfg: {}\n")
	unknownValue := write("value.yaml", "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  values:\n    pilot:\n      replicaCont: 2\n")
	manifestsDir := filepath.Join(dir, "manifests")
	if err := os.MkdirAll(filepath.Join(manifestsDir, "charts", "base"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join("manifests", "charts", "base", "Chart.yaml"), "apiVersion: v2\nname: base\nversion: 1.0.0\n")
	legacyGateway := write("gw.yaml", "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  components:\n    ingressGateways:\n    - name: istio-ingressgateway\n      enabled: true\n")
	cases := []struct {
		name string   // what is wrong
		src  Source   // the input
		want []string // substrings the error must contain (field and fix)
	}{
		{name: "unknown IstioOperator field", src: Source{Files: []string{unknownField}}, want: []string{"meshConfg"}},
		{name: "unknown values field", src: Source{Files: []string{unknownValue}}, want: []string{"replicaCont"}},
		{name: "negative sampling", src: Source{Set: []string{"meshConfig.defaultConfig.tracing.sampling=-5"}}, want: []string{"sampling", "0-100"}},
		{name: "sampling above 100", src: Source{Set: []string{"meshConfig.defaultConfig.tracing.sampling=150"}}, want: []string{"sampling"}},
		{name: "bad collector address", src: Source{Set: []string{"meshConfig.extensionProviders[0].opentelemetry.service=not a host!"}}, want: []string{"extensionProviders[name=jaeger]", "service"}},
		{name: "bad collector port", src: Source{Set: []string{"meshConfig.extensionProviders[0].opentelemetry.port=70000"}}, want: []string{"extensionProviders[name=jaeger]", "port"}},
		{name: "unknown profile", src: Source{Profile: "huge"}, want: []string{"huge", "minimal"}},
		{name: "missing file", src: Source{Files: []string{filepath.Join(dir, "nope.yaml")}}, want: []string{"nope.yaml", "-f"}},
		{name: "bad gateway Service type", src: Source{Set: []string{"gateway.service.type=Ingress"}}, want: []string{"service.type", "NodePort"}},
		{name: "legacy ingress gateway", src: Source{Files: []string{legacyGateway}}, want: []string{"ingressGateways", "enabled: false"}},
		{name: "charts directory without Istio's charts", src: Source{Charts: dir}, want: []string{dir, "no chart base", "manifests/charts", "--charts"}},
		{name: "manifests directory instead of its charts/", src: Source{Charts: manifestsDir}, want: []string{"pass --charts " + filepath.Join(manifestsDir, "charts")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Install(context.Background(), Options{Source: tc.src, DryRun: true})
			var bad *failure.BadInputError
			if !errors.As(err, &bad) {
				t.Fatalf("error %v (%T), want a failure.BadInputError", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if len(res.Rendered) != 0 || res.Phases[0].State != StateFailed || res.Phases[1].State != StatePending {
				t.Errorf("want validate failed, nothing rendered, later phases pending; got %+v", res.Phases)
			}
		})
	}
}

// The inventory of a default and an ambient install, release by release (kind, namespace,
// name, images), as a golden file: a bump of the Istio module or a change of
// values/ shows up here as a reviewable diff. Refresh with UPDATE_GOLDEN=1.
func TestDefaultInventoryGolden(t *testing.T) {
	for _, profile := range []string{"default", "ambient"} {
		t.Run(profile, func(t *testing.T) { inventoryGolden(t, profile) })
	}
}

func inventoryGolden(t *testing.T, profile string) {
	res, err := Install(context.Background(), Options{Source: Source{Profile: profile}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, rel := range res.Rendered {
		fmt.Fprintf(&b, "release %s namespace %s chart %s\n", rel.Name, rel.Namespace, rel.Chart)
		var lines []string
		for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
			var u unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatal(err)
			}
			if len(u.Object) == 0 {
				continue
			}
			line := fmt.Sprintf("  %s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
			if imgs := imagesOf(u); len(imgs) > 0 {
				line += " images=" + strings.Join(imgs, ",")
			}
			lines = append(lines, line)
		}
		sort.Strings(lines)
		b.WriteString(strings.Join(lines, "\n") + "\n")
	}
	golden.Check(t, filepath.Join("testdata", profile+"-inventory.golden"), []byte(b.String()), "UPDATE_GOLDEN=1 go test ./installer")
}

// --jaeger adds a collector whose Service is the default provider address.
func TestJaegerAllInOne(t *testing.T) {
	objs := dryRun(t, Source{Jaeger: true})[ReleaseMesh]
	svc := into[corev1.Service](t, find(t, objs, "Service", "jaeger-collector"))
	if svc.Namespace != "istio-system" || svc.Spec.Ports[0].Port != 4317 {
		t.Errorf("jaeger-collector %s port %d, want istio-system:4317 (the default provider)", svc.Namespace, svc.Spec.Ports[0].Port)
	}
	d := into[appsv1.Deployment](t, find(t, objs, "Deployment", "jaeger"))
	if d.Spec.Template.Labels["sidecar.istio.io/inject"] != "false" {
		t.Errorf("jaeger pod would be injected: %v", d.Spec.Template.Labels)
	}
	if without := dryRun(t, Source{})[ReleaseMesh]; len(without) != 1 {
		t.Errorf("without --jaeger the mesh release has %d objects, want only the Telemetry", len(without))
	}
}

// sameValues compares values as JSON, so 1 and 1.0 are equal.
func sameValues(a, b map[string]any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// The addons phase installs the observability chart compiled into meshbundle
// (from any working directory), or a chart directory given instead; it is left
// out only when asked, and a given directory without a chart is bad input.
func TestAddonsPhase(t *testing.T) {
	cases := []struct {
		name      string // test name
		chart     string // Source.AddonsChart
		noAddons  bool   // Source.NoAddons
		wantErr   string // substring of the bad-input error ("" = none)
		wantState State  // state of the addons phase
		wantMsg   string // substring of its message
	}{
		{name: "built-in chart", wantState: StateDone},
		{name: "chart directory", chart: "../charts/meshbundle-addons", wantState: StateDone},
		{name: "no addons", noAddons: true, wantState: StateSkipped, wantMsg: "skipped: --no-addons"},
		{name: "chart absent", chart: "testdata/no-such-chart", wantErr: "no Chart.yaml there (fix: correct --addons-chart"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Install(context.Background(), Options{Source: Source{AddonsChart: tc.chart, NoAddons: tc.noAddons}, DryRun: true})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				var bad *failure.BadInputError
				if !errors.As(err, &bad) {
					t.Errorf("error %T is not a failure.BadInputError (exit code 2)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range res.Phases {
				if p.Phase != PhaseAddons {
					continue
				}
				if p.State != tc.wantState || !strings.Contains(p.Message, tc.wantMsg) {
					t.Errorf("addons phase %s %q, want %s %q", p.State, p.Message, tc.wantState, tc.wantMsg)
				}
				if tc.wantState == StateDone && (len(p.Releases) != 1 || p.Releases[0].Name != ReleaseAddons || p.Objects == 0) {
					t.Errorf("addons releases %+v", p.Releases)
				}
			}
		})
	}
}

// Istio's validation warnings reach the result once each (Istio's validators
// report the deprecated proxy-side auto-allocation switch more than once).
func TestWarningsOncePerProblem(t *testing.T) {
	p, err := NewPlan(Source{Set: []string{"meshConfig.defaultConfig.proxyMetadata.ISTIO_META_DNS_AUTO_ALLOCATE=true"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "ISTIO_META_DNS_AUTO_ALLOCATE' is deprecated") {
		t.Errorf("warnings %q, want one about the deprecated switch", p.Warnings)
	}
	if p, err = NewPlan(Source{}); err != nil || len(p.Warnings) != 0 {
		t.Errorf("default configuration: warnings %q, err %v; want none", p.Warnings, err)
	}
}

// Source.Charts installs Istio's charts from a directory instead of the
// embedded ones, taking them as they are: a copy of the embedded charts
// stamped like a release (version and appVersion, as the embedded ones are
// when loaded), the istiod chart as 1.30.9, renders the same objects, with
// 1.30.9 in istiod's release and labels only.
func TestChartsDirectory(t *testing.T) {
	dir := t.TempDir()
	err := fs.WalkDir(manifests.FS, "charts", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "charts")))
		if d.IsDir() {
			return os.MkdirAll(out, 0o700)
		}
		b, err := fs.ReadFile(manifests.FS, p)
		if err != nil {
			return err
		}
		if d.Name() == "Chart.yaml" {
			v := PinnedTag
			if strings.HasSuffix(p, "istio-discovery/Chart.yaml") {
				v = "1.30.9"
			}
			b = regexp.MustCompile(`(?m)^(version|appVersion): .*$`).ReplaceAll(b, []byte("$1: "+v))
		}
		return os.WriteFile(out, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}

	render := func(charts string) (map[string]string, map[string]string) {
		res, err := Install(context.Background(), Options{Source: Source{Charts: charts, NoAddons: true}, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		chartOf, manifest := map[string]string{}, map[string]string{}
		for _, p := range res.Phases {
			for _, r := range p.Releases {
				chartOf[r.Name] = r.Chart
			}
		}
		for _, r := range res.Rendered {
			manifest[r.Name] = r.Manifest
		}
		return chartOf, manifest
	}
	embeddedCharts, embedded := render("")
	dirCharts, fromDir := render(dir)
	for name, ch := range dirCharts {
		want := embeddedCharts[name]
		if name == ReleaseIstiod {
			want = "istiod-1.30.9"
		}
		if ch != want {
			t.Errorf("release %s: chart %s, want %s", name, ch, want)
		}
		got := strings.ReplaceAll(fromDir[name], "1.30.9", PinnedTag)
		if got != embedded[name] {
			t.Errorf("release %s: the copied charts render other objects than the embedded ones (beyond istiod's chart version)", name)
		}
	}
	if len(dirCharts) != len(embeddedCharts) || len(fromDir) == 0 {
		t.Errorf("releases %v from the directory, %v embedded", dirCharts, embeddedCharts)
	}
	if !strings.Contains(fromDir[ReleaseIstiod], "helm.sh/chart: istiod-1.30.9") {
		t.Error("istiod's objects do not carry the directory's chart version")
	}
}
