package appmesh

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxAppNameLength keeps "meshbundle-<name>" within a DNS-1123 label.
const maxAppNameLength = validation.DNS1123LabelMaxLength - len("meshbundle-")

var workloadKinds = sets.New("", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")

// Validate checks a defaulted AppMesh; every error carries the path of the
// offending field (spec.routes[0].gateway) so users find it at once.
func Validate(am *AppMesh) field.ErrorList {
	var errs field.ErrorList
	if am.APIVersion != APIVersion {
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), am.APIVersion, []string{APIVersion}))
	}
	if am.Kind != Kind {
		errs = append(errs, field.NotSupported(field.NewPath("kind"), am.Kind, []string{Kind}))
	}
	errs = append(errs, validateMetadata(am.Metadata, field.NewPath("metadata"))...)
	spec := field.NewPath("spec")
	errs = append(errs, validateInjection(am, spec.Child("injection"))...)
	errs = append(errs, validatePorts(am.Spec.Ports, spec.Child("ports"))...)
	errs = append(errs, validateDataplane(am, spec)...)
	errs = append(errs, validateRoutes(am.Spec.Routes, spec.Child("routes"))...)
	if am.Spec.RouteAPI == RouteAPIGatewayAPI {
		for i, r := range am.Spec.Routes {
			if r.Adopt {
				errs = append(errs, field.Invalid(spec.Child("routes").Index(i).Child("adopt"), r.Adopt,
					"adopt takes over a chart's VirtualService, which routeAPI gateway-api does not render; remove adopt and the chart's VirtualService and DestinationRule for the host"))
			}
		}
	}
	errs = append(errs, validateAliases(am, spec.Child("aliases"))...)
	if am.Spec.Canary != nil {
		errs = append(errs, validateCanary(am.Spec.Canary, spec.Child("canary"))...)
	}
	errs = append(errs, validatePromoted(am.Spec.Promoted, spec.Child("promoted"))...)
	return errs
}

// validateDataplane checks spec.dataplane and spec.routeAPI.
func validateDataplane(am *AppMesh, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch am.Spec.Dataplane {
	case DataplaneSidecar, DataplaneAmbient:
	default:
		errs = append(errs, field.NotSupported(p.Child("dataplane"), am.Spec.Dataplane, []Dataplane{DataplaneSidecar, DataplaneAmbient}))
	}
	switch am.Spec.RouteAPI {
	case RouteAPIIstio:
		if am.Spec.Dataplane == DataplaneAmbient {
			errs = append(errs, field.Invalid(p.Child("routeAPI"), am.Spec.RouteAPI,
				"the ambient data plane takes routes only from the Gateway API (waypoints); remove routeAPI or set it to gateway-api"))
		}
	case RouteAPIGatewayAPI:
	default:
		errs = append(errs, field.NotSupported(p.Child("routeAPI"), am.Spec.RouteAPI, []RouteAPI{RouteAPIIstio, RouteAPIGatewayAPI}))
	}
	if am.Spec.Dataplane == DataplaneAmbient && am.Spec.Injection.Revision != "" {
		errs = append(errs, field.Invalid(p.Child("injection", "revision"), am.Spec.Injection.Revision,
			"a revision pins sidecar injection to an istiod revision, and ambient pods get no sidecar; remove it"))
	}
	return errs
}

func validateMetadata(m Metadata, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "the application name, used for meshbundle-<name>"))
	} else {
		errs = append(errs, dns1123Label(p.Child("name"), m.Name)...)
		if len(m.Name) > maxAppNameLength {
			errs = append(errs, field.TooLong(p.Child("name"), m.Name, maxAppNameLength))
		}
	}
	if m.Namespace != "" {
		errs = append(errs, dns1123Label(p.Child("namespace"), m.Namespace)...)
	}
	return errs
}

