package gatewayapi

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/gateway-api/pkg/consts"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/internal/golden"
)

// moduleCRDs reads the standard channel's CRD files of the
// sigs.k8s.io/gateway-api module in go.mod (the safe-upgrades
// ValidatingAdmissionPolicy file of the same directory is not a CRD).
func moduleCRDs(t *testing.T) map[string][]byte {
	t.Helper()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("locate the sigs.k8s.io/gateway-api module: %v", err)
	}
	paths, err := filepath.Glob(filepath.Join(strings.TrimSpace(string(dir)), "config", "crd", "standard", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CRD files in the module (%v)", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ Kind string }
		if err := yaml.Unmarshal(b, &head); err != nil || head.Kind != "CustomResourceDefinition" {
			continue
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestCRDFilesMatchModule: crds/ holds exactly the module's standard CRDs,
// byte for byte, each of bundle BundleVersion; `go generate` (UPDATE_GOLDEN=1)
// rewrites the copy.
func TestCRDFilesMatchModule(t *testing.T) {
	want := moduleCRDs(t)
	if golden.Updating() {
		entries, _ := os.ReadDir("crds")
		for _, e := range entries {
			if _, ok := want[e.Name()]; !ok {
				if err := os.Remove(filepath.Join("crds", e.Name())); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for name, b := range want {
		golden.Check(t, filepath.Join("crds", name), b, "`go generate ./installer/gatewayapi`")
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.Unmarshal(b, &crd); err != nil {
			t.Fatal(err)
		}
		if v := crd.Annotations[consts.BundleVersionAnnotation]; v != BundleVersion {
			t.Errorf("%s: bundle-version %q, want %s", name, v, BundleVersion)
		}
		if c := crd.Annotations[consts.ChannelAnnotation]; c != "standard" {
			t.Errorf("%s: channel %q, want standard", name, c)
		}
		if crdName(name) != crd.Name {
			t.Errorf("file %s holds CRD %s, not %s", name, crd.Name, crdName(name))
		}
	}
	if golden.Updating() {
		return
	}
	got, names, err := files()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, ok := want[n]; !ok {
			t.Errorf("crds/%s is not a CRD of the module; refresh with `go generate ./installer/gatewayapi`", n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d embedded CRD files, the module has %d", len(got), len(want))
	}
	// The kinds Istio's ambient mode and meshbundle's renderer use.
	for _, n := range []string{"gateways", "gatewayclasses", "httproutes", "grpcroutes", "tcproutes", "referencegrants"} {
		if !slices.Contains(CRDNames(), n+"."+Group) {
			t.Errorf("bundle lacks %s.%s: %v", n, Group, CRDNames())
		}
	}
}

// The chart renders every CRD unchanged but for Helm's keep policy.
func TestChartRendersCRDsWithKeepPolicy(t *testing.T) {
	ch, err := Chart()
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(ch, nil, chartutil.ReleaseOptions{Name: ChartName, Namespace: "istio-system"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	mod := moduleCRDs(t)
	if len(out) != len(mod) {
		t.Fatalf("%d templates rendered, want %d", len(out), len(mod))
	}
	for name, doc := range out {
		var crd, orig apiextv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict([]byte(doc), &crd); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := yaml.Unmarshal(mod[filepath.Base(name)], &orig); err != nil {
			t.Fatal(err)
		}
		if crd.Annotations[KeepPolicy] != "keep" {
			t.Errorf("%s: annotations %v lack %s: keep", name, crd.Annotations, KeepPolicy)
		}
		delete(crd.Annotations, KeepPolicy)
		a, _ := yaml.Marshal(crd)
		b, _ := yaml.Marshal(orig)
		if string(a) != string(b) {
			t.Errorf("%s: rendered CRD differs from the module's beyond the keep policy", name)
		}
	}
}

func TestDecide(t *testing.T) {
	const ns, rel = "istio-system", ChartName
	ours := func(name string) Present {
		return Present{Name: name, Annotations: map[string]string{
			"meta.helm.sh/release-name": rel, "meta.helm.sh/release-namespace": ns, consts.BundleVersionAnnotation: "v1.2.0"}}
	}
	theirs := func(name, version, channel string) Present {
		a := map[string]string{consts.ChannelAnnotation: channel}
		if version != "" {
			a[consts.BundleVersionAnnotation] = version
		}
		return Present{Name: name, Annotations: a}
	}
	all := func(version string) []Present {
		var out []Present
		for _, n := range CRDNames() {
			out = append(out, theirs(n, version, "standard"))
		}
		return out
	}
	tests := []struct {
		name        string    // case
		present     []Present // the cluster's Gateway API CRDs
		want        Action    // when no error
		wantVersion []string  // Decision.Versions
		wantMissing int       // len(Decision.Missing)
		wantErr     []string  // substrings of the refusal ("" none)
	}{
		{name: "none present: install", want: Install},
		{name: "ours, even old: upgrade through the release", present: []Present{ours("httproutes." + Group)}, want: Install},
		{name: "their v1.6.0 bundle: kept", present: all("v1.6.0"), want: Keep, wantVersion: []string{"v1.6.0"}},
		{name: "their v1.5.0-rc.1 counts as v1.5.0", present: all("v1.5.0-rc.1"), want: Keep, wantVersion: []string{"v1.5.0-rc.1"}},
		{name: "their partial v1.5.1: kept, missing named", present: []Present{theirs("httproutes."+Group, "v1.5.1", "standard")},
			want: Keep, wantVersion: []string{"v1.5.1"}, wantMissing: len(CRDNames()) - 1},
		{name: "their v1.4.0: refused", present: all("v1.4.0"),
			wantErr: []string{"httproutes." + Group + " (bundle-version v1.4.0)", "older than v1.5.0", "nothing was changed", "download/" + BundleVersion + "/standard-install.yaml", "kubectl delete crd"}},
		{name: "one old among new: refused", present: append(all("v1.6.0")[1:], theirs(CRDNames()[0], "v1.0.0", "experimental")),
			wantErr: []string{CRDNames()[0] + " (bundle-version v1.0.0)", "experimental-install.yaml"}},
		{name: "no bundle-version annotation: refused", present: []Present{theirs("gateways."+Group, "", "")},
			wantErr: []string{"gateways." + Group + " (no gateway.networking.k8s.io/bundle-version annotation)"}},
		{name: "unparsable version: refused", present: []Present{theirs("gateways."+Group, "latest", "standard")},
			wantErr: []string{`bundle-version "latest" does not parse`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decide(tc.present, ns, rel)
			if len(tc.wantErr) > 0 {
				var bad *failure.BadInputError
				if !errors.As(err, &bad) {
					t.Fatalf("error %v (%T), want a failure.BadInputError", err, err)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.want || !slices.Equal(d.Versions, tc.wantVersion) || len(d.Missing) != tc.wantMissing {
				t.Errorf("decision %+v, want %s versions %v and %d missing", d, tc.want, tc.wantVersion, tc.wantMissing)
			}
		})
	}
}
