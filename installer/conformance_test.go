package installer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	"istio.io/istio/operator/pkg/render"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// object is one rendered Kubernetes object reduced to what the conformance
// test compares: identity plus the fields that decide behaviour.
type object struct {
	Key    string         // kind/namespace/name
	Fields map[string]any // images, env, mesh config, webhooks, CNI config
}

// Intentional differences between `meshbundle install --dry-run` and
// `istioctl manifest generate` (render.GenerateManifest) for the same files:
//
//   - meshbundleOnly: releases Istio's renderer has no equivalent for: the
//     mesh-wide Telemetry chart, and the ingress gateway from Istio's
//     `gateway` chart (istioctl renders the legacy gateways/istio-ingress
//     chart instead, which values/default.yaml disables).
//   - releaseLabels: istioctl renders every chart as Helm release "istio"
//     with the source charts' version 1.0.0; meshbundle uses one release per
//     component and stamps the Istio release as chart version.
//   - istioctl *install* (not manifest generate) also creates the default
//     revision tag webhooks out of band; meshbundle gets the validator from
//     the base chart (values.defaultRevision: default, rendered by both).
//   - meshbundle-addons (rules, monitors, dashboards, Kiali) is meshbundle's
//     own chart; istioctl has no counterpart.
//   - gateway-api-crds (the Gateway API CRDs): istioctl installs none
//     (Istio's docs have users apply them with kubectl).
var meshbundleOnly = map[string]bool{ReleaseMesh: true, ReleaseGateway: true, ReleaseAddons: true, ReleaseGatewayAPI: true}

var releaseLabels = map[string]bool{
	"release": true, "app.kubernetes.io/instance": true, "helm.sh/chart": true, "app.kubernetes.io/version": true,
}

// labelsWithout drops the release-specific labels.
func labelsWithout(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !releaseLabels[k] {
			out[k] = v
		}
	}
	return out
}

// dryRunObjects runs `meshbundle install --dry-run` through the library and
// returns the objects of the releases Istio also renders.
func dryRunObjects(t *testing.T, src Source) map[string]object {
	t.Helper()
	res, err := Install(context.Background(), Options{Source: src, DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	out := map[string]object{}
	for _, rel := range res.Rendered {
		if !meshbundleOnly[rel.Name] {
			addObjects(t, out, rel.Manifest)
		}
	}
	return out
}

// istioctlObjects renders the same files with istioctl's code path. The
// installer package's init stamps Istio's DockerInfo with the pinned hub/tag,
// so this is exactly what a released istioctl 1.31.0 generates.
func istioctlObjects(t *testing.T, files []string, sets []string) map[string]object {
	t.Helper()
	sets2, _ := splitSets(sets)
	sets = sets2
	ms, _, err := render.GenerateManifest(files, sets, false, nil, nil)
	if err != nil {
		t.Fatalf("render.GenerateManifest: %v", err)
	}
	out := map[string]object{}
	for _, set := range ms {
		for _, m := range set.Manifests {
			addObjects(t, out, m.Content)
		}
	}
	return out
}

func addObjects(t *testing.T, out map[string]object, stream string) {
	t.Helper()
	for _, doc := range releaseutil.SplitManifests(stream) {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("parse rendered object: %v\n%s", err, doc)
		}
		if len(u.Object) == 0 {
			continue
		}
		key := fmt.Sprintf("%s/%s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
		if _, dup := out[key]; dup {
			t.Errorf("object %s rendered twice", key)
		}
		out[key] = object{Key: key, Fields: fieldsThatMatter(u)}
	}
}

// fieldsThatMatter picks labels and annotations (object and pod template,
// minus releaseLabels), images, container env, mesh/injector/CNI config and
// webhook definitions.
func fieldsThatMatter(u unstructured.Unstructured) map[string]any {
	f := map[string]any{"labels": labelsWithout(u.GetLabels()), "annotations": u.GetAnnotations()}
	podLabels, _, _ := unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
	podAnnotations, _, _ := unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "annotations")
	f["pod.labels"], f["pod.annotations"] = labelsWithout(podLabels), podAnnotations
	for _, path := range [][]string{{"spec", "template", "spec"}} {
		spec, ok, _ := unstructured.NestedMap(u.Object, path...)
		if !ok {
			continue
		}
		for _, list := range []string{"initContainers", "containers"} {
			cs, _, _ := unstructured.NestedSlice(spec, list)
			for _, c := range cs {
				cm := c.(map[string]any)
				f[list+"."+fmt.Sprint(cm["name"])+".image"] = cm["image"]
				f[list+"."+fmt.Sprint(cm["name"])+".env"] = cm["env"]
			}
		}
	}
	switch u.GetKind() {
	case "ConfigMap":
		data, _, _ := unstructured.NestedMap(u.Object, "data")
		f["data"] = data
	case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
		hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
		f["webhooks"] = hooks
	}
	return f
}

// firstDiff compares two values as indented JSON (ConfigMap data split
// into lines) and describes the first differing line, or returns "".
func firstDiff(a, b any) string {
	lines := func(v any) []string {
		j, _ := json.MarshalIndent(v, "", " ")
		return strings.Split(strings.ReplaceAll(string(j), `\n`, "\n"), "\n")
	}
	la, lb := lines(a), lines(b)
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: meshbundle %q, istioctl %q", i+1, strings.TrimSpace(x), strings.TrimSpace(y))
		}
	}
	return ""
}

// profileFiles is what both renderers read for a meshbundle profile.
func profileFiles(t *testing.T, profile string) []string {
	t.Helper()
	files, err := baseFiles(t.TempDir(), profile)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDryRunMatchesIstioctl(t *testing.T) {
	cases := []struct {
		name    string   // test name
		profile string   // meshbundle profile overlay (values/<profile>.yaml)
		set     []string // --set overrides given to both renderers
	}{
		{name: "default", profile: "default"},
		{name: "minimal", profile: "minimal"},
		{name: "ha", profile: "ha"},
		{name: "ambient", profile: "ambient"},
		{name: "default with sampling and collector overrides", profile: "default", set: []string{
			"meshConfig.defaultConfig.tracing.sampling=25",
			"meshConfig.extensionProviders[0].opentelemetry.service=otel.observability.svc.cluster.local",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ours := dryRunObjects(t, Source{Profile: tc.profile, Set: tc.set})
			theirs := istioctlObjects(t, profileFiles(t, tc.profile), tc.set)
			var keys []string
			for k := range theirs {
				keys = append(keys, k)
			}
			for k := range ours {
				if _, ok := theirs[k]; !ok {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				a, inOurs := ours[k]
				b, inTheirs := theirs[k]
				switch {
				case !inOurs:
					t.Errorf("%s: rendered by istioctl, missing from meshbundle --dry-run", k)
				case !inTheirs:
					t.Errorf("%s: rendered by meshbundle --dry-run, not by istioctl", k)
				default:
					fields := map[string]bool{}
					for f := range a.Fields {
						fields[f] = true
					}
					for f := range b.Fields {
						fields[f] = true
					}
					for field := range fields {
						if d := firstDiff(a.Fields[field], b.Fields[field]); d != "" {
							t.Errorf("%s field %s differs: %s", k, field, d)
						}
					}
				}
			}
			if len(theirs) == 0 {
				t.Fatal("istioctl rendered nothing")
			}
			if os.Getenv("VERBOSE") != "" {
				t.Logf("%d objects compared", len(theirs))
			}
		})
	}
}
