package gatewayobj

import (
	"fmt"
	"slices"
	"strings"

	"istio.io/istio/pkg/config/protocol"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshbundle/meshbundle/gatewayconfig"
)

// maxListeners is the Gateway CRD's limit on spec.listeners.
const maxListeners = 64

// namespaceNameLabel is the label Kubernetes puts on every Namespace with its
// own name: the way a Gateway API listener admits routes of named namespaces.
const namespaceNameLabel = "kubernetes.io/metadata.name"

// listenerProtocols maps the GatewayConfig protocols that have a Gateway API
// listener protocol; the others are refused by GatewayAPI.
var listenerProtocols = map[protocol.Instance]gwapi.ProtocolType{
	protocol.HTTP:  gwapi.HTTPProtocolType,
	protocol.HTTPS: gwapi.HTTPSProtocolType,
	protocol.TLS:   gwapi.TLSProtocolType,
	protocol.TCP:   gwapi.TCPProtocolType,
}

// GatewayAPI returns the gateway.networking.k8s.io/v1 Gateway of a
// defaulted, validated config, of class istio, named and labelled like the
// gateway. serviceType, if not empty, becomes the service-type annotation.
//
// Each server becomes one listener per distinct host (a listener has at
// most one hostname; "*" is a listener without one). The host's namespace
// prefix becomes the listener's allowedRoutes: no prefix or "*/" admits
// routes of every namespace (what an Istio Gateway does for
// VirtualServices), "./" the Gateway's namespace, "<ns>/" the namespaces
// named. A server with several hosts names its listeners
// "<server name>-<i>" (i counting distinct hosts from 0).
//
// TLS becomes the listener's tls: SIMPLE mode Terminate with the Secret
// credentialName as its certificateRef; MUTUAL and OPTIONAL_MUTUAL the same
// plus Istio's tls-terminate-mode option (the CA comes from the Secret's
// ca.crt or "<credentialName>-cacert", as for an Istio Gateway);
// ISTIO_MUTUAL Terminate with only that option; PASSTHROUGH mode
// Passthrough.
//
// What has no Gateway API equivalent is refused, each error naming the
// field and the fix: spec.selector (istiod creates and selects the pods of
// a Gateway API gateway), protocols HTTP2, GRPC and MONGO, AUTO_PASSTHROUGH,
// hosts on a TCP server, more than 64 listeners.
func GatewayAPI(gc *gatewayconfig.GatewayConfig, serviceType string) (*gwapi.Gateway, field.ErrorList) {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if len(gc.Spec.Selector) > 0 {
		errs = append(errs, field.Forbidden(spec.Child("selector"),
			"a Gateway API gateway runs on the pods istiod creates for it and selects no others; remove selector (or keep it and add the gateway without --api gateway-api)"))
	}
	gw := &gwapi.Gateway{
		TypeMeta: metav1.TypeMeta{APIVersion: gwapi.GroupVersion.String(), Kind: "Gateway"},
		ObjectMeta: metav1.ObjectMeta{
			Name: gc.Metadata.Name, Namespace: gc.Metadata.Namespace,
			Labels: map[string]string{gatewayconfig.GatewayLabel: gc.Metadata.Name},
		},
		Spec: gwapi.GatewaySpec{GatewayClassName: gatewayconfig.GatewayClassIstio},
	}
	if serviceType != "" {
		gw.Annotations = map[string]string{gatewayconfig.ServiceTypeAnnotation: serviceType}
	}
	for i, s := range gc.Spec.Servers {
		ls, serr := listeners(gc.Metadata.Namespace, s, spec.Child("servers").Index(i))
		errs = append(errs, serr...)
		gw.Spec.Listeners = append(gw.Spec.Listeners, ls...)
	}
	if len(gw.Spec.Listeners) > maxListeners {
		errs = append(errs, field.Invalid(spec.Child("servers"), len(gw.Spec.Listeners), fmt.Sprintf(
			"the servers make %d listeners (one per distinct host of a server), a Gateway has at most %d; serve fewer hosts or use a \"*.\" wildcard host", len(gw.Spec.Listeners), maxListeners)))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return gw, nil
}

// hostGroup is one distinct host of a server and the namespace prefixes it
// was given with.
type hostGroup struct {
	host       string
	namespaces []string // "*", "." or namespace names
}

// listeners translates one server.
func listeners(gwNamespace string, s gatewayconfig.Server, p *field.Path) ([]gwapi.Listener, field.ErrorList) {
	var errs field.ErrorList
	proto := protocol.Parse(s.Protocol)
	lproto, ok := listenerProtocols[proto]
	if !ok {
		fix := "use protocol TCP"
		if proto == protocol.HTTP2 || proto == protocol.GRPC {
			fix = "use protocol HTTP (or HTTPS): Gateway API listeners have no HTTP2 or GRPC protocol, and GRPCRoutes attach to HTTP and HTTPS listeners"
		}
		errs = append(errs, field.Invalid(p.Child("protocol"), s.Protocol, "no Gateway API listener protocol; "+fix))
	}
	tls, terr := listenerTLS(s.TLS, p.Child("tls"))
	errs = append(errs, terr...)

	var groups []*hostGroup
	for _, h := range s.Hosts {
		ns, host, scoped := strings.Cut(h, "/")
		if !scoped {
			ns, host = "*", h
		}
		i := slices.IndexFunc(groups, func(g *hostGroup) bool { return g.host == host })
		if i < 0 {
			groups = append(groups, &hostGroup{host: host})
			i = len(groups) - 1
		}
		groups[i].namespaces = append(groups[i].namespaces, ns)
	}
	if proto == protocol.TCP && (len(groups) != 1 || groups[0].host != "*") {
		errs = append(errs, field.Invalid(p.Child("hosts"), s.Hosts,
			`a Gateway API TCP listener has no hostname (TCPRoutes attach by port); use hosts: ["*"] (a "<namespace>/*" prefix still limits the routes' namespaces)`))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	out := make([]gwapi.Listener, 0, len(groups))
	for i, g := range groups {
		name := s.Name
		if len(groups) > 1 {
			name = fmt.Sprintf("%s-%d", s.Name, i)
		}
		l := gwapi.Listener{
			Name:          gwapi.SectionName(name),
			Port:          s.Port,
			Protocol:      lproto,
			TLS:           tls,
			AllowedRoutes: &gwapi.AllowedRoutes{Namespaces: routeNamespaces(gwNamespace, g.namespaces)},
		}
		if g.host != "*" {
			l.Hostname = ptr.To(gwapi.Hostname(g.host))
		}
		out = append(out, l)
	}
	return out, nil
}

// routeNamespaces admits the routes of the namespaces the host prefixes
// name: "*" all, "." (or only the Gateway's own) Same, else a selector on
// the namespaces' name label.
func routeNamespaces(gwNamespace string, prefixes []string) *gwapi.RouteNamespaces {
	if slices.Contains(prefixes, "*") {
		return &gwapi.RouteNamespaces{From: ptr.To(gwapi.NamespacesFromAll)}
	}
	var names []string
	for _, ns := range prefixes {
		if ns == "." {
			ns = gwNamespace
		}
		if !slices.Contains(names, ns) {
			names = append(names, ns)
		}
	}
	if len(names) == 1 && names[0] == gwNamespace {
		return &gwapi.RouteNamespaces{From: ptr.To(gwapi.NamespacesFromSame)}
	}
	slices.Sort(names)
	return &gwapi.RouteNamespaces{
		From: ptr.To(gwapi.NamespacesFromSelector),
		Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: namespaceNameLabel, Operator: metav1.LabelSelectorOpIn, Values: names,
		}}},
	}
}

