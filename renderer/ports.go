package renderer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"istio.io/istio/pkg/config/kube"
	"istio.io/istio/pkg/config/protocol"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
// The check of a Service needs only that Service, so it runs as each
// document is read (Document), while its tree is in memory; whether the
// Service fronts an Istio gateway is known only once every workload is
// read, so Finish keeps the outcome, or reverts the Service if it does.
type ports struct {
	*env
	rename map[portKey]string    // spec.ports.rename
	used   map[portKey]bool      // rename entries that matched a port
	fixes  map[*Resource]portFix // Services Document edited or found wrong
}

// portFix is what checking one Service's ports did.
type portFix struct {
	renamed map[string]string // old name -> new name
	used    []portKey         // rename entries that matched its ports
	err     error
	raw     []byte // the Service's bytes before the edits (for a revert)
}

type portKey struct {
	service string
	port    int32
}

func newPorts(e *env) *ports {
	p := &ports{env: e, rename: map[portKey]string{}, used: map[portKey]bool{}, fixes: map[*Resource]portFix{}}
	for _, r := range e.am.Spec.Ports.Rename {
		p.rename[portKey{r.Service, r.Port}] = r.Name
	}
	return p
}

// protocolOf is the protocol Istio infers for a Service port.
func protocolOf(p servicePort) protocol.Instance {
	return kube.ConvertProtocol(p.Port, p.Name, corev1.Protocol(p.Protocol), p.AppProtocol)
}

func (f *ports) Filter(rs []*Resource) ([]*Resource, error) {
	for _, r := range rs {
		if err := f.Document(r); err != nil {
			return nil, err
		}
	}
	return f.Finish(rs)
}

// Document checks and fixes the ports of a Service.
func (f *ports) Document(r *Resource) error {
	if r.Kind != "Service" || r.Group() != "" || r.IsHook() {
		return nil
	}
	raw := r.raw
	renamed, used, err := f.service(r)
	if renamed != nil || used != nil || err != nil || r.dirty || len(r.patches) > 0 {
		f.fixes[r] = portFix{renamed: renamed, used: used, err: err, raw: raw}
	}
	return nil
}

