// Package gatewayconfig defines GatewayConfig, the small versioned file that
// says what an Istio gateway serves (ports, protocols, hosts, TLS), and
// renders it to the Istio Gateway resource bound to the gateway's pods.
//
// The comments on the types below are the user documentation (Gateway API
// style): each field states its default and its validation next to it. The
// package is lean (API types, YAML, Kubernetes validation helpers only) so
// that the post-renderer can check a route's gateway reference against a
// GatewayConfig without linking Helm or Istio's heavy packages.
package gatewayconfig

// APIVersion and Kind identify a GatewayConfig document.
const (
	Group      = "meshbundle.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "GatewayConfig"
)

// GatewayConfig is the configuration of one gateway: the Istio Gateway
// resource of the gateway Deployment that `meshbundle gateway add` created.
//
//	apiVersion: meshbundle.dev/v1alpha1
//	kind: GatewayConfig
//	metadata:
//	  name: public            # the gateway: Helm release, Deployment and Gateway name
//	  namespace: istio-ingress
//	spec:
//	  servers:
//	  - port: 80
//	    protocol: HTTP
//	    hosts: [shop.example.com]
//	  - port: 443
//	    protocol: HTTPS
//	    hosts: [shop.example.com]
//	    tls:
//	      mode: SIMPLE
//	      credentialName: shop-example-com-cert
//
// Apps refer to it from their AppMesh routes as "istio-ingress/public".
type GatewayConfig struct {
	// APIVersion must be "meshbundle.dev/v1alpha1".
	APIVersion string `json:"apiVersion"`
	// Kind must be "GatewayConfig".
	Kind string `json:"kind"`
	// Metadata names the gateway.
	Metadata Metadata `json:"metadata"`
	// Spec is what the gateway serves.
	Spec Spec `json:"spec"`
}

// Metadata names the gateway.
type Metadata struct {
	// Name of the gateway: the Helm release, its Deployment and Service, and
	// the Istio Gateway resource all carry it. Required; a DNS-1123 label.
	Name string `json:"name"`
	// Namespace of the gateway. Required; a DNS-1123 label.
	Namespace string `json:"namespace"`
}

// Spec lists the servers of the gateway.
type Spec struct {
	// Selector is the set of pod labels the Gateway binds to. Default: the
	// labels Istio's gateway chart puts on the gateway's pods,
	// {istio: <name without an "istio-" prefix>} (DefaultSelector). Set it only
	// to bind the Gateway to the pods of another gateway.
	// +optional
	Selector map[string]string `json:"selector,omitempty"`
	// Servers are the ports the gateway listens on. Required: at least one;
	// no two servers may use the same port.
	Servers []Server `json:"servers"`
}

// Server is one port of the gateway and the hosts it serves there.
type Server struct {
	// Name of the server, used in metrics and Envoy listener names.
	// Default: "<protocol>-<port>" in lower case (e.g. "https-443").
	// +optional
	Name string `json:"name,omitempty"`
	// Port the gateway listens on. Required, 1-65535, unique in the config.
	Port int32 `json:"port"`
	// Protocol on the port: HTTP, HTTPS, HTTP2, GRPC, TCP, TLS or MONGO
	// (Istio's gateway protocols). Required.
	Protocol string `json:"protocol"`
	// Hosts served on the port: DNS names, optionally with a leading "*."
	// wildcard, or "*"; each may be prefixed with "<namespace>/" to accept
	// only VirtualServices of that namespace (Istio's Gateway syntax).
	// Required: at least one.
	Hosts []string `json:"hosts"`
	// TLS settings; required for HTTPS and TLS servers, not allowed for
	// HTTP, HTTP2, GRPC, TCP and MONGO.
	// +optional
	TLS *TLS `json:"tls,omitempty"`
}

// TLSMode is how the gateway handles TLS on a server (Istio's
// ServerTLSSettings.TLSmode).
type TLSMode string

const (
	// TLSSimple terminates TLS with the certificate in CredentialName.
	TLSSimple TLSMode = "SIMPLE"
	// TLSMutual terminates TLS and requires client certificates; the CA is
	// in CredentialName (key ca.crt, or the Secret "<name>-cacert").
	TLSMutual TLSMode = "MUTUAL"
	// TLSOptionalMutual is MUTUAL where a client certificate is optional.
	TLSOptionalMutual TLSMode = "OPTIONAL_MUTUAL"
	// TLSPassthrough routes by SNI without terminating TLS.
	TLSPassthrough TLSMode = "PASSTHROUGH"
	// TLSAutoPassthrough routes mTLS traffic of the mesh by SNI to the
	// service encoded in it, without VirtualServices: the east-west gateway
	// of a multi-network mesh (port 15443).
	TLSAutoPassthrough TLSMode = "AUTO_PASSTHROUGH"
	// TLSIstioMutual uses the mesh's own certificates (gateway to gateway).
	TLSIstioMutual TLSMode = "ISTIO_MUTUAL"
)

// TLS is the TLS setting of a server.
type TLS struct {
	// Mode is one of SIMPLE, MUTUAL, OPTIONAL_MUTUAL, PASSTHROUGH,
	// AUTO_PASSTHROUGH, ISTIO_MUTUAL. Required.
	Mode TLSMode `json:"mode"`
	// CredentialName is the Secret (in the gateway's namespace) holding the
	// certificate and key (tls.crt, tls.key). Required for SIMPLE, MUTUAL and
	// OPTIONAL_MUTUAL; not allowed for the pass-through and ISTIO_MUTUAL
	// modes. The gateway's Role lets it read Secrets of its namespace.
	// +optional
	CredentialName string `json:"credentialName,omitempty"`
}
