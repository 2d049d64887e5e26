package renderer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"istio.io/istio/pkg/config/protocol"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshbundle/meshbundle/appmesh"
)

// wellKnownPorts are the ports fix mode may name on its own (issue 4):
// anything else needs an explicit name, because guessing HTTP for, say,
// a Prometheus port on 9090 would be a silent protocol change.
var wellKnownPorts = map[int32]protocol.Instance{
	80:    protocol.HTTP,
	443:   protocol.HTTPS,
	3306:  protocol.MySQL,
	6379:  protocol.Redis,
	27017: protocol.Mongo,
}

// ports checks that every Service port tells Istio its protocol, with
// Istio's own rules (pkg/config/kube.ConvertProtocol: the name prefix or
// appProtocol, as istiod and analyzer IST0118 read it). Mode enforce
// fails naming the Service, the port and the name to use; mode fix renames
// from the well-known port. Only Service port names change: a named
// targetPort points at a container port, which keeps its name, and
// Ingress backends and ServiceMonitor endpoints naming the old port are
// updated.
//
// Document plans each Service's renames as it is read (keeping the tree
// of those it will rename); Filter, once every workload is indexed, skips
// the Services that front an Istio gateway (a gateway's status-port is
// Istio's own), reports the errors and makes the renames.
type ports struct {
	*env
	rename map[portKey]string      // spec.ports.rename
	used   map[portKey]bool        // rename entries that matched a port
	plans  map[*Resource]*portPlan // Services with renames, errors or rename entries
}

// portPlan is what checking one Service's ports found.
type portPlan struct {
	renames []portRename      // in port order
	renamed map[string]string // old name -> new name (named ports only)
	used    []portKey         // rename entries that matched its ports
	err     error
	done    bool // the renames are made
}

// portRename is the new name of spec.ports[index].
type portRename struct {
	index int
	name  string
}

type portKey struct {
	service string
	port    int32
}

func newPorts(e *env) *ports {
	p := &ports{env: e, rename: map[portKey]string{}, used: map[portKey]bool{}, plans: map[*Resource]*portPlan{}}
	for _, r := range e.am.Spec.Ports.Rename {
		p.rename[portKey{r.Service, r.Port}] = r.Name
	}
	return p
}

// protocolOf is the protocol Istio infers for a Service port: istiod's
// and analyzer IST0118's pkg/config/kube.ConvertProtocol, line for line
// but for its signature, whose corev1.Protocol links k8s.io/api/core/v1
// (~4 MB of RSS in the post-renderer, see apitypes.go). The name parsing
// is Istio's own protocol.Parse; TestProtocolOfIsIstios checks this copy
// against ConvertProtocol on every protocol name, appProtocol and
// well-known port.
func protocolOf(p servicePort) protocol.Instance {
	if p.Protocol == "UDP" {
		return protocol.UDP
	}
	name := p.Name
	if p.AppProtocol != nil {
		name = *p.AppProtocol
		switch name {
		case "kubernetes.io/h2c":
			return protocol.HTTP2
		case "kubernetes.io/ws":
			return protocol.HTTP
		case "kubernetes.io/wss":
			return protocol.HTTPS
		}
	}
	if grpcWeb := string(protocol.GRPCWeb); len(name) >= len(grpcWeb) && strings.EqualFold(name[:len(grpcWeb)], grpcWeb) {
		return protocol.GRPCWeb
	}
	if i := strings.IndexByte(name, '-'); i >= 0 {
		name = name[:i]
	}
	pr := protocol.Parse(name)
	if pr == protocol.Unsupported {
		switch p.Port {
		case 25, 53, 3306, 27017: // SMTP, DNS, MySQL, MongoDB: not sniffed
			return protocol.TCP
		}
	}
	return pr
}

// Document plans the port renames of a Service. When the stream holds no
// Istio gateway pod template at all (env.noGateways), no Service can front
// one, and the renames are made at once, so the Service's tree need not be
// kept until Filter.
func (f *ports) Document(s *stream, r *Resource) error {
	if !r.is("", "Service") || r.IsHook() {
		return nil
	}
	plan := f.service(r)
	if plan.renames == nil && plan.used == nil && plan.err == nil {
		return nil
	}
	if f.noGateways && plan.err == nil {
		f.makeRenames(s, r, plan)
	}
	f.plans[r] = plan
	return nil
}

// makeRenames makes the planned renames of a Service.
func (f *ports) makeRenames(s *stream, r *Resource, plan *portPlan) {
	for _, rn := range plan.renames {
		s.set(r, path{"spec", "ports", rn.index, "name"}, rn.name)
	}
	plan.done = true
}

// readsTree: Services, and the Ingresses and ServiceMonitors that may name
// their ports.
func (f *ports) readsTree(group, kind string) bool {
	return group == "" && kind == "Service" || group == "networking.k8s.io" && kind == "Ingress" ||
		group == "monitoring.coreos.com" && kind == "ServiceMonitor"
}

