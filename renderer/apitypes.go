package renderer

import (
	"encoding/json"
	"strconv"
)

// The objects the renderer generates, as small local structs that carry
// only the fields it sets, under the API types' own JSON names and
// omitempty rules (core/v1, networking.istio.io/v1 as protojson prints
// it, gateway.networking.k8s.io/v1).
//
// Why not the API packages themselves: the post-renderer is exec'd on
// every render, and its peak RSS is budgeted at 20 MB + 3 × input. Linking
// k8s.io/api/core/v1, Istio's protobuf API and client-go types, and the
// Gateway API types made the binary 15.5 MB (stripped), and on this
// kernel its mapped pages are resident nearly whole: ~7 MB of RSS before
// the first document, half the budget at 500 pairs. These structs are
// the source of the generated objects instead; TestLocalTypesMatchAPI
// decodes every generated object of the golden outputs strictly into the
// upstream typed struct and checks that printing it the old way gives the
// same bytes, so a field name or omitempty rule that drifted from the API
// fails there.

// object is a typed API object the renderer generates: what generate reads
// and sets (metav1.Object's accessors, so the upstream typed objects
// qualify too).
type object interface {
	GetName() string
	GetNamespace() string
	GetLabels() map[string]string
	SetLabels(map[string]string)
	GetAnnotations() map[string]string
	SetAnnotations(map[string]string)
}

