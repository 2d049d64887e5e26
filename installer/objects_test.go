package installer

import (
	"slices"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
)

// manifestObjects names what Helm would create from a release manifest:
// documents a template left empty (only its "# Source:" comment) are not
// objects, or the re-run would report them missing and upgrade for nothing.
func TestManifestObjects(t *testing.T) {
	cases := []struct {
		name     string   // subtest name
		manifest string   // a release manifest as Helm stores it
		want     []string // objectRef.String() of each object, sorted
		wantCRDs []string // crdNamesIn, sorted
	}{
		{
			name: "objects, CRDs and an empty template",
			manifest: "---\n# Source: base/templates/empty.yaml\n" +
				"---\n# Source: base/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: istio-reader\n  namespace: istio-system\n" +
				"---\n# Source: base/templates/crds.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: telemetries.telemetry.istio.io\nspec:\n  group: telemetry.istio.io\n" +
				"---\n# Source: base/templates/role.yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: istio-reader\n",
			want:     []string{"ClusterRole istio-reader", "CustomResourceDefinition telemetries.telemetry.istio.io", "ServiceAccount istio-system/istio-reader"},
			wantCRDs: []string{"telemetries.telemetry.istio.io"},
		},
		{name: "only comments", manifest: "---\n# Source: cni/templates/off.yaml\n", want: nil, wantCRDs: []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := manifestObjects(releaseutil.SplitManifests(tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.String())
			}
			slices.Sort(got)
			crds := crdNamesIn(objs)
			slices.Sort(crds)
			if !slices.Equal(got, tc.want) || !slices.Equal(crds, tc.wantCRDs) {
				t.Errorf("objects %q, CRDs %q; want %q, %q", got, crds, tc.want, tc.wantCRDs)
			}
		})
	}
	if _, err := manifestObjects(releaseutil.SplitManifests("---\nkind: [unclosed\n")); err == nil {
		t.Error("no error for a manifest that does not parse")
	}
}

// BenchmarkManifestObjects reads the objects of the base release (~1 MB,
// mostly CRD schemas), which every re-run does once.
func BenchmarkManifestObjects(b *testing.B) {
	plan, err := NewPlan(Source{NoGateway: true, NoAddons: true})
	if err != nil {
		b.Fatal(err)
	}
	out, err := renderRelease(plan.releasesIn(PhaseBase)[0], RenderKubeVersion(), nil, false)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out.Manifest)))
	for b.Loop() {
		if _, err := manifestObjects(releaseutil.SplitManifests(out.Manifest)); err != nil {
			b.Fatal(err)
		}
	}
}
