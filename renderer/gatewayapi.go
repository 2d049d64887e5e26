package renderer

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"istio.io/istio/pkg/config/protocol"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshbundle/meshbundle/appmesh"
)

// VersionOfLabel marks a per-version Service "<service>-<version>" with the
// name of the Service it splits; `meshbundle canary status` maps backendRefs
// back to versions by it.
const VersionOfLabel = "meshbundle.dev/version-of"

// gatewayAPI renders the routes of an AppMesh with routeAPI gateway-api
// (the routes filter renders routeAPI istio): for each routed port an
// HTTPRoute, GRPCRoute or TCPRoute (by the port's protocol) whose
// parentRefs are the Service (GAMMA: mesh traffic to the Service host) and,
// when the route names one, the Gateway API Gateway, with the route's
// hosts as hostnames.
//
// The Gateway API has no subsets. What a DestinationRule subset is to a
// VirtualService, a Service "<service>-<version>" selecting the Service's
// pods with that "version" label is to a route's backendRefs: one exists
// for every version among the Service's pods (and every version the canary
// routes to), exactly when the istio route API would render the subset, so
// the two APIs go through the same phases with the same make-before-break
// guarantees (a backend exists before a weight names it and is removed
// only after no weight does). With one version the route goes to its
// Service, without versions to the Service itself, and for a canary's
// hosts the backendRefs are the canary filter's weighted destinations,
// after the canary's warm-up rules (canaryPlan.warm) as HTTPRoute and
// GRPCRoute rules matching the header WarmHeader.
type gatewayAPI struct{ *env }

func newGatewayAPI(e *env) *gatewayAPI { return &gatewayAPI{e} }