// objectMeta is the part of metav1.ObjectMeta generated objects set.
type objectMeta struct {
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// apiObject is metav1.TypeMeta and ObjectMeta.
type apiObject struct {
	APIVersion string     `json:"apiVersion,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Metadata   objectMeta `json:"metadata"`
}

func newAPIObject(apiVersion, kind, name, namespace string) apiObject {
	return apiObject{APIVersion: apiVersion, Kind: kind, Metadata: objectMeta{Name: name, Namespace: namespace}}
}

func (o *apiObject) GetName() string                    { return o.Metadata.Name }
func (o *apiObject) GetNamespace() string               { return o.Metadata.Namespace }
func (o *apiObject) GetLabels() map[string]string       { return o.Metadata.Labels }
func (o *apiObject) SetLabels(l map[string]string)      { o.Metadata.Labels = l }
func (o *apiObject) GetAnnotations() map[string]string  { return o.Metadata.Annotations }
func (o *apiObject) SetAnnotations(a map[string]string) { o.Metadata.Annotations = a }

// Core API (v1).

type namespaceObject struct {
	apiObject
}

type configMap struct {
	apiObject
	Data map[string]string `json:"data,omitempty"`
}

type service struct {
	apiObject
	Spec serviceSpec `json:"spec"`
}

type serviceSpec struct {
	Ports        []serviceSpecPort `json:"ports,omitempty"`
	Selector     map[string]string `json:"selector,omitempty"`
	Type         string            `json:"type,omitempty"`
	ExternalName string            `json:"externalName,omitempty"`
}

type serviceSpecPort struct {
	Name        string      `json:"name,omitempty"`
	Protocol    string      `json:"protocol,omitempty"`
	AppProtocol *string     `json:"appProtocol,omitempty"`
	Port        int32       `json:"port"`
	TargetPort  intOrString `json:"targetPort,omitempty"`
}

// intOrString is intstr.IntOrString: a number, or a name.
type intOrString struct {
	name   string // set: a name
	number int32
}

func fromInt32(n int32) intOrString { return intOrString{number: n} }

// parseIntOrString is intstr.Parse: a 32-bit decimal number is a number,
// anything else a name.
func parseIntOrString(s string) intOrString {
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		return intOrString{number: int32(n)}
	}
	return intOrString{name: s}
}

func (v intOrString) MarshalJSON() ([]byte, error) {
	if v.name != "" {
		return json.Marshal(v.name)
	}
	return strconv.AppendInt(nil, int64(v.number), 10), nil
}

// networking.istio.io/v1. The specs are protobuf messages, which print
// as protojson does: zero scalars and enums left out, enums by name.

type virtualService struct {
	apiObject
	Spec virtualServiceSpec `json:"spec"`
}

type virtualServiceSpec struct {
	Hosts    []string    `json:"hosts,omitempty"`
	Gateways []string    `json:"gateways,omitempty"`
	HTTP     []httpRoute `json:"http,omitempty"`
	TCP      []tcpRoute  `json:"tcp,omitempty"`
}

type httpRoute struct {
	Name  string             `json:"name,omitempty"`
	Match []portMatch        `json:"match,omitempty"`
	Route []routeDestination `json:"route,omitempty"`
}

type tcpRoute struct {
	Match []portMatch        `json:"match,omitempty"`
	Route []routeDestination `json:"route,omitempty"`
}

// portMatch is an HTTPMatchRequest or L4MatchAttributes matching a port.
type portMatch struct {
	Port uint32 `json:"port,omitempty"`
}

type routeDestination struct {
	Destination destinationRef `json:"destination"`
}

type destinationRef struct {
	Host   string        `json:"host,omitempty"`
	Subset string        `json:"subset,omitempty"`
	Port   *portSelector `json:"port,omitempty"`
}

type portSelector struct {
	Number uint32 `json:"number,omitempty"`
}

type destinationRule struct {
	apiObject
	Spec destinationRuleSpec `json:"spec"`
}

type destinationRuleSpec struct {
	Host    string       `json:"host,omitempty"`
	Subsets []subsetSpec `json:"subsets,omitempty"`
}

type subsetSpec struct {
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

type serviceEntry struct {
	apiObject
	Spec serviceEntrySpec `json:"spec"`
}

type serviceEntrySpec struct {
	Hosts            []string           `json:"hosts,omitempty"`
	Ports            []serviceEntryPort `json:"ports,omitempty"`
	Location         string             `json:"location,omitempty"`   // MESH_INTERNAL (MESH_EXTERNAL is the zero value)
	Resolution       string             `json:"resolution,omitempty"` // STATIC, DNS (NONE is the zero value)
	Endpoints        []workloadEntry    `json:"endpoints,omitempty"`
	WorkloadSelector *workloadSelector  `json:"workloadSelector,omitempty"`
}

type serviceEntryPort struct {
	Number     uint32 `json:"number,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	Name       string `json:"name,omitempty"`
	TargetPort uint32 `json:"targetPort,omitempty"`
}

type workloadEntry struct {
	Address string            `json:"address,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
}

type workloadSelector struct {
	Labels map[string]string `json:"labels,omitempty"`
}

// gateway.networking.k8s.io/v1.

const gatewayAPIVersion = "gateway.networking.k8s.io/v1"

type gatewayObject struct {
	apiObject
	Spec gatewaySpec `json:"spec"`
}

type gatewaySpec struct {
	GatewayClassName string     `json:"gatewayClassName"`
	Listeners        []listener `json:"listeners"`
}

type listener struct {
	Name     string `json:"name"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
}

type parentReference struct {
	Group     *string `json:"group,omitempty"`
	Kind      *string `json:"kind,omitempty"`
	Namespace *string `json:"namespace,omitempty"`
	Name      string  `json:"name"`
	Port      *int32  `json:"port,omitempty"`
}

// routeSpec is CommonRouteSpec plus the hostnames HTTPRoute and GRPCRoute
// have (TCPRoute has none, and none is set on it).
type routeSpec[R any] struct {
	ParentRefs []parentReference `json:"parentRefs,omitempty"`
	Hostnames  []string          `json:"hostnames,omitempty"`
	Rules      []R               `json:"rules,omitempty"`
}

type backendRef struct {
	Name   string `json:"name"`
	Port   *int32 `json:"port,omitempty"`
	Weight *int32 `json:"weight,omitempty"`
}

type gatewayRoute[R any] struct {
	apiObject
	Spec routeSpec[R] `json:"spec"`
}

type httpRouteRule struct {
	Name        *string          `json:"name,omitempty"`
	Matches     []httpRouteMatch `json:"matches,omitempty"`
	BackendRefs []backendRef     `json:"backendRefs,omitempty"`
}

type httpRouteMatch struct {
	Path    *httpPathMatch `json:"path,omitempty"`
	Headers []headerMatch  `json:"headers,omitempty"`
}

type httpPathMatch struct {
	Type  *string `json:"type,omitempty"`
	Value *string `json:"value,omitempty"`
}

// headerMatch is HTTPHeaderMatch and GRPCHeaderMatch.
type headerMatch struct {
	Type  *string `json:"type,omitempty"`
	Name  string  `json:"name"`
	Value string  `json:"value"`
}

type grpcRouteRule struct {
	Name        *string          `json:"name,omitempty"`
	Matches     []grpcRouteMatch `json:"matches,omitempty"`
	BackendRefs []backendRef     `json:"backendRefs,omitempty"`
}

type grpcRouteMatch struct {
	Headers []headerMatch `json:"headers,omitempty"`
}

type tcpRouteRule struct {
	BackendRefs []backendRef `json:"backendRefs,omitempty"`
}
