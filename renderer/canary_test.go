package renderer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshbundle/meshbundle/appmesh"
)

// canaryMesh builds the AppMesh of testdata/canary: a route for reviews and
// ratings, and the given canary section and promotions.
func canaryMesh(c *appmesh.Canary, promoted ...appmesh.Promotion) *appmesh.AppMesh {
	am := &appmesh.AppMesh{
		APIVersion: appmesh.APIVersion, Kind: appmesh.Kind,
		Metadata: appmesh.Metadata{Name: "bookinfo", Namespace: "bookinfo"},
		Spec: appmesh.Spec{
			Routes:   []appmesh.Route{{Service: "reviews"}, {Service: "ratings"}},
			Canary:   c,
			Promoted: promoted,
		},
	}
	appmesh.SetDefaults(am)
	return am
}

// gatewayAPIMesh switches an AppMesh to routeAPI gateway-api.
func gatewayAPIMesh(am *appmesh.AppMesh) *appmesh.AppMesh {
	am.Spec.RouteAPI = appmesh.RouteAPIGatewayAPI
	return am
}

// reviewsCanary is the canary section of reviews v2 in a phase.
func reviewsCanary(phase appmesh.CanaryPhase, weight int32) *appmesh.Canary {
	return &appmesh.Canary{Target: "reviews", Version: "v2", Image: "example/reviews:2.0", Phase: phase, Weight: weight}
}

// TestCanaryGolden renders every phase of the lifecycle through the whole
// pipeline. testdata/canary/<input>.<case>.golden.yaml; UPDATE_GOLDEN=1.
func TestCanaryGolden(t *testing.T) {
	promotedV2 := appmesh.Promotion{Deployment: "reviews", Version: "v2", Image: "example/reviews:2.0", Replaces: "example/reviews:1.0"}
	tests := []struct {
		name  string           // golden file case name
		input string           // testdata/canary/<input>.in.yaml
		am    *appmesh.AppMesh // the AppMesh of the phase
	}{
		{"before", "app", canaryMesh(nil)},
		{"1-labelling", "app", canaryMesh(reviewsCanary(appmesh.CanaryLabelling, 0))},
		{"1b-pinning", "app", canaryMesh(reviewsCanary(appmesh.CanaryPinning, 0))},
		{"2-starting", "app", canaryMesh(reviewsCanary(appmesh.CanaryStarting, 0))},
		{"3-weight-10", "app", canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 10))},
		{"4-weight-50", "app", canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 50))},
		{"abort-1-aborting", "app", canaryMesh(reviewsCanary(appmesh.CanaryAborting, 0))},
		{"abort-2-removing", "app", canaryMesh(reviewsCanary(appmesh.CanaryRemoving, 0))},
		{"abort-3-unlabelling", "app", canaryMesh(reviewsCanary(appmesh.CanaryUnlabelling, 0))},
		{"promote-1-promoting", "app", canaryMesh(reviewsCanary(appmesh.CanaryPromoting, 100))},
		{"promote-2-stabilizing", "app", canaryMesh(reviewsCanary(appmesh.CanaryStabilizing, 100))},
		{"promote-3-finishing", "app", canaryMesh(reviewsCanary(appmesh.CanaryFinishing, 100))},
		{"promote-4-promoted", "app", canaryMesh(nil, promotedV2)},
		// A chart whose stable template already says version: v1.
		{"3-weight-10", "labelled", canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 10))},
		{"promote-2-stabilizing", "labelled", canaryMesh(reviewsCanary(appmesh.CanaryStabilizing, 100))},
		{"promote-3-finishing", "labelled", canaryMesh(reviewsCanary(appmesh.CanaryFinishing, 100))},
		{"promote-4-promoted", "labelled", canaryMesh(nil, promotedV2)},
		// The target's HPA and PDB get copies for the copy, only while it runs.
		{"3-weight-10", "protected", canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 10))},
		{"promote-2-stabilizing", "protected", canaryMesh(reviewsCanary(appmesh.CanaryStabilizing, 100))},
		{"abort-2-removing", "protected", canaryMesh(reviewsCanary(appmesh.CanaryRemoving, 0))},
		// A second canary after a promotion starts from the promoted version.
		{"next-3-weight-10", "app", canaryMesh(&appmesh.Canary{Target: "reviews", Version: "v3", Image: "example/reviews:3.0", Phase: appmesh.CanaryProgressing, Weight: 10}, promotedV2)},
		// routeAPI gateway-api: HTTPRoutes with weighted backendRefs to
		// per-version Services instead of VirtualService and DestinationRule.
		{"gatewayapi-before", "app", gatewayAPIMesh(canaryMesh(nil))},
		{"gatewayapi-1-labelling", "app", gatewayAPIMesh(canaryMesh(reviewsCanary(appmesh.CanaryLabelling, 0)))},
		{"gatewayapi-1b-pinning", "app", gatewayAPIMesh(canaryMesh(reviewsCanary(appmesh.CanaryPinning, 0)))},
		{"gatewayapi-2-starting", "app", gatewayAPIMesh(canaryMesh(reviewsCanary(appmesh.CanaryStarting, 0)))},
		{"gatewayapi-3-weight-10", "app", gatewayAPIMesh(canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 10)))},
		{"gatewayapi-abort-2-removing", "app", gatewayAPIMesh(canaryMesh(reviewsCanary(appmesh.CanaryRemoving, 0)))},
		{"gatewayapi-promote-2-stabilizing", "app", gatewayAPIMesh(canaryMesh(reviewsCanary(appmesh.CanaryStabilizing, 100)))},
		{"gatewayapi-promote-3-promoted", "app", gatewayAPIMesh(canaryMesh(nil, promotedV2))},
	}
	for _, tt := range tests {
		t.Run(tt.input+"/"+tt.name, func(t *testing.T) {
			in := filepath.Join("testdata", "canary", tt.input+".in.yaml")
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var out, again bytes.Buffer
			if err := New(tt.am, nil).Render(bytes.NewReader(data), &out); err != nil {
				t.Fatal(err)
			}
			if err := New(tt.am, nil).Render(bytes.NewReader(data), &again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), again.Bytes()) {
				t.Error("two renders of the same phase differ")
			}
			compareGolden(t, strings.TrimSuffix(in, ".in.yaml")+"."+tt.name+".in.yaml", out.Bytes())
			checkCanaryInvariants(t, tt.am, data, out.Bytes())
		})
	}
}