func (f *gatewayAPI) Filter(s *stream) error {
	if len(f.am.Spec.Routes) == 0 || f.am.Spec.RouteAPI != appmesh.RouteAPIGatewayAPI {
		return nil
	}
	var errs []error
	var added []*Resource
	for i, route := range f.am.Spec.Routes {
		objs, err := f.route(s, i, route)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range objs {
			r, err := f.generate(o, s.ix.services[route.Service].Filename())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			added = append(added, r)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.add(added...)
	return nil
}

// route builds the per-version Services and the routes of route i.
func (f *gatewayAPI) route(s *stream, i int, route appmesh.Route) ([]object, error) {
	t, err := f.target(i, route, s.ix.services, s.ix.workloads)
	if err != nil {
		return nil, err
	}
	if vs := s.ix.vs[t.host]; len(vs) > 0 {
		return nil, fmt.Errorf("AppMesh spec.routes[%d]: the chart renders %s for host %s, and routeAPI gateway-api renders Gateway API routes for it; a VirtualService and a route for one host conflict (fix: remove the VirtualService from the chart, or use routeAPI: istio)", i, vs[0], t.host)
	}
	// The destinations: the canary's for its hosts, else like the
	// DestinationRule subsets of routeAPI istio.
	var dests, warm []destination
	versions := t.versions
	switch {
	case s.canary != nil && s.canary.hosts[t.host]:
		dests, warm = s.canary.dests, s.canary.warm
		for _, d := range slices.Concat(dests, warm) {
			if d.subset != "" && !slices.Contains(versions, d.subset) {
				versions = append(versions, d.subset)
			}
		}
	case len(versions) == 1:
		dests = []destination{{subset: versions[0]}}
	default:
		dests = []destination{{}}
	}
	var out []object
	for _, v := range sortedSet(versions) {
		svc, err := f.versionService(s, i, t.svc, v)
		if err != nil {
			return nil, err
		}
		out = append(out, svc)
	}
	for _, p := range t.ports {
		rt, err := f.portRoute(i, route, t, p, dests, warm)
		if err != nil {
			return nil, err
		}
		out = append(out, rt)
	}
	return out, nil
}

// backendName is the Service a destination sends to.
func backendName(svc string, d destination) string {
	if d.subset == "" {
		return svc
	}
	return svc + "-" + d.subset
}

// versionService is the Service "<service>-<version>": the Service's
// selector plus the version label, the same ports.
func (f *gatewayAPI) versionService(s *stream, i int, svc *Resource, version string) (*service, error) {
	name := backendName(svc.Name, destination{subset: version})
	if msgs := validation.IsDNS1035Label(name); len(msgs) > 0 {
		return nil, fmt.Errorf("AppMesh spec.routes[%d].service: the version %q of %s needs a Service %q, which is not a valid Service name (%s) (fix: use version labels that are DNS labels, e.g. v1-2 instead of 1.2, and a shorter Service name, or routeAPI: istio)",
			i, version, svc, name, strings.Join(msgs, "; "))
	}
	if other, ok := s.ix.services[name]; ok {
		return nil, fmt.Errorf("AppMesh spec.routes[%d].service: the chart already renders %s, the name routeAPI gateway-api gives the Service of version %q of %s (fix: rename that Service in the chart, or choose another version label)",
			i, other, version, svc)
	}
	sel := serviceSelector(svc)
	if len(sel) == 0 {
		return nil, fmt.Errorf("AppMesh spec.routes[%d].service: %s has no selector, so no Service can select its version %q (fix: give the Service a selector, or use routeAPI: istio)", i, svc, version)
	}
	sel = maps.Clone(sel)
	sel[versionLabel] = version
	out := &service{apiObject: newAPIObject("v1", "Service", name, svc.Namespace), Spec: serviceSpec{Selector: sel}}
	out.Metadata.Labels = map[string]string{VersionOfLabel: svc.Name, versionLabel: version}
	for _, p := range servicePorts(svc) {
		// An unset targetPort means the port number (written out: the
		// typed struct would print 0).
		sp := serviceSpecPort{Name: p.Name, Port: p.Port, Protocol: p.Protocol, AppProtocol: p.AppProtocol,
			TargetPort: fromInt32(p.Port)}
		if p.TargetPort != "" {
			sp.TargetPort = parseIntOrString(p.TargetPort)
		}
		out.Spec.Ports = append(out.Spec.Ports, sp)
	}
	return out, nil
}

// routeKind is the Gateway API route kind for a port's protocol, or "" when
// none that Istio serves carries it.
func routeKind(p protocol.Instance) string {
	switch {
	case p == protocol.GRPC:
		return "GRPCRoute"
	case p.IsHTTP():
		return "HTTPRoute"
	case p.IsTCP():
		return "TCPRoute"
	}
	return ""
}

// portRoute is the route of one port of the target: its warm-up rules
// (HTTPRoute and GRPCRoute; see canaryPlan.warm), then the rule with the
// weighted backendRefs.
func (f *gatewayAPI) portRoute(i int, route appmesh.Route, t *routeTarget, p servicePort, dests, warm []destination) (object, error) {
	proto := protocolOf(p)
	kind := routeKind(proto)
	if kind == "" {
		field := fmt.Sprintf("AppMesh spec.routes[%d].service", i)
		fix := "route another port with spec.routes[].port"
		if route.Port != 0 {
			field = fmt.Sprintf("AppMesh spec.routes[%d].port", i)
			fix = "set port to a TCP, HTTP or gRPC port of the Service"
		}
		return nil, fmt.Errorf("%s: %s port %d (%q) is %s, and no Gateway API route kind that Istio serves carries %s: HTTPRoute (http, http2, grpc-web), GRPCRoute (grpc) or TCPRoute (tcp, tls, https, mongo, mysql, redis) (fix: %s, name the port for its protocol, or use routeAPI: istio)",
			field, t.svc, p.Port, p.Name, proto, proto, fix)
	}
	name := t.svc.Name
	if len(t.ports) > 1 {
		name += "-" + routeName(p)
	}
	meta := func(kind string) apiObject { return newAPIObject(gatewayAPIVersion, kind, name, t.svc.Namespace) }
	// GAMMA: the Service as parent routes mesh traffic to its host; with
	// several ports the parentRef names the port, so each route keeps to
	// its own.
	svcParent := parentReference{Group: ptrTo(""), Kind: ptrTo("Service"), Name: t.svc.Name}
	if t.multi || route.Port != 0 {
		svcParent.Port = ptrTo(p.Port)
	}
	parents := []parentReference{svcParent}
	if route.Gateway != "" {
		ns, gw, _ := strings.Cut(route.Gateway, "/")
		parents = append(parents, parentReference{
			Group: ptrTo("gateway.networking.k8s.io"), Kind: ptrTo("Gateway"),
			Namespace: ptrTo(ns), Name: gw,
		})
	}
	hostnames := slices.Clone(route.Hosts)
	// A weight is written only when there are several backends; zero
	// weights are kept (a backend that gets no traffic yet, or any more).
	var refs []backendRef
	for _, d := range dests {
		ref := backendRef{Name: backendName(t.svc.Name, d), Port: ptrTo(p.Port)}
		if len(dests) > 1 {
			ref.Weight = ptrTo(d.weight)
		}
		refs = append(refs, ref)
	}
	// A warm-up rule matches only requests with the header WarmHeader
	// (value: the version, or "host" for the Service) and sends them to
	// that one backend, as the istio route API's warm-up routes do.
	warmRef := func(d destination) (backendRef, *string, string) {
		value := "host"
		if d.subset != "" {
			value = d.subset
		}
		ref := backendRef{Name: backendName(t.svc.Name, d), Port: ptrTo(p.Port)}
		return ref, ptrTo("warm-" + value), value
	}
	switch kind {
	case "HTTPRoute":
		rt := &gatewayRoute[httpRouteRule]{apiObject: meta(kind)}
		rt.Spec.ParentRefs, rt.Spec.Hostnames = parents, hostnames
		for _, d := range warm {
			ref, name, value := warmRef(d)
			rt.Spec.Rules = append(rt.Spec.Rules, httpRouteRule{Name: name,
				// The match written out as the API server defaults it
				// (istiod's own conversion needs the path).
				Matches: []httpRouteMatch{{
					Path:    &httpPathMatch{Type: ptrTo("PathPrefix"), Value: ptrTo("/")},
					Headers: []headerMatch{{Type: ptrTo("Exact"), Name: WarmHeader, Value: value}},
				}},
				BackendRefs: []backendRef{ref}})
		}
		rt.Spec.Rules = append(rt.Spec.Rules, httpRouteRule{BackendRefs: refs})
		return rt, nil
	case "GRPCRoute":
		rt := &gatewayRoute[grpcRouteRule]{apiObject: meta(kind)}
		rt.Spec.ParentRefs, rt.Spec.Hostnames = parents, hostnames
		for _, d := range warm {
			ref, name, value := warmRef(d)
			rt.Spec.Rules = append(rt.Spec.Rules, grpcRouteRule{Name: name,
				Matches:     []grpcRouteMatch{{Headers: []headerMatch{{Type: ptrTo("Exact"), Name: WarmHeader, Value: value}}}},
				BackendRefs: []backendRef{ref}})
		}
		rt.Spec.Rules = append(rt.Spec.Rules, grpcRouteRule{BackendRefs: refs})
		return rt, nil
	default:
		// A TCPRoute has no matches, so no warm-up rules: grpc-go's
		// proxyless client carries no TCP routes, and Envoy receives
		// every cluster anyway.
		if len(hostnames) > 0 {
			return nil, fmt.Errorf("AppMesh spec.routes[%d].hosts: %s port %d is %s, and a TCPRoute has no hostnames (fix: remove hosts, or route an HTTP port)", i, t.svc, p.Port, proto)
		}
		rt := &gatewayRoute[tcpRouteRule]{apiObject: meta(kind)}
		rt.Spec.ParentRefs = parents
		rt.Spec.Rules = []tcpRouteRule{{BackendRefs: refs}}
		return rt, nil
	}
}

func ptrTo[T any](v T) *T { return &v }

// sortedSet is the distinct strings of list, sorted.
func sortedSet(list []string) []string {
	m := map[string]bool{}
	for _, v := range list {
		m[v] = true
	}
	return sortedKeys(m)
}