func validateInjection(am *AppMesh, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	inj := am.Spec.Injection
	if inj.EmitNamespace && am.Metadata.Namespace == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "namespace"), "spec.injection.emitNamespace needs the namespace to emit"))
	}
	if inj.Revision != "" {
		errs = append(errs, dns1123Label(p.Child("revision"), inj.Revision)...)
		if inj.Enabled != nil && !*inj.Enabled {
			errs = append(errs, field.Invalid(p.Child("revision"), inj.Revision, "a revision needs injection; remove it or set spec.injection.enabled: true"))
		}
	}
	seen := sets.New[WorkloadRef]()
	for i, w := range inj.Exclude {
		ip := p.Child("exclude").Index(i)
		if !workloadKinds.Has(w.Kind) {
			errs = append(errs, field.NotSupported(ip.Child("kind"), w.Kind, sets.List(workloadKinds.Clone().Delete(""))))
		}
		if w.Name == "" {
			errs = append(errs, field.Required(ip.Child("name"), "the workload's metadata.name"))
		}
		if seen.Has(w) {
			errs = append(errs, field.Duplicate(ip, w))
		}
		seen.Insert(w)
	}
	return errs
}

func validatePorts(ports Ports, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch ports.Mode {
	case PortModeEnforce, PortModeFix:
	default:
		errs = append(errs, field.NotSupported(p.Child("mode"), ports.Mode, []PortMode{PortModeEnforce, PortModeFix}))
	}
	type key struct {
		svc  string
		port int32
	}
	seen := sets.New[key]()
	for i, r := range ports.Rename {
		rp := p.Child("rename").Index(i)
		if r.Service == "" {
			errs = append(errs, field.Required(rp.Child("service"), "the Service name"))
		}
		errs = append(errs, portNumber(rp.Child("port"), r.Port, true)...)
		if r.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), `"<protocol>" or "<protocol>-<suffix>"`))
		} else {
			errs = append(errs, dns1123Label(rp.Child("name"), r.Name)...)
		}
		k := key{r.Service, r.Port}
		if seen.Has(k) {
			errs = append(errs, field.Duplicate(rp, fmt.Sprintf("%s:%d", r.Service, r.Port)))
		}
		seen.Insert(k)
	}
	return errs
}

func validateRoutes(routes []Route, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, r := range routes {
		rp := p.Index(i)
		if r.Service == "" {
			errs = append(errs, field.Required(rp.Child("service"), "the name of a Service the chart renders"))
		} else {
			errs = append(errs, dns1035Label(rp.Child("service"), r.Service)...)
			if seen.Has(r.Service) {
				errs = append(errs, field.Duplicate(rp.Child("service"), r.Service))
			}
			seen.Insert(r.Service)
		}
		errs = append(errs, portNumber(rp.Child("port"), r.Port, false)...)
		if r.Gateway != "" {
			ns, name, ok := strings.Cut(r.Gateway, "/")
			if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
				errs = append(errs, field.Invalid(rp.Child("gateway"), r.Gateway, `must be "namespace/name" of a Gateway (an Istio Gateway, or with routeAPI gateway-api a Gateway API Gateway)`))
			} else {
				errs = append(errs, dns1123Label(rp.Child("gateway"), ns)...)
				errs = append(errs, dns1123Subdomain(rp.Child("gateway"), name)...)
			}
		}
		hosts := sets.New[string]()
		for j, h := range r.Hosts {
			hp := rp.Child("hosts").Index(j)
			if msgs := validation.IsWildcardDNS1123Subdomain(h); len(msgs) > 0 && len(validation.IsDNS1123Subdomain(h)) > 0 {
				errs = append(errs, field.Invalid(hp, h, strings.Join(msgs, "; ")))
			}
			if hosts.Has(h) {
				errs = append(errs, field.Duplicate(hp, h))
			}
			hosts.Insert(h)
		}
	}
	return errs
}

