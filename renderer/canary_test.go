package renderer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	promotedV2 := appmesh.Promotion{Deployment: "reviews", Version: "v2", Image: "example/reviews:2.0"}
	tests := []struct {
		name  string           // golden file case name
		input string           // testdata/canary/<input>.in.yaml
		am    *appmesh.AppMesh // the AppMesh of the phase
	}{
		{"before", "app", canaryMesh(nil)},
		{"1-labelling", "app", canaryMesh(reviewsCanary(appmesh.CanaryLabelling, 0))},
		{"2-starting", "app", canaryMesh(reviewsCanary(appmesh.CanaryStarting, 0))},
		{"3-weight-10", "app", canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 10))},
		{"4-weight-50", "app", canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 50))},
		{"abort-1-aborting", "app", canaryMesh(reviewsCanary(appmesh.CanaryAborting, 0))},
		{"abort-2-removing", "app", canaryMesh(reviewsCanary(appmesh.CanaryRemoving, 0))},
		{"abort-3-unlabelling", "app", canaryMesh(reviewsCanary(appmesh.CanaryUnlabelling, 0))},
		{"promote-1-promoting", "app", canaryMesh(reviewsCanary(appmesh.CanaryPromoting, 100))},
		{"promote-2-stabilizing", "app", canaryMesh(reviewsCanary(appmesh.CanaryStabilizing, 100))},
		{"promote-3-promoted", "app", canaryMesh(nil, promotedV2)},
		// A chart whose stable template already says version: v1.
		{"3-weight-10", "labelled", canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 10))},
		{"promote-2-stabilizing", "labelled", canaryMesh(reviewsCanary(appmesh.CanaryStabilizing, 100))},
		{"promote-3-promoted", "labelled", canaryMesh(nil, promotedV2)},
		// A second canary after a promotion starts from the promoted version.
		{"next-3-weight-10", "app", canaryMesh(&appmesh.Canary{Target: "reviews", Version: "v3", Image: "example/reviews:3.0", Phase: appmesh.CanaryProgressing, Weight: 10}, promotedV2)},
		// routeAPI gateway-api: HTTPRoutes with weighted backendRefs to
		// per-version Services instead of VirtualService and DestinationRule.
		{"gatewayapi-before", "app", gatewayAPIMesh(canaryMesh(nil))},
		{"gatewayapi-1-labelling", "app", gatewayAPIMesh(canaryMesh(reviewsCanary(appmesh.CanaryLabelling, 0)))},
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
