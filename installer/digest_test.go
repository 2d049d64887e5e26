package installer

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
)

// planned releases of every profile, gateway and addons included.
func plannedReleases(t *testing.T) []PlannedRelease {
	t.Helper()
	var out []PlannedRelease
	for _, profile := range []string{"default", "ambient"} {
		plan, err := NewPlan(Source{Profile: profile})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, plan.Releases...)
	}
	return out
}

// recorded is the release record Helm's install writes for rel (labels
// included) as a later run reads it back: Helm's storage drivers keep a
// record as its JSON (then gzip and base64), so chart and values come back
// through encoding/json, and the labels as the Secret's labels.
func recorded(t *testing.T, rel PlannedRelease, labels map[string]string) *release.Release {
	t.Helper()
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace, inst.Labels = rel.Name, rel.Namespace, labels
	inst.KubeVersion = RenderKubeVersion()
	out, err := inst.Run(rel.Chart, rel.Values)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var back release.Release
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	// Labels are not in the JSON: the driver keeps them as the Secret's
	// labels and puts them back on the record it reads.
	back.Labels = out.Labels
	return &back
}

// TestSameRender: a record written from the plan is recognised without
// rendering, for every release of every profile (else every re-run renders
// again: slower, not wrong); any change of what the render depends on is
// not, including another hand's upgrade that kept the label.
func TestSameRender(t *testing.T) {
	kv, apis := RenderKubeVersion(), chartutil.DefaultVersionSet
	for _, rel := range plannedReleases(t) {
		want, err := renderDigest(rel.Chart, rel.Values, rel.Name, rel.Namespace, kv, apis)
		if err != nil {
			t.Fatal(err)
		}
		last := recorded(t, rel, map[string]string{RenderDigestLabel: want})
		if same, err := sameRender(last, want, kv, apis); err != nil || !same {
			t.Errorf("release %s: the record written from the plan is not recognised (%v, %v)", rel.Name, same, err)
		}
	}

	var rel PlannedRelease // the addons chart asks whether APIs are served
	for _, r := range plannedReleases(t) {
		if r.Name == ReleaseAddons {
			rel = r
		}
	}
	digest := func(ch *chart.Chart, vals map[string]any, kv *chartutil.KubeVersion, apis chartutil.VersionSet) string {
		d, err := renderDigest(ch, vals, rel.Name, rel.Namespace, kv, apis)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	want := digest(rel.Chart, rel.Values, kv, apis)
	otherValues := maps.Clone(rel.Values)
	otherValues["meshbundleTest"] = "changed"
	otherChart := *rel.Chart
	otherChart.Templates = append([]*chart.File{{Name: "templates/extra.yaml", Data: []byte("# changed\n")}}, rel.Chart.Templates...)
	newerKube := &chartutil.KubeVersion{Version: "v1.99.0", Major: "1", Minor: "99"}
	withMonitoring := append(slices.Clone(apis), "monitoring.coreos.com/v1")
	withOther := append(slices.Clone(apis), "example.com/v1")
	if digest(rel.Chart, rel.Values, kv, withOther) != want {
		t.Error("an API group no chart asks about changed the digest: every new CRD in the cluster would make re-runs render again")
	}
	cases := []struct {
		name   string
		labels map[string]string      // on the deployed record
		vals   map[string]any         // the record was written from
		ch     *chart.Chart           // the record was written from
		kv     *chartutil.KubeVersion // of the run that reads it
		apis   chartutil.VersionSet   // of the run that reads it
	}{
		{name: "no label (written by another tool or an older meshbundle)", labels: nil, vals: rel.Values, ch: rel.Chart, kv: kv, apis: apis},
		{name: "values changed in the plan", labels: map[string]string{RenderDigestLabel: digest(rel.Chart, otherValues, kv, apis)}, vals: otherValues, ch: rel.Chart, kv: kv, apis: apis},
		{name: "chart changed in the plan", labels: map[string]string{RenderDigestLabel: digest(&otherChart, rel.Values, kv, apis)}, vals: rel.Values, ch: &otherChart, kv: kv, apis: apis},
		{name: "upgraded by another hand with other values, label kept", labels: map[string]string{RenderDigestLabel: want}, vals: otherValues, ch: rel.Chart, kv: kv, apis: apis},
		{name: "upgraded by another hand with another chart, label kept", labels: map[string]string{RenderDigestLabel: want}, vals: rel.Values, ch: &otherChart, kv: kv, apis: apis},
		{name: "Kubernetes upgraded since", labels: map[string]string{RenderDigestLabel: want}, vals: rel.Values, ch: rel.Chart, kv: newerKube, apis: apis},
		{name: "an API the chart asks about is served since", labels: map[string]string{RenderDigestLabel: want}, vals: rel.Values, ch: rel.Chart, kv: kv, apis: withMonitoring},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rel
			r.Values, r.Chart = tc.vals, tc.ch
			last := recorded(t, r, tc.labels)
			plan := digest(rel.Chart, rel.Values, tc.kv, tc.apis)
			if same, err := sameRender(last, plan, tc.kv, tc.apis); err != nil || same {
				t.Errorf("taken as the same render (%v, %v): the re-run would skip a render that differs", same, err)
			}
		})
	}
}

// TestChartsReadNoObjects: renderDigest covers what a template can ask of
// the cluster's version and APIs, not its objects; no chart meshbundle
// installs calls lookup (a chart that starts to would make a skipped render
// wrong, so it fails here). The addons chart's two APIVersions.Has tests are
// found as such (the control for capabilityReads).
func TestChartsReadNoObjects(t *testing.T) {
	lookup := regexp.MustCompile(`\blookup\b`)
	for _, rel := range plannedReleases(t) {
		for _, f := range rel.Chart.Templates {
			if lookup.Match(f.Data) {
				t.Errorf("chart %s template %s calls lookup: its render depends on the cluster's objects, which renderDigest does not cover", rel.Chart.Name(), f.Name)
			}
		}
		asked, all := capabilityReads(rel.Chart)
		if rel.Name == ReleaseAddons {
			if want := []string{"grafana.integreatly.org/v1beta1", "monitoring.coreos.com/v1"}; !slices.Equal(asked, want) || all {
				t.Errorf("addons chart asks %q (all %v), want %q", asked, all, want)
			}
		} else if len(asked) > 0 || all {
			t.Errorf("chart %s asks %q (all %v), want nothing", rel.Chart.Name(), asked, all)
		}
	}
}
