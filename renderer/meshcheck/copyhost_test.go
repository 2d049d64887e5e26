package meshcheck

import (
	"fmt"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/renderer"
)

// The copy's pods match the Service's selector, so the Service host's
// cluster includes them from the moment they exist. A proxy still holding
// the previous phase's route while a step creates the copy must therefore
// route by subset (or per-version Service), never by host, or the copy
// answers requests at weight 0 (docs/dataplane.md measured it before the
// Pinning phase existed).

// routeOf is a phase's route weights for the reviews host in a route API.
type routeOf func(t *testing.T, ph phase) map[string]uint32

func istioRoute(t *testing.T, ph phase) map[string]uint32 {
	w, _, _ := reviewsRoute(t, ph.out.kube, ph.out.istio, ph.out)
	return w
}

func gatewayAPIRoute(t *testing.T, ph phase) map[string]uint32 {
	w, _, _ := gammaRoute(t, ph.out.kube, ph.out.clusterIPs["reviews"])
	return w
}

// copyOnHost reports the step old → cur creating the canary copy while
// old's route sends traffic to the Service host (nil if it does not).
func copyOnHost(t *testing.T, old, cur phase, route routeOf) error {
	c := cur.am.Spec.Canary
	if c == nil {
		return nil
	}
	cp := renderer.CopyName(c.Target, c.Version)
	if !versionsRunning(t, cur.out.kube)[cp] || versionsRunning(t, old.out.kube)[cp] {
		return nil // the step does not create the copy
	}
	if w := route(t, old)["outbound|9080||"+canaryHost]; w > 0 {
		return fmt.Errorf("the step creates %s while the route before it (which proxies keep until the new one reaches them) sends %d%% to the Service host, whose endpoints then include the copy's pods", cp, w)
	}
	return nil
}

// TestCanaryCopyNeverOnHost: in every lifecycle, both route APIs, the step
// that creates the copy follows a phase that routes by subset only.
func TestCanaryCopyNeverOnHost(t *testing.T) {
	for _, api := range []struct {
		api   appmesh.RouteAPI
		route routeOf
	}{{appmesh.RouteAPIIstio, istioRoute}, {appmesh.RouteAPIGatewayAPI, gatewayAPIRoute}} {
		for _, lc := range lifecycles {
			phases := phasesIn(t, "app", lc, api.api)
			for i := 1; i < len(phases); i++ {
				t.Run(fmt.Sprintf("%s/%s/%02d %s", api.api, lc.name, i, phases[i].name), func(t *testing.T) {
					if err := copyOnHost(t, phases[i-1], phases[i], api.route); err != nil {
						t.Error(err)
					}
				})
			}
		}
	}
}

// TestCanaryCopyOnHostCheckFails is its control: the old order of start
// (Labelling, routing on the host, straight to Starting, which creates the
// copy) is reported, in both route APIs.
func TestCanaryCopyOnHostCheckFails(t *testing.T) {
	for _, api := range []struct {
		api   appmesh.RouteAPI
		route routeOf
	}{{appmesh.RouteAPIIstio, istioRoute}, {appmesh.RouteAPIGatewayAPI, gatewayAPIRoute}} {
		t.Run(string(api.api), func(t *testing.T) {
			phases := phasesIn(t, "app", lifecycle{"start", []canary.Request{start}}, api.api)
			var labelling, starting *phase
			for i := range phases {
				if c := phases[i].am.Spec.Canary; c != nil {
					switch c.Phase {
					case appmesh.CanaryLabelling:
						labelling = &phases[i]
					case appmesh.CanaryStarting:
						starting = &phases[i]
					}
				}
			}
			if labelling == nil || starting == nil {
				t.Fatalf("start planned no Labelling or Starting phase")
			}
			err := copyOnHost(t, *labelling, *starting, api.route)
			if err == nil {
				t.Fatal("Labelling → Starting (no Pinning between) not reported")
			}
			t.Logf("found, as expected: %v", err)
		})
	}
}
