package renderer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"istio.io/api/label"

	"github.com/meshbundle/meshbundle/appmesh"
)

// alias renders the extra names of the app's Services, one object per
// alias, in the variant the AppMesh chose (see appmesh.AliasVariant):
//   - externalname: an ExternalName Service; Istio ≥ 1.21 folds it into the
//     target's cluster as an alias (no extra Envoy cluster, mTLS kept);
//   - serviceentry-eds: a ServiceEntry whose workloadSelector selects the
//     target's pods (an extra EDS cluster per port, mTLS kept);
//   - serviceentry-dns: a ServiceEntry resolving the target's FQDN
//     (an extra STRICT_DNS cluster per port); its endpoint carries
//     security.istio.io/tlsMode: istio so the connection stays mTLS.
type alias struct{ *env }

func newAlias(e *env) *alias { return &alias{e} }

func (f *alias) Filter(s *stream) error {
	if len(f.am.Spec.Aliases) == 0 {
		return nil
	}
	services := s.ix.services
	ws := s.ix.workloads
	var errs []error
	var added []*Resource
	for i, a := range f.am.Spec.Aliases {
		svc, ok := services[a.Service]
		if !ok {
			errs = append(errs, fmt.Errorf("AppMesh spec.aliases[%d].service: the chart renders no Service %q (fix: use one of: %s)", i, a.Service, strings.Join(sortedKeys(services), ", ")))
			continue
		}
		obj, err := f.render(i, a, svc, ws)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r, err := f.generate(obj, svc.Filename())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		added = append(added, r)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.add(added...)
	return nil
}

func (f *alias) render(i int, a appmesh.Alias, svc *Resource, ws *workloads) (object, error) {
	target := f.serviceHost(svc)
	ports := servicePorts(svc)
	if len(ports) == 0 {
		return nil, fmt.Errorf("AppMesh spec.aliases[%d]: %s has no ports to alias (fix: alias a Service with ports, or remove the entry)", i, svc)
	}
	switch a.Variant {
	case appmesh.AliasExternalName:
		out := &service{
			apiObject: newAPIObject("v1", "Service", a.Name, svc.Namespace),
			Spec:      serviceSpec{Type: "ExternalName", ExternalName: target},
		}
		for _, p := range ports {
			name := p.Name
			// Istio flags a bare "tcp" port name on ExternalName Services
			// (IST0151); the suffix keeps the protocol.
			if name == "tcp" {
				name = "tcp-" + strconv.Itoa(int(p.Port))
			}
			out.Spec.Ports = append(out.Spec.Ports, serviceSpecPort{
				Name: name, Port: p.Port, Protocol: p.Protocol, AppProtocol: p.AppProtocol,
				TargetPort: fromInt32(p.Port),
			})
		}
		return out, nil
	case appmesh.AliasServiceEntryEDS, appmesh.AliasServiceEntryDNS:
		se := &serviceEntry{apiObject: newAPIObject("networking.istio.io/v1", "ServiceEntry", svc.Name+"-alias-"+strings.ReplaceAll(a.Name, ".", "-"), svc.Namespace)}
		se.Spec.Hosts = []string{a.Name}
		se.Spec.Location = "MESH_INTERNAL"
		pods := ws.selected(svc.facts().selector())
		for _, p := range ports {
			sp := serviceEntryPort{Number: uint32(p.Port), Name: p.Name, Protocol: protocolOf(p).String()}
			if protocolOf(p).IsUnsupported() {
				sp.Protocol = "TCP"
			}
			if a.Variant == appmesh.AliasServiceEntryEDS {
				tp, err := targetPortNumber(p, pods)
				if err != nil {
					return nil, fmt.Errorf("AppMesh spec.aliases[%d]: %s port %d: %w", i, svc, p.Port, err)
				}
				if tp != p.Port {
					sp.TargetPort = uint32(tp)
				}
			}
			se.Spec.Ports = append(se.Spec.Ports, sp)
		}
		if a.Variant == appmesh.AliasServiceEntryEDS {
			sel := serviceSelector(svc)
			if len(sel) == 0 {
				return nil, fmt.Errorf("AppMesh spec.aliases[%d].variant: %s has no selector for a workloadSelector (fix: use variant externalname or serviceentry-dns)", i, svc)
			}
			se.Spec.Resolution = "STATIC"
			se.Spec.WorkloadSelector = &workloadSelector{Labels: sel}
		} else {
			se.Spec.Resolution = "DNS"
			se.Spec.Endpoints = []workloadEntry{{
				Address: target,
				Labels:  map[string]string{label.SecurityTlsMode.Name: "istio"},
			}}
		}
		return se, nil
	}
	return nil, fmt.Errorf("AppMesh spec.aliases[%d].variant: unknown variant %q (fix: use externalname, serviceentry-eds or serviceentry-dns)", i, a.Variant)
}

// targetPortNumber is the pod port behind a Service port.
func targetPortNumber(p servicePort, pods []*Resource) (int32, error) {
	if p.TargetPort == "" {
		return p.Port, nil
	}
	if n, err := strconv.ParseInt(p.TargetPort, 10, 32); err == nil {
		return int32(n), nil
	}
	if n, ok := containerPort(pods, p.TargetPort); ok {
		return n, nil
	}
	return 0, fmt.Errorf("targetPort %q names no container port of the selected pods (fix: use a numeric targetPort or variant externalname)", p.TargetPort)
}
