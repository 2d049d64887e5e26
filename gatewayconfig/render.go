package gatewayconfig

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/istio/pkg/config/host"
	"istio.io/istio/pkg/config/protocol"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GatewayLabel marks the Gateway resource with the gateway it belongs to.
const GatewayLabel = "meshbundle.dev/gateway"

// Render returns the Istio Gateway of a defaulted, validated config: same
// name and namespace as the gateway, selecting its pods, one Istio server
// per configured server.
func Render(gc *GatewayConfig) *istionet.Gateway {
	gw := &istionet.Gateway{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "Gateway"},
		ObjectMeta: metav1.ObjectMeta{
			Name: gc.Metadata.Name, Namespace: gc.Metadata.Namespace,
			Labels: map[string]string{GatewayLabel: gc.Metadata.Name},
		},
	}
	gw.Spec.Selector = gc.Selector()
	for _, s := range gc.Spec.Servers {
		srv := &networking.Server{
			Port:  &networking.Port{Number: uint32(s.Port), Name: s.Name, Protocol: string(protocol.Parse(s.Protocol))},
			Hosts: append([]string(nil), s.Hosts...),
		}
		if s.TLS != nil {
			srv.Tls = &networking.ServerTLSSettings{
				Mode:           networking.ServerTLSSettings_TLSmode(networking.ServerTLSSettings_TLSmode_value[string(s.TLS.Mode)]),
				CredentialName: s.TLS.CredentialName,
			}
		}
		gw.Spec.Servers = append(gw.Spec.Servers, srv)
	}
	return gw
}

// ServesHost says whether a VirtualService in namespace vsNamespace with
// the given host can bind to this gateway: some server's host matches it
// (Istio's wildcard host matching) and that host's namespace prefix, if
// any, admits vsNamespace ("*" any, "." the gateway's own namespace).
func (gc *GatewayConfig) ServesHost(vsNamespace, h string) bool {
	for _, s := range gc.Spec.Servers {
		for _, gh := range s.Hosts {
			ns, name, scoped := strings.Cut(gh, "/")
			if !scoped {
				ns, name = "*", gh
			}
			if ns == "." {
				ns = gc.Metadata.Namespace
			}
			if ns != "*" && ns != vsNamespace {
				continue
			}
			if host.Name(name).Matches(host.Name(h)) {
				return true
			}
		}
	}
	return false
}

// Hosts lists every host of every server, for error messages.
func (gc *GatewayConfig) Hosts() []string {
	var out []string
	for _, s := range gc.Spec.Servers {
		out = append(out, s.Hosts...)
	}
	return out
}