// checkCanaryInvariants: the stable keeps its name and its selector bytes
// (an immutable field: a change would fail `helm upgrade`), and the copy
// exists exactly in the phases that run it.
func checkCanaryInvariants(t *testing.T, am *appmesh.AppMesh, in, out []byte) {
	t.Helper()
	ins, err := Reader{Namespace: "bookinfo"}.Read(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := Reader{Namespace: "bookinfo"}.Read(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	selector := func(rs []*Resource, name string) map[string]string {
		d := deploymentNamed(rs, name)
		if d == nil {
			t.Fatalf("no Deployment %s in the output", name)
		}
		return stringMap(d.Lookup("spec", "selector", "matchLabels"))
	}
	before, after := selector(ins, "reviews"), selector(outs, "reviews")
	if len(before) != len(after) {
		t.Errorf("stable selector changed: %v -> %v", before, after)
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("stable selector changed: %v -> %v", before, after)
		}
	}
	copyThere := deploymentNamed(outs, "reviews-"+versionOf(am)) != nil
	wantCopy := am.Spec.Canary != nil && am.Spec.Canary.Phase.CopyRuns()
	if copyThere != wantCopy {
		t.Errorf("copy present = %v, want %v", copyThere, wantCopy)
	}
}

// deploymentNamed is the Deployment of that name in rs, or nil.
func deploymentNamed(rs []*Resource, name string) *Resource {
	for _, r := range rs {
		if r.is("apps", "Deployment") && r.Name == name {
			return r
		}
	}
	return nil
}

func versionOf(am *appmesh.AppMesh) string {
	if am.Spec.Canary == nil {
		return "v2"
	}
	return am.Spec.Canary.Version
}

// TestCanaryErrors: what is missing is named, with the fix, and nothing is
// written.
func TestCanaryErrors(t *testing.T) {
	app, err := os.ReadFile(filepath.Join("testdata", "canary", "app.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	noRoutes := canaryMesh(reviewsCanary(appmesh.CanaryStarting, 0))
	noRoutes.Spec.Routes = []appmesh.Route{{Service: "ratings"}}
	tests := []struct {
		name  string           // what is wrong
		input string           // the rendered chart
		am    *appmesh.AppMesh // the AppMesh
		want  []string         // parts of the error
	}{
		{"unknown deployment", string(app), canaryMesh(&appmesh.Canary{Target: "review", Version: "v2", Image: "x", Phase: appmesh.CanaryStarting}),
			[]string{"spec.canary.target", `no Deployment "review"`, "ratings, reviews"}},
		{"no Service selects the target", strings.Replace(string(app), "selector: {app: reviews}", "selector: {app: other}", 1), canaryMesh(reviewsCanary(appmesh.CanaryStarting, 0)),
			[]string{"no Service of the chart selects the pods of Deployment reviews", "add a Service"}},
		{"Service without route", string(app), noRoutes,
			[]string{"Service reviews, which has no route", "add `- service: reviews` to spec.routes"}},
		{"canary version is the stable's", strings.Replace(string(app), "        app: reviews\n    spec:", "        app: reviews\n        version: v2\n    spec:", 1), canaryMesh(reviewsCanary(appmesh.CanaryStarting, 0)),
			[]string{"spec.canary.version", `"v2" is already the version of the stable Deployment reviews`}},
		{"unknown container", string(app), canaryMesh(&appmesh.Canary{Target: "reviews", Version: "v2", Image: "x", Container: "main", Phase: appmesh.CanaryStarting}),
			[]string{"spec.canary.container", `no container "main"`, "reviews, log-shipper"}},
		{"copy name taken", string(app) + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews-v2}\nspec:\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n    spec: {containers: [{name: x, image: x}]}\n",
			canaryMesh(reviewsCanary(appmesh.CanaryStarting, 0)), []string{`already renders Deployment "reviews-v2"`}},
		{"promotion of an unknown deployment", string(app), canaryMesh(nil, appmesh.Promotion{Deployment: "reviewz", Version: "v2", Image: "x"}),
			[]string{"spec.promoted[0].deployment", `no Deployment "reviewz"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := New(tt.am, nil).Render(strings.NewReader(tt.input), &out)
			if err == nil {
				t.Fatalf("render succeeded:\n%s", out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if out.Len() > 0 {
				t.Errorf("output written on error: %d bytes", out.Len())
			}
		})
	}
}

// TestPromotionStale: spec.promoted pins the promoted image only while the
// chart still renders the image it replaced (or the promoted one); once the
// chart renders anything else the chart wins and the entry is reported
// stale on the warning stream.
func TestPromotionStale(t *testing.T) {
	app, err := os.ReadFile(filepath.Join("testdata", "canary", "app.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	promoted := appmesh.Promotion{Deployment: "reviews", Version: "v2", Image: "example/reviews:2.0", Replaces: "example/reviews:1.0"}
	legacy := promoted
	legacy.Replaces = ""
	tests := []struct {
		name      string            // what the chart does since the promotion
		chart     string            // the image the chart renders for reviews
		promotion appmesh.Promotion // the entry
		wantImage string            // the image the output runs
		warning   string            // part of the warning, "" for none
	}{
		{"chart still renders the replaced image", "example/reviews:1.0", promoted, "example/reviews:2.0", ""},
		{"chart caught up with the promotion", "example/reviews:2.0", promoted, "example/reviews:2.0", ""},
		{"chart moved on: the chart wins", "example/reviews:3.0", promoted, "example/reviews:3.0", "spec.promoted[0] is stale: the chart renders image example/reviews:3.0"},
		{"entry without replaces pins, with a warning", "example/reviews:3.0", legacy, "example/reviews:2.0", "no replaces recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(string(app), "image: example/reviews:1.0", "image: "+tt.chart, 1)
			var out, warn bytes.Buffer
			if err := New(canaryMesh(nil, tt.promotion), &warn).Render(strings.NewReader(in), &out); err != nil {
				t.Fatal(err)
			}
			rs, err := Reader{Namespace: "bookinfo"}.Read(&out)
			if err != nil {
				t.Fatal(err)
			}
			d := deploymentNamed(rs, "reviews")
			if got := d.get(templatePath(d, "spec", "containers", 0, "image")...).str(); got != tt.wantImage {
				t.Errorf("reviews runs %s, want %s", got, tt.wantImage)
			}
			if tt.warning == "" && warn.Len() > 0 {
				t.Errorf("unexpected warning: %s", warn.String())
			}
			if tt.warning != "" && !strings.Contains(warn.String(), tt.warning) {
				t.Errorf("warnings %q lack %q", warn.String(), tt.warning)
			}
		})
	}
}

// TestCanaryProtectsCopy: while the copy runs, the target's HPA has a copy
// scaling the copy and its PDB a copy covering the copy's pods, and no pod
// (stable or copy, in any phase) is covered by two budgets, which would
// make it impossible to evict; ratings' HPA and PDB are not copied; once
// the copy is gone, so are its HPA and PDB and the stable's PDB is the
// chart's again.
func TestCanaryProtectsCopy(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "canary", "protected.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, phase := range appmesh.CanaryPhases {
		weight := int32(0)
		switch phase {
		case appmesh.CanaryProgressing:
			weight = 10
		case appmesh.CanaryPromoting, appmesh.CanaryStabilizing, appmesh.CanaryFinishing:
			weight = 100
		}
		t.Run(string(phase), func(t *testing.T) {
			var out bytes.Buffer
			if err := New(canaryMesh(reviewsCanary(phase, weight)), nil).Render(bytes.NewReader(in), &out); err != nil {
				t.Fatal(err)
			}
			rs, err := Reader{Namespace: "bookinfo"}.Read(&out)
			if err != nil {
				t.Fatal(err)
			}
			named := func(kind, name string) *Resource {
				for _, r := range rs {
					if r.Kind == kind && r.Name == name {
						return r
					}
				}
				return nil
			}
			runs := phase.CopyRuns()
			hpa, pdb := named("HorizontalPodAutoscaler", "reviews-v2"), named("PodDisruptionBudget", "reviews-v2")
			if (hpa != nil) != runs || (pdb != nil) != runs {
				t.Fatalf("copy runs %v: HPA copy %v, PDB copy %v", runs, hpa != nil, pdb != nil)
			}
			if named("HorizontalPodAutoscaler", "ratings-v2") != nil || named("PodDisruptionBudget", "ratings-v2") != nil {
				t.Error("ratings' HPA or PDB copied")
			}
			if runs {
				if got := hpa.get("spec", "scaleTargetRef", "name").str(); got != "reviews-v2" {
					t.Errorf("HPA copy scales %q, want reviews-v2", got)
				}
				if got := hpa.get("spec", "maxReplicas").str(); got != "6" {
					t.Errorf("HPA copy maxReplicas %q, want the stable's 6", got)
				}
			}
			// Every pod template of reviews is covered by exactly one budget.
			var budgets []*Resource
			for _, r := range rs {
				if r.is("policy", "PodDisruptionBudget") {
					budgets = append(budgets, r)
				}
			}
			for _, d := range []string{"reviews", "reviews-v2"} {
				dep := deploymentNamed(rs, d)
				if dep == nil {
					continue
				}
				pod := labels.Set(dep.get(templatePath(dep, "metadata", "labels")...).labels().Map())
				var covering []string
				for _, b := range budgets {
					sel, err := labelSelector(b.get("spec", "selector"))
					if err != nil {
						t.Fatal(err)
					}
					if sel.Matches(pod) {
						covering = append(covering, b.Name)
					}
				}
				if len(covering) != 1 {
					t.Errorf("pods of %s (%v) are covered by budgets %v, want exactly one", d, pod, covering)
				}
			}
		})
	}
}
