package canary

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/renderer"
)

// TestStatusReadsGatewayAPIWeights: status reads the weights of an app
// with routeAPI gateway-api from what the renderer writes for it (its
// HTTPRoutes and per-version Services), as it reads VirtualServices.
func TestStatusReadsGatewayAPIWeights(t *testing.T) {
	tests := []struct {
		name    string           // the phase
		canary  *appmesh.Canary  // the AppMesh's canary
		running bool             // a canary is running (a rule with several backends)
		weights map[string]int32 // version -> weight of the target's versions
	}{
		{"weight 10", &appmesh.Canary{Target: "reviews", Version: "v2", Image: "example/reviews:2.0", Phase: appmesh.CanaryProgressing, Weight: 10}, true, map[string]int32{"stable": 90, "v2": 10}},
		{"starting", &appmesh.Canary{Target: "reviews", Version: "v2", Image: "example/reviews:2.0", Phase: appmesh.CanaryStarting}, true, map[string]int32{"stable": 100, "v2": 0}},
		// Negative control: one backend per rule is no canary (Pinning:
		// before the copy exists; Removing: after it went).
		{"pinning", &appmesh.Canary{Target: "reviews", Version: "v2", Image: "example/reviews:2.0", Phase: appmesh.CanaryPinning}, false, map[string]int32{"stable": 0}},
		{"removing", &appmesh.Canary{Target: "reviews", Version: "v2", Image: "example/reviews:2.0", Phase: appmesh.CanaryRemoving}, false, map[string]int32{"stable": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			am := &appmesh.AppMesh{APIVersion: appmesh.APIVersion, Kind: appmesh.Kind,
				Metadata: appmesh.Metadata{Name: "bookinfo", Namespace: "bookinfo"},
				Spec: appmesh.Spec{RouteAPI: appmesh.RouteAPIGatewayAPI, Routes: []appmesh.Route{{Service: "reviews"}, {Service: "ratings"}},
					Canary: tt.canary}}
			appmesh.SetDefaults(am)
			kube, gw := renderedObjects(t, am)
			cl := &Cluster{Client: kubefake.NewClientset(kube...), Namespace: "bookinfo", App: "bookinfo", Gateway: gatewayfake.NewSimpleClientset(gw...)}
			st, err := ReadStatus(context.Background(), cl, istiofake.NewSimpleClientset())
			if err != nil {
				t.Fatal(err)
			}
			if st.Running != tt.running {
				t.Errorf("running = %v, want %v", st.Running, tt.running)
			}
			got := map[string]int32{}
			for _, v := range st.Versions {
				got[v.Version] = v.Weight
			}
			for v, w := range tt.weights {
				if g, ok := got[v]; !ok || g != w {
					t.Errorf("version %s: weight %d (listed %v), want %d; status %+v", v, g, ok, w, st.Versions)
				}
			}
			// Without a Gateway API client the weights cannot be read: an error, not zeros.
			cl.Gateway = nil
			if _, err := ReadStatus(context.Background(), cl, istiofake.NewSimpleClientset()); err == nil || !strings.Contains(err.Error(), "no Gateway API client") {
				t.Errorf("without a Gateway API client: %v", err)
			}
		})
	}
}

// renderedObjects renders the renderer's canary test chart for am and
// decodes its output into objects for the fake clients: the Deployments,
// Services, ConfigMaps, and the Gateway API routes.
func renderedObjects(t *testing.T, am *appmesh.AppMesh) (kube, gw []runtime.Object) {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("..", "renderer", "testdata", "canary", "app.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := renderer.New(am, nil).Render(bytes.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(out.String(), "\n---\n") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		var obj runtime.Object
		switch meta.Kind {
		case "Deployment":
			obj = &appsv1.Deployment{}
		case "Service":
			obj = &corev1.Service{}
		case "ConfigMap":
			obj = &corev1.ConfigMap{}
		case "HTTPRoute":
			obj = &gwapi.HTTPRoute{}
		default:
			continue
		}
		if err := yaml.Unmarshal([]byte(doc), obj); err != nil {
			t.Fatal(err)
		}
		if o, ok := obj.(interface{ SetNamespace(string) }); ok {
			o.SetNamespace("bookinfo")
		}
		if meta.Kind == "HTTPRoute" {
			gw = append(gw, obj)
		} else {
			kube = append(kube, obj)
		}
	}
	if len(gw) == 0 {
		t.Fatal("the renderer wrote no HTTPRoute")
	}
	return kube, gw
}
