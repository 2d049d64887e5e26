package gateway

import (
	"fmt"
	"strings"

	"github.com/meshbundle/meshbundle/gatewayconfig"
)

// Class is what a gateway is for; it picks the Service type, the default
// GatewayConfig and, for east-west, the multi-network settings.
type Class string

const (
	// ClassIngress takes traffic from outside the cluster (Service
	// LoadBalancer, Gateway serving HTTP on port 80 for every host until a
	// GatewayConfig says otherwise).
	ClassIngress Class = "ingress"
	// ClassEgress is where mesh traffic leaves the cluster (Service
	// ClusterIP; route external hosts to it with VirtualServices).
	ClassEgress Class = "egress"
	// ClassEastWest joins networks of a multi-cluster mesh: Istio's gateway
	// chart with networkGateway=<network> (topology.istio.io/network labels,
	// ISTIO_META_REQUESTED_NETWORK_VIEW, Service ports 15021/15443/15012/15017)
	// and a Gateway exposing every service of the mesh on port 15443 with
	// AUTO_PASSTHROUGH (Istio's expose-services.yaml).
	ClassEastWest Class = "east-west"
)

// Classes lists the valid classes.
var Classes = []Class{ClassIngress, ClassEgress, ClassEastWest}

// ParseClass checks a --class value.
func ParseClass(s string) (Class, error) {
	for _, c := range Classes {
		if string(c) == s {
			return c, nil
		}
	}
	names := make([]string, len(Classes))
	for i, c := range Classes {
		names[i] = string(c)
	}
	return "", fmt.Errorf("--class %q: must be one of %s", s, strings.Join(names, ", "))
}

// defaultServiceType is the gateway Service type of a class.
func (c Class) defaultServiceType() string {
	if c == ClassEgress {
		return "ClusterIP"
	}
	return "LoadBalancer"
}

// EastWestPort is where an east-west gateway accepts mTLS traffic of other
// networks (Istio's networkGatewayPorts.tls).
const EastWestPort = 15443

// DefaultConfig is the GatewayConfig `gateway add` applies: for east-west,
// Istio's cross-network Gateway (15443 AUTO_PASSTHROUGH for *.local); for
// the others one HTTP server on port 80 for every host, to be replaced by
// `gateway config apply`.
func DefaultConfig(name, namespace string, class Class) *gatewayconfig.GatewayConfig {
	gc := &gatewayconfig.GatewayConfig{
		APIVersion: gatewayconfig.APIVersion, Kind: gatewayconfig.Kind,
		Metadata: gatewayconfig.Metadata{Name: name, Namespace: namespace},
	}
	switch class {
	case ClassEastWest:
		gc.Spec.Servers = []gatewayconfig.Server{{
			Name: "tls", Port: EastWestPort, Protocol: "TLS", Hosts: []string{"*.local"},
			TLS: &gatewayconfig.TLS{Mode: gatewayconfig.TLSAutoPassthrough},
		}}
	default:
		gc.Spec.Servers = []gatewayconfig.Server{{Port: 80, Protocol: "HTTP", Hosts: []string{"*"}}}
	}
	gatewayconfig.SetDefaults(gc)
	return gc
}
