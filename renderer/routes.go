package renderer

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/meshbundle/meshbundle/appmesh"
)

// versionLabel is the pod label DestinationRule subsets select on.
const versionLabel = "version"

// routes renders, for each AppMesh route, the VirtualService of the
// Service's host (bound to a Gateway when asked) and a DestinationRule with
// one subset per "version" label among the Service's pods. Only one
// VirtualService per host is effective for sidecars, so a VS or DR the chart
// already renders for the host is refused, or adopted (its metadata kept,
// its spec replaced) when the route says adopt. For the hosts in front of a
// canary's target it takes the destinations of the phase from the canary
// filter (stream.canary).
type routes struct{ *env }

func newRoutes(e *env) *routes { return &routes{e} }

// readsTree: the chart's VirtualServices and DestinationRules.
func (f *routes) readsTree(group, kind string) bool {
	return group == "networking.istio.io" && (kind == "VirtualService" || kind == "DestinationRule")
}

// keepTree keeps the chart's VirtualServices and DestinationRules, which
// a route may adopt.
func (f *routes) keepTree(r *Resource) bool {
	return len(f.am.Spec.Routes) > 0 && f.am.Spec.RouteAPI == appmesh.RouteAPIIstio && !r.IsHook() &&
		(r.is("networking.istio.io", "VirtualService") || r.is("networking.istio.io", "DestinationRule"))
}

