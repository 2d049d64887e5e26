package appmesh

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Default is the configuration used when no AppMesh file is given:
// injection on, ports enforced, no routes or aliases.
func Default() *AppMesh {
	am := &AppMesh{APIVersion: APIVersion, Kind: Kind}
	SetDefaults(am)
	return am
}

// SetDefaults fills the optional fields with their documented defaults.
func SetDefaults(am *AppMesh) {
	if am.Spec.Injection.Enabled == nil {
		am.Spec.Injection.Enabled = ptr(true)
	}
	if am.Spec.Injection.NamespaceLabel == nil {
		am.Spec.Injection.NamespaceLabel = ptr(true)
	}
	if am.Spec.Dataplane == "" {
		am.Spec.Dataplane = DataplaneSidecar
	}
	if am.Spec.RouteAPI == "" {
		am.Spec.RouteAPI = RouteAPIIstio
		if am.Spec.Dataplane == DataplaneAmbient {
			am.Spec.RouteAPI = RouteAPIGatewayAPI
		}
	}
	if am.Spec.Ports.Mode == "" {
		am.Spec.Ports.Mode = PortModeEnforce
	}
	for i := range am.Spec.Aliases {
		a := &am.Spec.Aliases[i]
		if a.Variant == "" {
			a.Variant = DefaultAliasVariant(a.Name)
		}
	}
	if c := am.Spec.Canary; c != nil && c.Phase == "" {
		c.Phase = CanaryLabelling
	}
}

// DefaultAliasVariant picks the cheapest variant that keeps mTLS: an
// ExternalName Service when the alias can be a Service name (no extra Envoy
// cluster), else a ServiceEntry selecting the Service's pods (one EDS
// cluster per port, mTLS kept).
func DefaultAliasVariant(name string) AliasVariant {
	if !strings.Contains(name, ".") && len(validation.IsDNS1035Label(name)) == 0 {
		return AliasExternalName
	}
	return AliasServiceEntryEDS
}

func ptr[T any](v T) *T { return &v }
