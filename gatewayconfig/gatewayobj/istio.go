// Package gatewayobj renders a GatewayConfig to the gateway's API objects:
// the Istio Gateway (Istio) and the Gateway API Gateway (GatewayAPI). It
// is apart from gatewayconfig so that the post-renderer, which only
// decodes, validates and checks hosts against GatewayConfigs, links none
// of the API packages these objects are built from (Istio's protobuf
// API, client-go and Gateway API types: megabytes of mapped pages on
// every render, see renderer/apitypes.go).
package gatewayobj

import (
	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/istio/pkg/config/protocol"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshbundle/meshbundle/gatewayconfig"
)

// Istio returns the Istio Gateway of a defaulted, validated config: same
// name and namespace as the gateway, selecting its pods, one Istio server
// per configured server.
func Istio(gc *gatewayconfig.GatewayConfig) *istionet.Gateway {
	gw := &istionet.Gateway{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "Gateway"},
		ObjectMeta: metav1.ObjectMeta{
			Name: gc.Metadata.Name, Namespace: gc.Metadata.Namespace,
			Labels: map[string]string{gatewayconfig.GatewayLabel: gc.Metadata.Name},
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
