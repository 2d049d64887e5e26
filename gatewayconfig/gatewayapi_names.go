package gatewayconfig

// The Gateway API Gateway of a gateway added with `--api gateway-api`.
const (
	// GatewayClassIstio is istiod's own GatewayClass: istiod's deployment
	// controller creates the Deployment and Service of every Gateway of it.
	GatewayClassIstio = "istio"
	// ServiceTypeAnnotation on a Gateway sets the type of the Service istiod
	// creates for it (Istio's networking.istio.io/service-type; istiod's
	// default for class istio is LoadBalancer).
	ServiceTypeAnnotation = "networking.istio.io/service-type"
	// TLSTerminateModeOption is the listener TLS option with which istiod
	// terminates MUTUAL, OPTIONAL_MUTUAL or ISTIO_MUTUAL TLS on a listener
	// of mode Terminate (Istio's gateway.istio.io/tls-terminate-mode).
	TLSTerminateModeOption = "gateway.istio.io/tls-terminate-mode"
)
