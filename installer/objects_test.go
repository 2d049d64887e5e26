package installer

import (
	"fmt"
	"slices"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
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
			objs, err := manifestObjects(splitManifest(tc.manifest))
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
	if _, err := manifestObjects(splitManifest("---\nkind: [unclosed\n")); err == nil {
		t.Error("no error for a manifest that does not parse")
	}
}

// helmSplit is releaseutil.SplitManifests' documents in its order.
func helmSplit(manifest string) []string {
	m := releaseutil.SplitManifests(manifest)
	out := make([]string, len(m))
	for i := range out {
		out[i] = m[fmt.Sprintf("manifest-%d", i)]
	}
	return out
}

// fullParse is objectRef by a full YAML parse, what objectHeader stands in for.
func fullParse(doc string) (objectRef, error) {
	var o objectRef
	err := yaml.Unmarshal([]byte(doc), &o)
	return o, err
}

// renderedManifests are the manifests of every release meshbundle installs
// (both profiles, gateway and addons), as Helm renders them.
func renderedManifests(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, rel := range plannedReleases(t) {
		r, err := renderRelease(rel, RenderKubeVersion(), nil, false)
		if err != nil {
			t.Fatal(err)
		}
		out[rel.Chart.Name()+" "+rel.Name] = r.Manifest
	}
	return out
}

// TestSplitManifestLikeHelm: splitManifest gives Helm's documents, on every
// manifest meshbundle installs and on separators Helm's expression treats
// oddly (whitespace after "---" swallows the next line's separator).
func TestSplitManifestLikeHelm(t *testing.T) {
	inputs := []string{
		"", "---", "---\n", "a: 1", "---\na: 1\n---\nb: 2\n", "a: 1\n---\n\n---\nb: 2",
		"a: 1\n---   \n  \n---\nb: 2", "---a: 1\n----\nb", "a: 1\n  ---\nb: 2", "\n\n---\r\na\r\n---\tb\n",
		"x: |\n  ---\n  y\n---\nz: 1", "a\n---", "a\n---\n",
	}
	for name, m := range renderedManifests(t) {
		if got, want := splitManifest(m), helmSplit(m); !slices.Equal(got, want) {
			t.Errorf("%s: %d documents, Helm's split %d (or they differ)", name, len(got), len(want))
		}
	}
	for _, in := range inputs {
		if got, want := splitManifest(in), helmSplit(in); !slices.Equal(got, want) {
			t.Errorf("splitManifest(%q) = %q, Helm's split %q", in, got, want)
		}
	}
}

// TestObjectHeaderLikeYAML: what objectHeader reads is what a full parse
// reads, for every document meshbundle installs (and it reads all their objects:
// else it saves nothing), and it gives way on documents written
// otherwise.
func TestObjectHeaderLikeYAML(t *testing.T) {
	read, docs := 0, 0
	for name, m := range renderedManifests(t) {
		for _, doc := range splitManifest(m) {
			docs++
			o, ok := objectHeader(doc)
			if !ok {
				if want, err := fullParse(doc); err == nil && want.Kind == "" && want.Metadata.Name == "" {
					docs-- // only comments: no object to read
				}
				continue
			}
			read++
			if want, err := fullParse(doc); err != nil || o != want {
				t.Errorf("%s: objectHeader read %+v, the full parse %+v (%v)", name, o, want, err)
			}
		}
	}
	if read < docs {
		t.Errorf("objectHeader read %d of %d documents; it should read every object Helm renders", read, docs)
	}
	cases := []struct {
		name string // subtest name
		doc  string // one document
		ok   bool   // objectHeader reads it (else the full parse does)
	}{
		{name: "block style", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: b\n  labels:\n    name: not-this\ndata:\n  name: nor-this\n", ok: true},
		{name: "quoted values", doc: "apiVersion: \"v1\"\nkind: 'ConfigMap'\nmetadata:\n    name: \"a\"\n", ok: true},
		{name: "comments and a block scalar", doc: "# Source: x\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  # c\n  name: a\ndata:\n  f: |\n    kind: Other\n", ok: true},
		{name: "top-level sequences", doc: "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: a\nsubjects:\n- kind: ServiceAccount\n  name: b\n", ok: true},
		{name: "metadata as a sequence", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n- name: a\n", ok: false},
		{name: "flow style", doc: "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}", ok: false},
		{name: "metadata in flow style", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", ok: false},
		{name: "comment after a value", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # the name\n", ok: false},
		{name: "a number as name", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 0x1F\n", ok: false},
		{name: "a boolean as name", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yes\n", ok: false},
		{name: "an escape in quotes", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"a\\u0062\"\n", ok: false},
		{name: "an alias", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: *a\n", ok: false},
		{name: "quoted key", doc: "apiVersion: v1\n\"kind\": ConfigMap\nmetadata:\n  name: a\n", ok: false},
		{name: "only comments", doc: "# Source: x/empty.yaml", ok: false},
		{name: "tab indentation", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n", ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, ok := objectHeader(tc.doc)
			if ok != tc.ok {
				t.Fatalf("objectHeader ok = %v, want %v (%+v)", ok, tc.ok, o)
			}
			want, err := fullParse(tc.doc)
			if ok && (err != nil || o != want) {
				t.Errorf("objectHeader read %+v, the full parse %+v (%v)", o, want, err)
			}
			// Either way manifestObjects agrees with the full parse.
			objs, merr := manifestObjects([]string{tc.doc})
			if (merr != nil) != (err != nil) {
				t.Fatalf("manifestObjects error %v, full parse error %v", merr, err)
			}
			if err == nil && (want.Kind != "" || want.Metadata.Name != "") && (len(objs) != 1 || objs[0] != want) {
				t.Errorf("manifestObjects %+v, the full parse %+v", objs, want)
			}
		})
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
		if _, err := manifestObjects(splitManifest(out.Manifest)); err != nil {
			b.Fatal(err)
		}
	}
}
