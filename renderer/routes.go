package renderer

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
)

// versionLabel is the pod label DestinationRule subsets select on.
const versionLabel = "version"

// routes renders, for each AppMesh route, the VirtualService of the
// Service's host (bound to a Gateway when asked) and a DestinationRule with
// one subset per "version" label among the Service's pods. Only one
// VirtualService per host is effective for sidecars, so a VS or DR the chart
// already renders for the host is refused, or adopted (its metadata kept,
// its spec replaced) when the route says adopt.
type routes struct{ *env }

func newRoutes(e *env) *routes { return &routes{e} }

// istioObject is a chart VirtualService or DestinationRule.
type istioObject struct {
	res   *Resource
	index int // position in the stream
}

func (f *routes) Filter(rs []*Resource) ([]*Resource, error) {
	if len(f.am.Spec.Routes) == 0 {
		return rs, nil
	}
	services := serviceIndex(rs)
	ws := workloadIndex(rs)
	vsByHost, drByHost := f.istioIndex(rs)
	var errs []error
	var added []*Resource
	for i, route := range f.am.Spec.Routes {
		vs, dr, err := f.route(i, route, services, ws)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		host := vs.Spec.Hosts[0]
		placed, err := f.place(rs, route, vs, vsByHost[host], services[route.Service])
		if err != nil {
			errs = append(errs, err)
		}
		added = append(added, placed...)
		if dr == nil {
			if len(drByHost[host]) > 0 && !route.Adopt {
				errs = append(errs, conflict(route, drByHost[host], "DestinationRule", host))
			}
			continue
		}
		placed, err = f.place(rs, route, dr, drByHost[host], services[route.Service])
		if err != nil {
			errs = append(errs, err)
		}
		added = append(added, placed...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return append(rs, added...), nil
}

// istioIndex maps the hosts of the chart's own VirtualServices and
// DestinationRules (short names resolved like Istio: relative to the
// object's namespace).
func (f *routes) istioIndex(rs []*Resource) (vs, dr map[string][]istioObject) {
	vs, dr = map[string][]istioObject{}, map[string][]istioObject{}
	for i, r := range rs {
		if r.Group() != "networking.istio.io" || r.IsHook() {
			continue
		}
		switch r.Kind {
		case "VirtualService":
			for _, h := range r.facts().hosts {
				key := f.resolveHost(h, r)
				vs[key] = append(vs[key], istioObject{r, i})
			}
		case "DestinationRule":
			for _, h := range r.facts().hosts {
				key := f.resolveHost(h, r)
				dr[key] = append(dr[key], istioObject{r, i})
			}
		}
	}
	return vs, dr
}

func (f *routes) resolveHost(h string, r *Resource) string {
	if ns := f.namespaceOf(r); ns != "" && !strings.Contains(h, ".") && h != "*" {
		return h + "." + ns + ".svc.cluster.local"
	}
	return h
}

// route builds the VS and (when the pods carry versions) the DR of a route.
func (f *routes) route(i int, route appmesh.Route, services map[string]*Resource, ws *workloads) (*istionet.VirtualService, *istionet.DestinationRule, error) {
	field := fmt.Sprintf("AppMesh spec.routes[%d].service", i)
	svc, ok := services[route.Service]
	if !ok {
		return nil, nil, fmt.Errorf("%s: the chart renders no Service %q (fix: use one of: %s)", field, route.Service, strings.Join(sortedKeys(services), ", "))
	}
	if isHeadless(svc) {
		return nil, nil, fmt.Errorf("%s: %s is headless (clusterIP: None); Istio cannot route or split traffic to individually addressed pods (fix: route a ClusterIP Service, or remove the route)", field, svc)
	}
	pods := ws.selected(serviceSelector(svc))
	versions := map[string]bool{}
	for _, w := range pods {
		if w.res.Kind == "StatefulSet" {
			return nil, nil, fmt.Errorf("%s: %s selects StatefulSet %s; routes and canaries are for stateless workloads (fix: remove the route)", field, svc, w.res.Name)
		}
		if v := w.labels.Get(versionLabel); v != "" {
			versions[v] = true
		}
	}
	ports := servicePorts(svc)
	switch {
	case route.Port != 0:
		idx := slices.IndexFunc(ports, func(p servicePort) bool { return p.Port == route.Port })
		if idx < 0 {
			return nil, nil, fmt.Errorf("AppMesh spec.routes[%d].port: %s has no port %d", i, svc, route.Port)
		}
		ports = ports[idx : idx+1]
	case len(ports) > 1 && route.Gateway != "":
		return nil, nil, fmt.Errorf("AppMesh spec.routes[%d].port: %s has %d ports and the route goes through a gateway (fix: set port to one of them)", i, svc, len(ports))
	case len(ports) == 0:
		return nil, nil, fmt.Errorf("%s: %s has no ports to route", field, svc)
	}
	subset := ""
	if len(versions) == 1 {
		for v := range versions {
			subset = v
		}
	}
	host := f.serviceHost(svc)
	// One route per port: with several ports Istio needs the destination
	// port to be explicit (analyzer IST0112), and the match keeps each
	// route on its own port. A single-port Service needs neither.
	multi := len(servicePorts(svc)) > 1
	var httpRoutes []*networking.HTTPRoute
	var tcpRoutes []*networking.TCPRoute
	for _, p := range ports {
		dest := &networking.Destination{Host: host, Subset: subset}
		var match uint32
		if multi || route.Port != 0 {
			dest.Port = &networking.PortSelector{Number: uint32(p.Port)}
		}
		if multi && route.Port == 0 {
			match = uint32(p.Port)
		}
		if protocolOf(p).IsHTTP() {
			hr := &networking.HTTPRoute{Name: routeName(p), Route: []*networking.HTTPRouteDestination{{Destination: dest}}}
			if match != 0 {
				hr.Match = []*networking.HTTPMatchRequest{{Port: match}}
			}
			httpRoutes = append(httpRoutes, hr)
		} else {
			tr := &networking.TCPRoute{Route: []*networking.RouteDestination{{Destination: dest}}}
			if match != 0 {
				tr.Match = []*networking.L4MatchAttributes{{Port: match}}
			}
			tcpRoutes = append(tcpRoutes, tr)
		}
	}

	meta := func() metav1.ObjectMeta { return metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace} }
	vs := &istionet.VirtualService{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "VirtualService"},
		ObjectMeta: meta(),
	}
	if err := f.checkGateway(i, route, f.namespaceOf(svc)); err != nil {
		return nil, nil, err
	}
	vs.Spec.Hosts = append([]string{host}, route.Hosts...)
	if route.Gateway != "" {
		vs.Spec.Gateways = []string{route.Gateway, "mesh"}
	}
	vs.Spec.Http, vs.Spec.Tcp = httpRoutes, tcpRoutes
	if len(versions) == 0 {
		return vs, nil, nil
	}
	dr := &istionet.DestinationRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "DestinationRule"},
		ObjectMeta: meta(),
	}
	dr.Spec.Host = host
	for _, v := range sortedKeys(versions) {
		dr.Spec.Subsets = append(dr.Spec.Subsets, &networking.Subset{Name: v, Labels: map[string]string{versionLabel: v}})
	}
	return vs, dr, nil
}

