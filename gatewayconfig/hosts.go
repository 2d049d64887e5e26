package gatewayconfig

import (
	"strings"

	"istio.io/istio/pkg/config/host"
)

// GatewayLabel marks the Gateway resource with the gateway it belongs to.
const GatewayLabel = "meshbundle.dev/gateway"

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