func validateAliases(am *AppMesh, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, a := range am.Spec.Aliases {
		ap := p.Index(i)
		if a.Name == "" {
			errs = append(errs, field.Required(ap.Child("name"), `a short name ("storefront") or a custom domain ("reviews.custom")`))
		} else {
			errs = append(errs, dns1123Subdomain(ap.Child("name"), a.Name)...)
			if seen.Has(a.Name) {
				errs = append(errs, field.Duplicate(ap.Child("name"), a.Name))
			}
			seen.Insert(a.Name)
		}
		if a.Service == "" {
			errs = append(errs, field.Required(ap.Child("service"), "the name of a Service the chart renders"))
		}
		switch a.Variant {
		case AliasExternalName:
			if a.Name != "" && DefaultAliasVariant(a.Name) != AliasExternalName {
				errs = append(errs, field.Invalid(ap.Child("variant"), a.Variant,
					"an ExternalName alias is a Service, so its name must be a DNS-1035 label without dots; use serviceentry-eds for custom domains"))
			}
		case AliasServiceEntryEDS, AliasServiceEntryDNS:
		default:
			errs = append(errs, field.NotSupported(ap.Child("variant"), a.Variant,
				[]AliasVariant{AliasExternalName, AliasServiceEntryEDS, AliasServiceEntryDNS}))
		}
	}
	if len(am.Spec.Aliases) > 0 && am.Metadata.Namespace == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "namespace"), "aliases point at <service>.<namespace>.svc.cluster.local"))
	}
	return errs
}

func validateCanary(c *Canary, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Target == "" {
		errs = append(errs, field.Required(p.Child("target"), "the name of the Deployment to canary"))
	}
	if c.Version == "" {
		errs = append(errs, field.Required(p.Child("version"), "the version label of the copy"))
	} else {
		errs = append(errs, dns1123Label(p.Child("version"), c.Version)...)
	}
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), "the image of the copy"))
	}
	if c.Weight < 0 || c.Weight > 100 {
		errs = append(errs, field.Invalid(p.Child("weight"), c.Weight, "must be between 0 and 100"))
	}
	switch c.Phase {
	case CanaryLabelling, CanaryPinning, CanaryStarting, CanaryAborting, CanaryRemoving, CanaryUnlabelling:
		if c.Weight != 0 {
			errs = append(errs, field.Invalid(p.Child("weight"), c.Weight, fmt.Sprintf("must be 0 in phase %s (use phase Progressing for traffic on the copy)", c.Phase)))
		}
	case CanaryPromoting, CanaryStabilizing, CanaryFinishing:
		if c.Weight != 100 {
			errs = append(errs, field.Invalid(p.Child("weight"), c.Weight, fmt.Sprintf("must be 100 in phase %s", c.Phase)))
		}
	case CanaryProgressing:
	default:
		errs = append(errs, field.NotSupported(p.Child("phase"), c.Phase, CanaryPhases))
	}
	return errs
}

func validatePromoted(ps []Promotion, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, pr := range ps {
		ip := p.Index(i)
		if pr.Deployment == "" {
			errs = append(errs, field.Required(ip.Child("deployment"), "the stable Deployment"))
		} else if seen.Has(pr.Deployment) {
			errs = append(errs, field.Duplicate(ip.Child("deployment"), pr.Deployment))
		}
		seen.Insert(pr.Deployment)
		if pr.Version == "" {
			errs = append(errs, field.Required(ip.Child("version"), "the version label"))
		} else {
			errs = append(errs, dns1123Label(ip.Child("version"), pr.Version)...)
		}
		if pr.Image == "" {
			errs = append(errs, field.Required(ip.Child("image"), "the promoted image"))
		}
	}
	return errs
}

func portNumber(p *field.Path, port int32, required bool) field.ErrorList {
	if port == 0 && !required {
		return nil
	}
	if msgs := validation.IsValidPortNum(int(port)); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, port, strings.Join(msgs, "; "))}
	}
	return nil
}

func dns1123Label(p *field.Path, v string) field.ErrorList {
	if msgs := validation.IsDNS1123Label(v); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, strings.Join(msgs, "; "))}
	}
	return nil
}

func dns1035Label(p *field.Path, v string) field.ErrorList {
	if msgs := validation.IsDNS1035Label(v); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, strings.Join(msgs, "; "))}
	}
	return nil
}

func dns1123Subdomain(p *field.Path, v string) field.ErrorList {
	if msgs := validation.IsDNS1123Subdomain(v); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, strings.Join(msgs, "; "))}
	}
	return nil
}