// keepTree keeps the Services it renames ports of, and the Ingresses and
// ServiceMonitors that may name those ports.
func (f *ports) keepTree(r *Resource) bool {
	if r.IsHook() {
		return false
	}
	if p := f.plans[r]; p != nil && len(p.renames) > 0 && !p.done {
		return true
	}
	return r.is("networking.k8s.io", "Ingress") || r.is("monitoring.coreos.com", "ServiceMonitor")
}

// Filter makes the renames of Services that front no Istio gateway,
// reports the errors, and updates Ingresses and ServiceMonitors that name
// a renamed port.
func (f *ports) Filter(s *stream) error {
	renamed := map[string]map[string]string{} // Service -> old name -> new name
	var monitored []renamedService            // for ServiceMonitor references
	var errs []error
	for _, r := range s.docs {
		plan, ok := f.plans[r]
		if !ok || s.ix.workloads.selectsGateway(r) {
			continue
		}
		for _, k := range plan.used {
			f.used[k] = true
		}
		if plan.err != nil {
			errs = append(errs, plan.err)
			continue
		}
		if !plan.done {
			f.makeRenames(s, r, plan)
		}
		if len(plan.renamed) > 0 {
			renamed[r.Name] = plan.renamed
			monitored = append(monitored, renamedService{res: r, namespace: f.namespaceOf(r), names: plan.renamed})
		}
	}
	for i, r := range f.am.Spec.Ports.Rename {
		if !f.used[portKey{r.Service, r.Port}] {
			errs = append(errs, fmt.Errorf("AppMesh spec.ports.rename[%d]: the chart renders no Service %q with port %d (fix: correct the entry or remove it)", i, r.Service, r.Port))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(renamed) == 0 {
		return nil
	}
	for _, r := range s.docs {
		switch {
		case r.IsHook():
		case r.is("networking.k8s.io", "Ingress"):
			updateIngressPorts(s, r, renamed)
		case r.is("monitoring.coreos.com", "ServiceMonitor"):
			if err := f.updateServiceMonitorPorts(s, r, monitored); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// renamedService is a Service whose port names fix mode changed.
type renamedService struct {
	res       *Resource
	namespace string
	names     map[string]string // old -> new
}

// updateServiceMonitorPorts rewrites spec.endpoints[].port of a Prometheus
// Operator ServiceMonitor that selects a renamed Service: it names Service
// ports, so a rename would otherwise silently stop the scraping.
func (f *ports) updateServiceMonitorPorts(s *stream, sm *Resource, services []renamedService) error {
	sel, err := labelSelector(sm.get("spec", "selector"))
	if err != nil {
		return fmt.Errorf("%s spec.selector: %w (fix: correct the selector in the chart)", sm, err)
	}
	nsSel := sm.get("spec", "namespaceSelector")
	anyNS := nsSel.at("any").str() == "true"
	namespaces := map[string]bool{}
	if names := nsSel.at("matchNames"); names.isSeq() {
		for _, n := range names.strings() {
			namespaces[n] = true
		}
	} else {
		namespaces[f.namespaceOf(sm)] = true
	}
	var matched []renamedService
	for _, svc := range services {
		if (anyNS || namespaces[svc.namespace]) && sel.Matches(svc.res.facts().labels()) {
			matched = append(matched, svc)
		}
	}
	eps := sm.get("spec", "endpoints")
	if len(matched) == 0 || !eps.isSeq() {
		return nil
	}
	for i, ep := range eps.items() {
		old := ep.at("port").str()
		newNames := map[string]bool{}
		for _, svc := range matched {
			if n, ok := svc.names[old]; ok {
				newNames[n] = true
			}
		}
		switch len(newNames) {
		case 0:
		case 1:
			for n := range newNames {
				s.set(sm, path{"spec", "endpoints", i, "port"}, n)
			}
		default:
			return fmt.Errorf("%s spec.endpoints[%d].port %q: the Services it selects renamed that port differently (%s) (fix: give them one name with spec.ports.rename in the AppMesh)",
				sm, i, old, strings.Join(sortedKeys(newNames), ", "))
		}
	}
	return nil
}

// labelSelector reads a metav1.LabelSelector as metav1.LabelSelectorAsSelector
// does (its package is left out of the post-renderer, see apitypes.go).
func labelSelector(n node) (labels.Selector, error) {
	matchLabels, exprs := n.at("matchLabels").labels().Map(), n.at("matchExpressions").items()
	if len(matchLabels)+len(exprs) == 0 {
		return labels.Everything(), nil
	}
	var reqs []labels.Requirement
	for k, v := range matchLabels {
		r, err := labels.NewRequirement(k, selection.Equals, []string{v})
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	ops := map[string]selection.Operator{"In": selection.In, "NotIn": selection.NotIn, "Exists": selection.Exists, "DoesNotExist": selection.DoesNotExist}
	for _, e := range exprs {
		op, ok := ops[e.at("operator").str()]
		if !ok {
			return nil, fmt.Errorf("%q is not a valid label selector operator", e.at("operator").str())
		}
		r, err := labels.NewRequirement(e.at("key").str(), op, e.at("values").strings())
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	return labels.NewSelector().Add(reqs...), nil
}

// service checks the ports of one Service and plans the renames of fix
// mode and of the rename entries.
func (f *ports) service(svc *Resource) *portPlan {
	ps := servicePorts(svc)
	names := make(map[string]bool, len(ps))
	for _, p := range ps {
		names[p.Name] = true
	}
	var errs []error
	var renamed map[string]string
	var renames []portRename
	var used []portKey
	for i, p := range ps {
		field := fmt.Sprintf("spec.ports[%d].name", i)
		key := portKey{svc.Name, p.Port}
		newName, explicit := f.rename[key]
		if explicit {
			used = append(used, key)
			check := p
			check.Name, check.AppProtocol = newName, nil
			if protocolOf(check).IsUnsupported() {
				return &portPlan{used: used, err: fmt.Errorf("AppMesh spec.ports.rename for Service %s port %d: %q does not name a protocol Istio knows (fix: use <protocol>[-<suffix>] with protocol one of http, http2, https, grpc, grpc-web, tcp, tls, mongo, mysql, redis, udp)", svc.Name, p.Port, newName)}
			}
		} else {
			if !protocolOf(p).IsUnsupported() {
				continue
			}
			proto, known := wellKnownPorts[p.Port]
			if f.am.Spec.Ports.Mode != appmesh.PortModeFix || !known {
				errs = append(errs, portError(svc, i, p, field, proto, known, f.am.Spec.Ports.Mode))
				continue
			}
			newName = uniquePortName(strings.ToLower(proto.String()), p, names)
		}
		if newName == p.Name {
			continue
		}
		delete(names, p.Name)
		names[newName] = true
		renames = append(renames, portRename{i, newName})
		if p.Name != "" {
			if renamed == nil {
				renamed = map[string]string{}
			}
			renamed[p.Name] = newName
		}
	}
	return &portPlan{renames: renames, renamed: renamed, used: used, err: errors.Join(errs...)}
}

func portError(svc *Resource, i int, p servicePort, field string, proto protocol.Instance, known bool, mode appmesh.PortMode) error {
	what := fmt.Sprintf("%s port %d (%s %q): Istio cannot tell its protocol from the name", svc, p.Port, field, p.Name)
	if known {
		suggested := uniquePortName(strings.ToLower(proto.String()), p, map[string]bool{})
		return fmt.Errorf("%s (fix: name it %q, set appProtocol, or set spec.ports.mode: fix in the AppMesh)", what, suggested)
	}
	suffix := p.Name
	if suffix == "" {
		suffix = strconv.Itoa(int(p.Port))
	}
	hint := fmt.Sprintf("name it \"http-%s\", \"grpc-%s\" or \"tcp-%s\" in the chart, set appProtocol, or add {service: %s, port: %d, name: ...} to spec.ports.rename in the AppMesh", suffix, suffix, suffix, svc.Name, p.Port)
	if mode == appmesh.PortModeFix {
		return fmt.Errorf("%s and port %d is not a well-known port mode fix can name (fix: %s)", what, p.Port, hint)
	}
	return fmt.Errorf("%s (fix: %s)", what, hint)
}

// uniquePortName is "<proto>-<old name>" (or "<proto>" for an unnamed
// port), made unique within the Service with the port number.
func uniquePortName(proto string, p servicePort, taken map[string]bool) string {
	candidates := []string{proto}
	if p.Name != "" {
		candidates = []string{proto + "-" + p.Name}
	}
	candidates = append(candidates, proto+"-"+strconv.Itoa(int(p.Port)))
	for _, c := range candidates {
		if !taken[c] && len(validation.IsDNS1123Label(c)) == 0 {
			return c
		}
	}
	return proto + "-" + strconv.Itoa(int(p.Port)) + "-" + strconv.Itoa(len(taken))
}

// updateIngressPorts rewrites backend.service.port.name references to
// renamed Service ports.
func updateIngressPorts(s *stream, ing *Resource, renamed map[string]map[string]string) {
	fix := func(backend path) {
		svc := ing.get(backend...).at("service")
		m := renamed[svc.at("name").str()]
		port := svc.at("port")
		if m == nil || !port.exists() {
			return
		}
		if newName, ok := m[port.at("name").str()]; ok {
			s.set(ing, append(backend, "service", "port", "name"), newName)
		}
	}
	fix(path{"spec", "defaultBackend"})
	for i, rule := range ing.get("spec", "rules").items() {
		for j := range rule.at("http", "paths").items() {
			fix(path{"spec", "rules", i, "http", "paths", j, "backend"})
		}
	}
}
