package renderer

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/meshbundle/meshbundle/appmesh"
)

// TestRoutingStamps: every routing object the renderer generates for the
// app carries RenderedAnnotation, the hash of its content as printed
// (stamped at generate, restamped after the canary's edits), the state
// ConfigMap lists exactly those objects with the same hashes
// (RoutingAnnotation), and a hash changes with the object's content only: from weight 10 to weight 50 the
// VirtualService of reviews changes and the DestinationRules and ratings'
// VirtualService do not.
func TestRoutingStamps(t *testing.T) {
	data, err := os.ReadFile("testdata/canary/app.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// stamps renders am and returns the routing objects' stamps and the
	// ConfigMap's list, both as "<Kind>/<name>=<hash>".
	stamps := func(am *appmesh.AppMesh) (objects map[string]string, listed string) {
		var out bytes.Buffer
		if err := New(am, nil).Render(bytes.NewReader(data), &out); err != nil {
			t.Fatal(err)
		}
		objects = map[string]string{}
		dec := yaml.NewDecoder(&out)
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			kind, _ := doc["kind"].(string)
			meta, _ := doc["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			anns, _ := meta["annotations"].(map[string]any)
			hash, _ := anns[RenderedAnnotation].(string)
			if kind == "ConfigMap" && name == StateConfigMapName("bookinfo") {
				listed, _ = anns[RoutingAnnotation].(string)
			}
			if _, ok := routingKinds[kind]; !ok && hash == "" {
				continue
			}
			objects[kind+"/"+name] = hash
			// The stamp is the hash of the object as printed, without
			// the stamp: no filter changed it after it was stamped.
			delete(anns, RenderedAnnotation)
			if len(anns) == 0 {
				delete(meta, "annotations")
			}
			if want, err := contentHash(doc); err != nil || hash != want {
				t.Errorf("%s/%s: stamp %q, the hash of its printed content %q (%v)", kind, name, hash, want, err)
			}
		}
		return objects, listed
	}
	w10, listed10 := stamps(canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 10)))
	w50, listed50 := stamps(canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 50)))
	for _, tc := range []struct {
		objects map[string]string
		listed  string
	}{{w10, listed10}, {w50, listed50}} {
		var want []string
		for _, k := range []string{"DestinationRule/ratings", "DestinationRule/reviews", "VirtualService/ratings", "VirtualService/reviews"} {
			if len(tc.objects[k]) != len("sha256-")+16 {
				t.Errorf("%s: %s = %q, want sha256- and 16 hex digits", k, RenderedAnnotation, tc.objects[k])
			}
			want = append(want, k+"="+tc.objects[k])
		}
		if len(tc.objects) != 4 {
			t.Errorf("routing objects %v, want the VirtualService and DestinationRule of reviews and ratings", tc.objects)
		}
		if got := strings.Join(want, ","); tc.listed != got {
			t.Errorf("the state ConfigMap's %s = %q, want %q", RoutingAnnotation, tc.listed, got)
		}
	}
	// routeAPI gateway-api: the HTTPRoutes, not the per-version Services
	// generated with them.
	gw, listedGW := stamps(gatewayAPIMesh(canaryMesh(reviewsCanary(appmesh.CanaryProgressing, 10))))
	if len(gw) != 2 || gw["HTTPRoute/reviews"] == "" || gw["HTTPRoute/ratings"] == "" ||
		listedGW != "HTTPRoute/ratings="+gw["HTTPRoute/ratings"]+",HTTPRoute/reviews="+gw["HTTPRoute/reviews"] {
		t.Errorf("gateway-api: stamped %v, listed %q; want the HTTPRoutes of reviews and ratings only", gw, listedGW)
	}
	for k, changes := range map[string]bool{"VirtualService/reviews": true, "DestinationRule/reviews": false, "VirtualService/ratings": false, "DestinationRule/ratings": false} {
		if (w10[k] != w50[k]) != changes {
			t.Errorf("%s: hash at weight 10 %s, at weight 50 %s; want changed %v", k, w10[k], w50[k], changes)
		}
	}
}
