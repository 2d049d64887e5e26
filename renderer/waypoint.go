package renderer

import (
	"fmt"

	"istio.io/api/label"

	"github.com/meshbundle/meshbundle/appmesh"
)

// WaypointName is the waypoint Gateway of an app.
func WaypointName(app string) string { return app + "-waypoint" }

// waypoint gives an ambient app with routes its waypoint: ztunnel carries
// traffic at L4 only and routes nothing, so in ambient mode every route
// (HTTPRoute, GRPCRoute and TCPRoute alike) is applied by a waypoint proxy.
// For each namespace of the routed Services it adds a Gateway
// "<app>-waypoint" of class istio-waypoint (istiod's deployment controller
// runs the proxy; Istio's istioctl waypoint generate writes the same
// object) and labels the routed Services istio.io/use-waypoint: <it>, so
// their traffic goes through it. A chart label naming another waypoint is
// kept (with a warning): routes attach to the Service, whichever waypoint
// serves it.
type waypoint struct{ *env }

func newWaypoint(e *env) *waypoint { return &waypoint{e} }

func (f *waypoint) active() bool {
	return f.am.Spec.Dataplane == appmesh.DataplaneAmbient && len(f.am.Spec.Routes) > 0
}

// readsTree: Services, which it labels.
func (f *waypoint) readsTree(group, kind string) bool { return group == "" && kind == "Service" }

// keepTree keeps the routed Services, which Filter labels.
func (f *waypoint) keepTree(r *Resource) bool {
	if !f.active() || !r.is("", "Service") || r.IsHook() {
		return false
	}
	for _, rt := range f.am.Spec.Routes {
		if rt.Service == r.Name {
			return true
		}
	}
	return false
}

func (f *waypoint) Filter(s *stream) error {
	if !f.active() {
		return nil
	}
	name := WaypointName(f.am.Metadata.Name)
	var added []*Resource
	made := map[string]bool{} // namespaces with a waypoint
	for i, rt := range f.am.Spec.Routes {
		svc, ok := s.ix.services[rt.Service]
		if !ok {
			continue // the gatewayapi filter has refused it already
		}
		ns := f.namespaceOf(svc)
		if !made[ns] {
			made[ns] = true
			if other := f.chartGateway(s, ns, name); other != nil {
				return fmt.Errorf("AppMesh metadata.name: the waypoint of app %q is Gateway %q, and the chart already renders %s (fix: rename the chart's Gateway, or give the AppMesh another metadata.name)", f.am.Metadata.Name, name, other)
			}
			gw := &gatewayObject{
				apiObject: newAPIObject(gatewayAPIVersion, "Gateway", name, svc.Namespace),
				Spec: gatewaySpec{
					GatewayClassName: "istio-waypoint",
					Listeners:        []listener{{Name: "mesh", Port: 15008, Protocol: "HBONE"}},
				},
			}
			gw.Metadata.Labels = map[string]string{label.IoIstioWaypointFor.Name: "service"}
			r, err := f.generate(gw, svc.Filename())
			if err != nil {
				return err
			}
			added = append(added, r)
		}
		key := label.IoIstioUseWaypoint.Name
		switch have := svc.get("metadata", "labels", key).str(); {
		case have == name:
		case have != "":
			f.warnf("AppMesh spec.routes[%d]: %s keeps the chart's %s=%q instead of %q (fix: remove the label from the chart to use the app's waypoint)", i, svc, key, have, name)
		default:
			s.set(svc, path{"metadata", "labels", key}, name)
		}
	}
	s.add(added...)
	return nil
}

// chartGateway is the chart's Gateway API Gateway ns/name, or nil.
func (f *waypoint) chartGateway(s *stream, ns, name string) *Resource {
	for _, r := range s.docs {
		if r.is("gateway.networking.k8s.io", "Gateway") && r.Name == name && f.namespaceOf(r) == ns {
			return r
		}
	}
	return nil
}