// Finish keeps the fixes of Services that front no Istio gateway (a
// gateway's status-port is Istio's own), reports the errors, and updates
// Ingresses and ServiceMonitors that name a renamed port.
func (f *ports) Finish(rs []*Resource) ([]*Resource, error) {
	ws := workloadIndex(rs)
	renamed := map[string]map[string]string{} // Service -> old name -> new name
	var monitored []renamedService            // for ServiceMonitor references
	var errs []error
	for _, r := range rs {
		fix, ok := f.fixes[r]
		if !ok {
			continue
		}
		if ws.selectsGateway(r) {
			r.revert(fix.raw)
			continue
		}
		for _, k := range fix.used {
			f.used[k] = true
		}
		if fix.err != nil {
			errs = append(errs, fix.err)
		} else if len(fix.renamed) > 0 {
			renamed[r.Name] = fix.renamed
			monitored = append(monitored, renamedService{res: r, namespace: f.namespaceOf(r), names: fix.renamed})
		}
	}
	for i, r := range f.am.Spec.Ports.Rename {
		if !f.used[portKey{r.Service, r.Port}] {
			errs = append(errs, fmt.Errorf("AppMesh spec.ports.rename[%d]: the chart renders no Service %q with port %d (fix: correct the entry or remove it)", i, r.Service, r.Port))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(renamed) == 0 {
		return rs, nil
	}
	for _, r := range rs {
		switch {
		case r.IsHook():
		case r.Kind == "Ingress" && r.Group() == "networking.k8s.io":
			updateIngressPorts(r, renamed)
		case r.Kind == "ServiceMonitor" && r.Group() == "monitoring.coreos.com":
			if err := f.updateServiceMonitorPorts(r, monitored); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return rs, errors.Join(errs...)
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
func (f *ports) updateServiceMonitorPorts(sm *Resource, services []renamedService) error {
	sel, err := labelSelector(sm.Lookup("spec", "selector"))
	if err != nil {
		return fmt.Errorf("%s spec.selector: %w", sm, err)
	}
	nsSel := sm.Lookup("spec", "namespaceSelector")
	anyNS := scalar(mapValue(nsSel, "any")) == "true"
	namespaces := map[string]bool{}
	if names := mapValue(nsSel, "matchNames"); names != nil && names.Kind == yaml.SequenceNode {
		for _, n := range names.Content {
			namespaces[scalar(n)] = true
		}
	} else {
		namespaces[f.namespaceOf(sm)] = true
	}
	var matched []renamedService
	for _, s := range services {
		if (anyNS || namespaces[s.namespace]) && sel.Matches(labels.Set(stringMap(s.res.Lookup("metadata", "labels")))) {
			matched = append(matched, s)
		}
	}
	eps := sm.Lookup("spec", "endpoints")
	if len(matched) == 0 || eps == nil || eps.Kind != yaml.SequenceNode {
		return nil
	}
	for i, ep := range eps.Content {
		portNode := mapValue(ep, "port")
		old := scalar(portNode)
		newNames := map[string]bool{}
		for _, s := range matched {
			if n, ok := s.names[old]; ok {
				newNames[n] = true
			}
		}
		switch len(newNames) {
		case 0:
		case 1:
			for n := range newNames {
				sm.setScalar(portNode, n)
			}
		default:
			return fmt.Errorf("%s spec.endpoints[%d].port %q: the Services it selects renamed that port differently (%s) (fix: give them one name with spec.ports.rename in the AppMesh)",
				sm, i, old, strings.Join(sortedKeys(newNames), ", "))
		}
	}
	return nil
}

// labelSelector reads a metav1.LabelSelector node.
func labelSelector(n *yaml.Node) (labels.Selector, error) {
	ls := &metav1.LabelSelector{MatchLabels: stringMap(mapValue(n, "matchLabels"))}
	if exprs := mapValue(n, "matchExpressions"); exprs != nil && exprs.Kind == yaml.SequenceNode {
		for _, e := range exprs.Content {
			req := metav1.LabelSelectorRequirement{
				Key:      scalar(mapValue(e, "key")),
				Operator: metav1.LabelSelectorOperator(scalar(mapValue(e, "operator"))),
			}
			if vs := mapValue(e, "values"); vs != nil && vs.Kind == yaml.SequenceNode {
				for _, v := range vs.Content {
					req.Values = append(req.Values, scalar(v))
				}
			}
			ls.MatchExpressions = append(ls.MatchExpressions, req)
		}
	}
	return metav1.LabelSelectorAsSelector(ls)
}

// service checks (and in fix mode renames) the ports of one Service and
// returns the renames it made and the rename entries it used.
func (f *ports) service(svc *Resource) (map[string]string, []portKey, error) {
	ps := servicePorts(svc)
	names := make(map[string]bool, len(ps))
	for _, p := range ps {
		names[p.Name] = true
	}
	var errs []error
	var renamed map[string]string
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
				return nil, used, fmt.Errorf("AppMesh spec.ports.rename for Service %s port %d: %q does not name a protocol Istio knows (fix: use <protocol>[-<suffix>] with protocol one of http, http2, https, grpc, grpc-web, tcp, tls, mongo, mysql, redis, udp)", svc.Name, p.Port, newName)
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
		svc.setIn(svc.Lookup("spec", "ports").Content[i], nil, "name", newName)
		if p.Name != "" {
			if renamed == nil {
				renamed = map[string]string{}
			}
			renamed[p.Name] = newName
		}
	}
	return renamed, used, errors.Join(errs...)
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
func updateIngressPorts(ing *Resource, renamed map[string]map[string]string) {
	fix := func(backend *yaml.Node) {
		svc := mapValue(backend, "service")
		m := renamed[scalar(mapValue(svc, "name"))]
		port := mapValue(svc, "port")
		if m == nil || port == nil {
			return
		}
		if newName, ok := m[scalar(mapValue(port, "name"))]; ok {
			ing.setIn(port, nil, "name", newName)
		}
	}
	fix(ing.Lookup("spec", "defaultBackend"))
	rules := ing.Lookup("spec", "rules")
	if rules == nil || rules.Kind != yaml.SequenceNode {
		return
	}
	for _, rule := range rules.Content {
		paths := lookup(rule, "http", "paths")
		if paths == nil || paths.Kind != yaml.SequenceNode {
			continue
		}
		for _, p := range paths.Content {
			fix(mapValue(p, "backend"))
		}
	}
}