func (f *routes) Filter(s *stream) error {
	if len(f.am.Spec.Routes) == 0 || f.am.Spec.RouteAPI != appmesh.RouteAPIIstio {
		return nil
	}
	services := s.ix.services
	var errs []error
	var added []*Resource
	for i, route := range f.am.Spec.Routes {
		vs, dr, err := f.route(i, route, services, s.ix.workloads)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		host := vs.Spec.Hosts[0]
		vsDoc, fresh, err := f.place(s, route, vs, s.ix.vs[host], services[route.Service])
		if err != nil {
			errs = append(errs, err)
		}
		if fresh {
			added = append(added, vsDoc)
		}
		var drDoc *Resource
		if dr == nil {
			if len(s.ix.dr[host]) > 0 && !route.Adopt {
				errs = append(errs, conflict(route, s.ix.dr[host], "DestinationRule", host))
			}
		} else {
			drDoc, fresh, err = f.place(s, route, dr, s.ix.dr[host], services[route.Service])
			if err != nil {
				errs = append(errs, err)
			}
			if fresh {
				added = append(added, drDoc)
			}
		}
		if s.canary != nil && s.canary.hosts[host] && vsDoc != nil {
			if err := f.canaryDestinations(s, vsDoc, drDoc, host); err != nil {
				errs = append(errs, err)
			}
			// The canary's routes and subsets change what generate
			// stamped (an adopted chart object has no stamp).
			for _, d := range []*Resource{vsDoc, drDoc} {
				if d == nil {
					continue
				}
				if err := f.restamp(s, d); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.add(added...)
	return nil
}

// canaryDestinations gives every HTTP, TCP and TLS route of the host's
// VirtualService the canary's destinations, and its DestinationRule a
// subset for each of them (the old stable version during Stabilizing has
// no pods left to show it). The typed API would drop a weight of 0, so
// they are written into the document.
func (f *routes) canaryDestinations(s *stream, vs, dr *Resource, host string) error {
	dests := s.canary.dests
	if dr == nil {
		return fmt.Errorf("AppMesh spec.canary: host %s needs a DestinationRule for the canary's subsets, and its Service's pods carry no version label (fix: check spec.routes for the Service)", host)
	}
	n := 0
	var warm []any // warm-up HTTP routes, ahead of the others
	for _, kind := range []string{"http", "tcp", "tls"} {
		for i, rt := range vs.get("spec", kind).items() {
			list := rt.at("route")
			if list.len() == 0 {
				continue
			}
			first := list.at(0, "destination")
			if f.resolveHost(first.at("host").str(), vs) != host {
				continue
			}
			base, _ := first.value().(map[string]any)
			var out []any
			for _, d := range dests {
				dst := maps.Clone(base)
				if d.subset == "" {
					delete(dst, "subset")
				} else {
					dst["subset"] = d.subset
				}
				entry := map[string]any{"destination": dst}
				if len(dests) > 1 {
					entry["weight"] = int(d.weight)
				}
				out = append(out, entry)
			}
			s.set(vs, path{"spec", kind, i, "route"}, out)
			n++
			if kind == "http" {
				warm = append(warm, warmRoutes(rt, base, s.canary.warm)...)
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("%s: no route sends traffic to %s (fix: check spec.routes, or adopt: true)", vs, host)
	}
	if len(warm) > 0 {
		var http []any
		for _, rt := range vs.get("spec", "http").items() {
			http = append(http, rt.value())
		}
		s.set(vs, path{"spec", "http"}, append(warm, http...))
	}
	var subsets []any
	have := map[string]bool{}
	for _, sub := range dr.get("spec", "subsets").items() {
		subsets = append(subsets, sub.value())
		have[sub.at("name").str()] = true
	}
	changed := false
	for _, d := range slices.Concat(dests, s.canary.warm) {
		if d.subset == "" || have[d.subset] {
			continue
		}
		have[d.subset] = true
		subsets = append(subsets, map[string]any{"labels": map[string]any{versionLabel: d.subset}, "name": d.subset})
		changed = true
	}
	if changed {
		name := func(v any) string { m, _ := v.(map[string]any); n, _ := m["name"].(string); return n }
		slices.SortStableFunc(subsets, func(a, b any) int { return strings.Compare(name(a), name(b)) })
		s.set(dr, path{"spec", "subsets"}, subsets)
	}
	return nil
}

// warmRoutes are the warm-up routes of one HTTP route (canaryPlan.warm):
// its matches (or none) plus the header WarmHeader, to one destination.
func warmRoutes(rt node, base map[string]any, warm []destination) []any {
	var out []any
	for _, d := range warm {
		dst := maps.Clone(base)
		value := "host"
		if d.subset == "" {
			delete(dst, "subset")
		} else {
			dst["subset"] = d.subset
			value = d.subset
		}
		header := map[string]any{WarmHeader: map[string]any{"exact": value}}
		var matches []any
		for _, m := range rt.at("match").items() {
			mm, _ := m.value().(map[string]any)
			mm = maps.Clone(mm)
			headers, _ := mm["headers"].(map[string]any)
			headers = maps.Clone(headers)
			if headers == nil {
				headers = map[string]any{}
			}
			maps.Copy(headers, header)
			mm["headers"] = headers
			matches = append(matches, mm)
		}
		if len(matches) == 0 {
			matches = []any{map[string]any{"headers": header}}
		}
		name := "warm-" + value
		if n := rt.at("name").str(); n != "" {
			name = n + "-" + name
		}
		out = append(out, map[string]any{"name": name, "match": matches, "route": []any{map[string]any{"destination": dst}}})
	}
	return out
}

// routeTarget is what one AppMesh route sends traffic to, worked out once
// for both route APIs (routes.go writes it as a VirtualService and
// DestinationRule, gatewayapi.go as Gateway API routes).
type routeTarget struct {
	svc   *Resource
	host  string        // the Service's host (FQDN when the namespace is known)
	ports []servicePort // the routed ports
	// multi: the Service has several ports, so each route names its port.
	multi bool
	// versions are the "version" labels among the Service's pods, sorted.
	versions []string
}

// target checks route i against the chart's Services and workloads and
// returns what it routes to.
func (e *env) target(i int, route appmesh.Route, services map[string]*Resource, ws *workloads) (*routeTarget, error) {
	field := fmt.Sprintf("AppMesh spec.routes[%d].service", i)
	svc, ok := services[route.Service]
	if !ok {
		return nil, fmt.Errorf("%s: the chart renders no Service %q (fix: use one of: %s)", field, route.Service, strings.Join(sortedKeys(services), ", "))
	}
	if isHeadless(svc) {
		return nil, fmt.Errorf("%s: %s is headless (clusterIP: None); Istio cannot route or split traffic to individually addressed pods (fix: route a ClusterIP Service, or remove the route)", field, svc)
	}
	pods := ws.selected(svc.facts().selector())
	versions := map[string]bool{}
	for _, w := range pods {
		if w.Kind == "StatefulSet" {
			return nil, fmt.Errorf("%s: %s selects StatefulSet %s; routes and canaries are for stateless workloads (fix: remove the route)", field, svc, w.Name)
		}
		if v := w.facts().podLabels().Get(versionLabel); v != "" {
			versions[v] = true
		}
	}
	ports := servicePorts(svc)
	switch {
	case route.Port != 0:
		idx := slices.IndexFunc(ports, func(p servicePort) bool { return p.Port == route.Port })
		if idx < 0 {
			return nil, fmt.Errorf("AppMesh spec.routes[%d].port: %s has no port %d (fix: set port to one of the Service's ports, or leave it out)", i, svc, route.Port)
		}
		ports = ports[idx : idx+1]
	case len(ports) > 1 && route.Gateway != "":
		return nil, fmt.Errorf("AppMesh spec.routes[%d].port: %s has %d ports and the route goes through a gateway (fix: set port to one of them)", i, svc, len(ports))
	case len(ports) == 0:
		return nil, fmt.Errorf("%s: %s has no ports to route (fix: route a Service with ports, or remove the route)", field, svc)
	}
	if err := e.checkGateway(i, route, e.namespaceOf(svc)); err != nil {
		return nil, err
	}
	return &routeTarget{svc: svc, host: e.serviceHost(svc), ports: ports, multi: len(servicePorts(svc)) > 1, versions: sortedKeys(versions)}, nil
}

// route builds the VS and (when the pods carry versions) the DR of a route.
func (f *routes) route(i int, route appmesh.Route, services map[string]*Resource, ws *workloads) (*virtualService, *destinationRule, error) {
	t, err := f.target(i, route, services, ws)
	if err != nil {
		return nil, nil, err
	}
	svc, host, ports, multi := t.svc, t.host, t.ports, t.multi
	subset := ""
	if len(t.versions) == 1 {
		subset = t.versions[0]
	}
	// One route per port: with several ports Istio needs the destination
	// port to be explicit (analyzer IST0112), and the match keeps each
	// route on its own port. A single-port Service needs neither.
	var httpRoutes []httpRoute
	var tcpRoutes []tcpRoute
	for _, p := range ports {
		dest := destinationRef{Host: host, Subset: subset}
		var match uint32
		if multi || route.Port != 0 {
			dest.Port = &portSelector{Number: uint32(p.Port)}
		}
		if multi && route.Port == 0 {
			match = uint32(p.Port)
		}
		if protocolOf(p).IsHTTP() {
			hr := httpRoute{Name: routeName(p), Route: []routeDestination{{Destination: dest}}}
			if match != 0 {
				hr.Match = []portMatch{{Port: match}}
			}
			httpRoutes = append(httpRoutes, hr)
		} else {
			tr := tcpRoute{Route: []routeDestination{{Destination: dest}}}
			if match != 0 {
				tr.Match = []portMatch{{Port: match}}
			}
			tcpRoutes = append(tcpRoutes, tr)
		}
	}

	vs := &virtualService{apiObject: newAPIObject("networking.istio.io/v1", "VirtualService", svc.Name, svc.Namespace)}
	vs.Spec.Hosts = append([]string{host}, route.Hosts...)
	if route.Gateway != "" {
		vs.Spec.Gateways = []string{route.Gateway, "mesh"}
	}
	vs.Spec.HTTP, vs.Spec.TCP = httpRoutes, tcpRoutes
	if len(t.versions) == 0 {
		return vs, nil, nil
	}
	dr := &destinationRule{apiObject: newAPIObject("networking.istio.io/v1", "DestinationRule", svc.Name, svc.Namespace)}
	dr.Spec.Host = host
	for _, v := range t.versions {
		dr.Spec.Subsets = append(dr.Spec.Subsets, subsetSpec{Name: v, Labels: map[string]string{versionLabel: v}})
	}
	return vs, dr, nil
}

// place returns the generated document for obj (fresh), or adopts the
// chart's own object for the host by replacing its spec and returns it.
func (f *routes) place(s *stream, route appmesh.Route, obj object, existing []*Resource, svc *Resource) (doc *Resource, fresh bool, err error) {
	if len(existing) == 0 {
		r, err := f.generate(obj, svc.Filename())
		if err != nil {
			return nil, false, err
		}
		return r, true, nil
	}
	if !route.Adopt || len(existing) > 1 {
		return nil, false, conflict(route, existing, kindOf(obj), hostOf(obj))
	}
	// Adopt: keep the chart object's metadata, take our spec.
	var spec any
	switch o := obj.(type) {
	case *virtualService:
		spec = &o.Spec
	case *destinationRule:
		spec = &o.Spec
	}
	m, err := plain(spec)
	if err != nil {
		return nil, false, fmt.Errorf("encode the spec of %s %s: %w", kindOf(obj), obj.GetName(), err)
	}
	s.set(existing[0], path{"spec"}, m)
	return existing[0], false, nil
}

func conflict(route appmesh.Route, existing []*Resource, kind, host string) error {
	names := make([]string, 0, len(existing))
	for _, e := range existing {
		names = append(names, e.String())
	}
	hint := fmt.Sprintf("set adopt: true on the route for Service %s to let meshbundle take it over, or remove it from the chart", route.Service)
	if len(existing) > 1 {
		hint = "remove all but one from the chart"
	}
	return fmt.Errorf("the chart already renders %s for host %s, which meshbundle would render for Service %s; only one %s per host is effective (fix: %s)",
		strings.Join(names, " and "), host, route.Service, kind, hint)
}

func kindOf(obj object) string {
	if _, ok := obj.(*virtualService); ok {
		return "VirtualService"
	}
	return "DestinationRule"
}

func hostOf(obj object) string {
	switch o := obj.(type) {
	case *virtualService:
		return o.Spec.Hosts[0]
	case *destinationRule:
		return o.Spec.Host
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// routeName names an HTTP route after its port, so access logs and the
// canary CLI can tell the routes apart.
func routeName(p servicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return "port-" + strconv.Itoa(int(p.Port))
}

// checkGateway checks the route's gateway reference and hosts against the
// GatewayConfigs the renderer was given (none given: nothing to check).
func (e *env) checkGateway(i int, route appmesh.Route, vsNamespace string) error {
	if route.Gateway == "" || e.gateways == nil {
		return nil
	}
	gc, ok := e.gateways[route.Gateway]
	if !ok {
		return fmt.Errorf("AppMesh spec.routes[%d].gateway: no GatewayConfig for gateway %q (fix: use one of: %s, or pass its GatewayConfig with --gateway-config)",
			i, route.Gateway, strings.Join(sortedKeys(e.gateways), ", "))
	}
	for j, h := range route.Hosts {
		if !gc.ServesHost(vsNamespace, h) {
			return fmt.Errorf("AppMesh spec.routes[%d].hosts[%d]: gateway %s serves no host %q to namespace %q (its hosts: %s) (fix: add the host to a server of the GatewayConfig and apply it, or correct the route)",
				i, j, route.Gateway, h, vsNamespace, strings.Join(gc.Hosts(), ", "))
		}
	}
	return nil
}
