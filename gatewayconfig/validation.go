package gatewayconfig

import (
	"fmt"
	"sort"
	"strings"

	"istio.io/istio/pkg/config/protocol"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// protocols a Gateway server may use (Istio's gateway server protocols).
var protocols = []protocol.Instance{protocol.HTTP, protocol.HTTPS, protocol.HTTP2, protocol.GRPC, protocol.TCP, protocol.TLS, protocol.Mongo}

// tlsModes and which of them need a certificate Secret.
var (
	tlsModes       = []TLSMode{TLSSimple, TLSMutual, TLSOptionalMutual, TLSPassthrough, TLSAutoPassthrough, TLSIstioMutual}
	needCredential = sets.New(TLSSimple, TLSMutual, TLSOptionalMutual)
)

// Validate checks a defaulted GatewayConfig. Every error carries the path of
// the offending field (spec.servers[1].tls.credentialName) and says what to
// put there.
func Validate(gc *GatewayConfig) field.ErrorList {
	var errs field.ErrorList
	if gc.APIVersion != APIVersion {
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), gc.APIVersion, []string{APIVersion}))
	}
	if gc.Kind != Kind {
		errs = append(errs, field.NotSupported(field.NewPath("kind"), gc.Kind, []string{Kind}))
	}
	meta := field.NewPath("metadata")
	errs = append(errs, requiredLabel(meta.Child("name"), gc.Metadata.Name, "the gateway's name (as given to `meshbundle gateway add`)")...)
	errs = append(errs, requiredLabel(meta.Child("namespace"), gc.Metadata.Namespace, "the gateway's namespace")...)
	spec := field.NewPath("spec")
	errs = append(errs, validateSelector(gc.Spec.Selector, spec.Child("selector"))...)
	servers := spec.Child("servers")
	if len(gc.Spec.Servers) == 0 {
		errs = append(errs, field.Required(servers, "at least one server (port, protocol, hosts)"))
	}
	ports := map[int32]int{}
	names := map[string]int{}
	for i, s := range gc.Spec.Servers {
		sp := servers.Index(i)
		errs = append(errs, validateServer(s, sp)...)
		if j, dup := ports[s.Port]; dup && s.Port != 0 {
			errs = append(errs, field.Duplicate(sp.Child("port"), fmt.Sprintf("%d (also spec.servers[%d]; put all hosts of a port into one server)", s.Port, j)))
		} else {
			ports[s.Port] = i
		}
		if j, dup := names[s.Name]; dup && s.Name != "" {
			errs = append(errs, field.Duplicate(sp.Child("name"), fmt.Sprintf("%s (also spec.servers[%d])", s.Name, j)))
		} else {
			names[s.Name] = i
		}
	}
	return errs
}

func validateServer(s Server, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if msgs := validation.IsValidPortNum(int(s.Port)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("port"), s.Port, strings.Join(msgs, "; ")))
	}
	proto := protocol.Parse(s.Protocol)
	known := false
	for _, k := range protocols {
		known = known || proto == k
	}
	if !known {
		errs = append(errs, field.NotSupported(p.Child("protocol"), s.Protocol, protocols))
	}
	if msgs := validation.IsDNS1123Label(s.Name); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("name"), s.Name, strings.Join(msgs, "; ")))
	}
	if len(s.Hosts) == 0 {
		errs = append(errs, field.Required(p.Child("hosts"), `at least one host, e.g. "shop.example.com" or "*"`))
	}
	seen := sets.New[string]()
	for j, h := range s.Hosts {
		hp := p.Child("hosts").Index(j)
		errs = append(errs, validateHost(hp, h)...)
		if seen.Has(h) {
			errs = append(errs, field.Duplicate(hp, h))
		}
		seen.Insert(h)
	}
	tp := p.Child("tls")
	switch {
	case s.TLS == nil && (proto == protocol.HTTPS || proto == protocol.TLS):
		errs = append(errs, field.Required(tp, fmt.Sprintf("a %s server needs tls.mode (SIMPLE with tls.credentialName to terminate, PASSTHROUGH to forward)", proto)))
	case s.TLS != nil && known && !proto.IsTLS():
		errs = append(errs, field.Forbidden(tp, fmt.Sprintf("a %s server carries no TLS; use protocol HTTPS or TLS, or remove tls", proto)))
	case s.TLS != nil:
		errs = append(errs, validateTLS(s.TLS, proto, tp)...)
	}
	return errs
}

func validateTLS(t *TLS, proto protocol.Instance, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	mp, cp := p.Child("mode"), p.Child("credentialName")
	if !sets.New(tlsModes...).Has(t.Mode) {
		return append(errs, field.NotSupported(mp, t.Mode, tlsModes))
	}
	switch {
	case needCredential.Has(t.Mode) && t.CredentialName == "":
		errs = append(errs, field.Required(cp, fmt.Sprintf("tls.mode %s terminates TLS and needs the name of a Secret with tls.crt and tls.key in the gateway's namespace", t.Mode)))
	case !needCredential.Has(t.Mode) && t.CredentialName != "":
		errs = append(errs, field.Forbidden(cp, fmt.Sprintf("tls.mode %s uses no certificate of the gateway; remove credentialName or use SIMPLE", t.Mode)))
	case t.CredentialName != "":
		if msgs := validation.IsDNS1123Subdomain(t.CredentialName); len(msgs) > 0 {
			errs = append(errs, field.Invalid(cp, t.CredentialName, "must be a Secret name: "+strings.Join(msgs, "; ")))
		}
	}
	if (t.Mode == TLSAutoPassthrough || t.Mode == TLSPassthrough) && proto != protocol.TLS {
		errs = append(errs, field.Invalid(mp, t.Mode, fmt.Sprintf("%s needs protocol TLS (the gateway forwards the TLS stream by SNI), not %s", t.Mode, proto)))
	}
	return errs
}

// validateHost accepts Istio's Gateway host syntax: [namespace/]host, where
// namespace is "*", "." or a namespace name and host is "*", a DNS name or a
// "*."-wildcard DNS name.
func validateHost(p *field.Path, h string) field.ErrorList {
	ns, host, scoped := strings.Cut(h, "/")
	if !scoped {
		ns, host = "", h
	}
	var msgs []string
	if scoped && ns != "*" && ns != "." {
		if m := validation.IsDNS1123Label(ns); len(m) > 0 {
			msgs = append(msgs, "namespace prefix: "+strings.Join(m, "; "))
		}
	}
	if host != "*" {
		if strings.HasPrefix(host, "*.") {
			msgs = append(msgs, validation.IsWildcardDNS1123Subdomain(host)...)
		} else {
			msgs = append(msgs, validation.IsDNS1123Subdomain(host)...)
		}
	}
	if len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, h, "not a DNS name (want [namespace/]host such as shop.example.com, *.example.com or *): "+strings.Join(msgs, "; "))}
	}
	return nil
}

func validateSelector(sel map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Key(k), k, strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(sel[k]); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Key(k), sel[k], strings.Join(msgs, "; ")))
		}
	}
	return errs
}

func requiredLabel(p *field.Path, v, what string) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, what)}
	}
	if msgs := validation.IsDNS1123Label(v); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, strings.Join(msgs, "; "))}
	}
	return nil
}