// place returns the object to append, or adopts the chart's own object for
// the host by replacing its spec in place.
func (f *routes) place(rs []*Resource, route appmesh.Route, obj object, existing []istioObject, svc *Resource) ([]*Resource, error) {
	kind := kindOf(obj)
	host := hostOf(obj)
	if len(existing) == 0 {
		r, err := f.generate(obj, svc.Filename())
		if err != nil {
			return nil, err
		}
		return []*Resource{r}, nil
	}
	if !route.Adopt || len(existing) > 1 {
		return nil, conflict(route, existing, kind, host)
	}
	// Adopt: keep the chart object's metadata, take our spec.
	spec, err := specNode(obj)
	if err != nil {
		return nil, err
	}
	target := existing[0].res
	top := target.root()
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "spec" {
			top.Content[i+1] = spec
			target.markDirty()
			return nil, nil
		}
	}
	top.Content = append(top.Content, strNode("spec"), spec)
	target.markDirty()
	return nil, nil
}

func conflict(route appmesh.Route, existing []istioObject, kind, host string) error {
	names := make([]string, 0, len(existing))
	for _, e := range existing {
		names = append(names, e.res.String())
	}
	hint := fmt.Sprintf("set adopt: true on the route for Service %s to let meshbundle take it over, or remove it from the chart", route.Service)
	if len(existing) > 1 {
		hint = "remove all but one from the chart"
	}
	return fmt.Errorf("the chart already renders %s for host %s, which meshbundle would render for Service %s; only one %s per host is effective (fix: %s)",
		strings.Join(names, " and "), host, route.Service, kind, hint)
}

func kindOf(obj object) string {
	if _, ok := obj.(*istionet.VirtualService); ok {
		return "VirtualService"
	}
	return "DestinationRule"
}

func hostOf(obj object) string {
	switch o := obj.(type) {
	case *istionet.VirtualService:
		return o.Spec.Hosts[0]
	case *istionet.DestinationRule:
		return o.Spec.Host
	}
	return ""
}

// specNode encodes the spec of a generated Istio object as a YAML node.
func specNode(obj object) (*yaml.Node, error) {
	var spec any
	switch o := obj.(type) {
	case *istionet.VirtualService:
		spec = &o.Spec
	case *istionet.DestinationRule:
		spec = &o.Spec
	}
	raw, err := sigsyaml.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return doc.Content[0], nil
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
func (f *routes) checkGateway(i int, route appmesh.Route, vsNamespace string) error {
	if route.Gateway == "" || f.gateways == nil {
		return nil
	}
	gc, ok := f.gateways[route.Gateway]
	if !ok {
		return fmt.Errorf("AppMesh spec.routes[%d].gateway: no GatewayConfig for gateway %q (fix: use one of: %s, or pass its GatewayConfig with --gateway-config)",
			i, route.Gateway, strings.Join(sortedKeys(f.gateways), ", "))
	}
	for j, h := range route.Hosts {
		if !gc.ServesHost(vsNamespace, h) {
			return fmt.Errorf("AppMesh spec.routes[%d].hosts[%d]: gateway %s serves no host %q to namespace %q (its hosts: %s) (fix: add the host to a server of the GatewayConfig and apply it, or correct the route)",
				i, j, route.Gateway, h, vsNamespace, strings.Join(gc.Hosts(), ", "))
		}
	}
	return nil
}