// listenerTLS translates a server's TLS setting (nil for none).
func listenerTLS(t *gatewayconfig.TLS, p *field.Path) (*gwapi.ListenerTLSConfig, field.ErrorList) {
	if t == nil {
		return nil, nil
	}
	certs := []gwapi.SecretObjectReference{{
		Group: ptr.To(gwapi.Group("")), Kind: ptr.To(gwapi.Kind("Secret")), Name: gwapi.ObjectName(t.CredentialName),
	}}
	terminate := func(option gatewayconfig.TLSMode, refs []gwapi.SecretObjectReference) *gwapi.ListenerTLSConfig {
		c := &gwapi.ListenerTLSConfig{Mode: ptr.To(gwapi.TLSModeTerminate), CertificateRefs: refs}
		if option != "" {
			c.Options = map[gwapi.AnnotationKey]gwapi.AnnotationValue{gatewayconfig.TLSTerminateModeOption: gwapi.AnnotationValue(option)}
		}
		return c
	}
	switch t.Mode {
	case gatewayconfig.TLSSimple:
		return terminate("", certs), nil
	case gatewayconfig.TLSMutual, gatewayconfig.TLSOptionalMutual:
		return terminate(t.Mode, certs), nil
	case gatewayconfig.TLSIstioMutual:
		return terminate(t.Mode, nil), nil
	case gatewayconfig.TLSPassthrough:
		return &gwapi.ListenerTLSConfig{Mode: ptr.To(gwapi.TLSModePassthrough)}, nil
	default: // AUTO_PASSTHROUGH
		return nil, field.ErrorList{field.Invalid(p.Child("mode"), t.Mode,
			"no Gateway API equivalent on a gateway of class istio (it is the east-west gateway's mode); add an east-west gateway without --api gateway-api (--class east-west)")}
	}
}
