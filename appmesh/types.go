// Package appmesh defines AppMesh, the per-application file that tells the
// meshbundle post-renderer how to put a Helm chart into the Istio mesh.
//
// The comments on the types below are the user documentation (Gateway API
// style): each field states its default and its validation next to it. The
// package has no dependency on the renderer so that tools which edit the file
// (the canary CLI) can use it on their own.
package appmesh

// APIVersion and Kind identify an AppMesh document.
const (
	Group      = "meshbundle.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "AppMesh"
)

// AppMesh is the mesh configuration of one application (one Helm release).
//
//	apiVersion: meshbundle.dev/v1alpha1
//	kind: AppMesh
//	metadata:
//	  name: example-app
//	  namespace: shop
//	spec:
//	  ports:
//	    mode: fix
//	  routes:
//	  - service: example-app-web
//	    gateway: istio-ingress/public
//	    hosts: [shop.example.com]
//	  aliases:
//	  - name: storefront
//	    service: example-app-web
type AppMesh struct {
	// APIVersion must be "meshbundle.dev/v1alpha1".
	APIVersion string `json:"apiVersion"`
	// Kind must be "AppMesh".
	Kind string `json:"kind"`
	// Metadata names the application.
	Metadata Metadata `json:"metadata"`
	// Spec is the desired mesh configuration.
	Spec Spec `json:"spec"`
}

// Metadata names the application and where it runs.
type Metadata struct {
	// Name of the application. It names the state ConfigMap
	// ("meshbundle-<name>") and labels every generated object
	// (meshbundle.dev/app). Required; a DNS-1123 label of at most 52
	// characters so that "meshbundle-<name>" stays a valid name.
	Name string `json:"name"`
	// Namespace the release is installed into (helm -n). Objects the chart
	// renders without a namespace are taken to live here; Service hosts and
	// aliases are qualified with it ("<svc>.<namespace>.svc.cluster.local").
	// Optional; required when aliases or emitNamespace are used, because
	// those need the fully qualified name of a Service.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// Dataplane is how the app's pods join the mesh.
type Dataplane string

const (
	// DataplaneSidecar injects an Envoy sidecar into every pod (Istio's
	// sidecar mode, the seed): per-pod L7 routing, mTLS and telemetry.
	DataplaneSidecar Dataplane = "sidecar"
	// DataplaneAmbient puts the app's namespaces into Istio's ambient mode
	// (istio.io/dataplane-mode: ambient): the node's ztunnel carries the
	// pods' traffic with mTLS at L4, with no sidecar and no pod restart to
	// join or leave; L7 routes run in a waypoint proxy (a Gateway of class
	// istio-waypoint), which the renderer adds when the app has routes.
	// Needs Istio installed in ambient mode (istio-cni in ambient mode,
	// ztunnel) and the Gateway API CRDs; meshbundle's own `ambient` install
	// profile is not built yet.
	DataplaneAmbient Dataplane = "ambient"
)

// RouteAPI is the API the renderer writes routes in.
type RouteAPI string

const (
	// RouteAPIIstio renders a VirtualService and a DestinationRule per
	// route (subsets per "version" label), bound to Istio Gateways
	// (networking.istio.io). Only for the sidecar data plane.
	RouteAPIIstio RouteAPI = "istio"
	// RouteAPIGatewayAPI renders Kubernetes Gateway API routes
	// (gateway.networking.k8s.io/v1): per routed port an HTTPRoute
	// (http, http2, grpc-web), GRPCRoute (grpc) or TCPRoute (tcp, tls,
	// https, mongo, mysql, redis) whose parentRef is the Service (GAMMA,
	// mesh traffic) and, with a gateway, the Gateway API Gateway. The
	// Gateway API has no subsets, so each "version" of the Service's pods
	// gets a Service "<service>-<version>" selecting it, and a canary is a
	// weighted list of backendRefs to those Services. Needs the Gateway
	// API CRDs (v1.5 or newer, standard channel).
	RouteAPIGatewayAPI RouteAPI = "gateway-api"
)

// Spec is the mesh configuration of the application.
type Spec struct {
	// Dataplane is sidecar or ambient. Default: sidecar.
	// +optional
	Dataplane Dataplane `json:"dataplane,omitempty"`
	// RouteAPI is istio or gateway-api: the API routes and canaries are
	// rendered in. Default: istio for the sidecar data plane, gateway-api
	// for ambient (which must be gateway-api: waypoints take routes only
	// from the Gateway API).
	// +optional
	RouteAPI RouteAPI `json:"routeAPI,omitempty"`
	// Injection controls the Istio sidecar injection of the chart's workloads.
	// Default: injection on for Deployments, StatefulSets, DaemonSets and
	// ReplicaSets; Jobs and CronJobs kept out.
	// +optional
	Injection Injection `json:"injection,omitempty"`
	// Ports controls how Service port names are checked against Istio's
	// protocol selection rules. Default: mode enforce.
	// +optional
	Ports Ports `json:"ports,omitempty"`
	// Routes lists the Services of the app that get a VirtualService (and a
	// DestinationRule when their pods carry a "version" label).
	// +optional
	Routes []Route `json:"routes,omitempty"`
	// Aliases lists extra names for the app's Services.
	// +optional
	Aliases []Alias `json:"aliases,omitempty"`
	// Canary describes a canary rollout in progress. It is written by
	// `meshbundle canary` and validated here; see docs/canary.md.
	// +optional
	Canary *Canary `json:"canary,omitempty"`
	// Promoted lists the canaries promoted so far (see Promotion).
	// +optional
	Promoted []Promotion `json:"promoted,omitempty"`
}

// Injection switches.
type Injection struct {
	// Enabled turns the sidecar on (true) or off (false) for the app's
	// workloads. The renderer writes the choice into every pod template
	// (label and annotation sidecar.istio.io/inject), so flipping it changes
	// the template and the workload rolls: the sidecar really appears or goes.
	// An explicit value the chart already set on a pod template is kept.
	// Default: true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// NamespaceLabel sets "istio-injection: enabled" (or "disabled" when
	// Enabled is false) on Namespaces the chart renders. Default: true.
	// +optional
	NamespaceLabel *bool `json:"namespaceLabel,omitempty"`
	// Revision pins the app's namespaces to an istiod revision or revision
	// tag (`meshbundle tag`): Namespaces get istio.io/rev: <revision>
	// instead of istio-injection: enabled (Istio ignores istio.io/rev when
	// istio-injection is set). A DNS-1123 label; needs Enabled. Default: ""
	// (the default revision).
	// +optional
	Revision string `json:"revision,omitempty"`
	// EmitNamespace adds a labelled Namespace object for metadata.namespace
	// when the chart renders none. Requires metadata.namespace. Default: false.
	// +optional
	EmitNamespace bool `json:"emitNamespace,omitempty"`
	// Jobs injects Jobs and CronJobs too. Off by default because a sidecar
	// that is not a native sidecar keeps a Job's pod running after its work
	// is done; when off, Jobs are explicitly excluded
	// (sidecar.istio.io/inject: "false") so a labelled namespace does not
	// inject them either. Default: false.
	// +optional
	Jobs bool `json:"jobs,omitempty"`
	// Exclude lists workloads that stay out of the mesh whatever the other
	// switches say; they get sidecar.istio.io/inject: "false".
	// +optional
	Exclude []WorkloadRef `json:"exclude,omitempty"`
}

// WorkloadRef names a workload of the chart.
type WorkloadRef struct {
	// Kind of the workload: Deployment, StatefulSet, DaemonSet, ReplicaSet,
	// Job or CronJob. Empty matches any of them.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the workload (metadata.name as rendered). Required.
	Name string `json:"name"`
}

// PortMode says what to do with a Service port whose name does not tell
// Istio its protocol.
type PortMode string

const (
	// PortModeEnforce fails the render, naming the Service, the port and the
	// name to use.
	PortModeEnforce PortMode = "enforce"
	// PortModeFix renames the port from its well-known number (80 http,
	// 443 https, 3306 mysql, 6379 redis, 27017 mongo); any other port still
	// fails the render.
	PortModeFix PortMode = "fix"
)

// Ports controls Service port naming.
type Ports struct {
	// Mode is enforce or fix. Default: enforce.
	// +optional
	Mode PortMode `json:"mode,omitempty"`
	// Rename gives explicit names for ports the renderer cannot name on its
	// own (in either mode), e.g. a database's "metrics" port on 9104 that
	// serves HTTP. References to the old name from Ingresses and
	// ServiceMonitors are updated.
	// +optional
	Rename []PortRename `json:"rename,omitempty"`
}

// PortRename is an explicit name for one Service port.
type PortRename struct {
	// Service is the name of the Service. Required.
	Service string `json:"service"`
	// Port is the Service port number. Required, 1-65535.
	Port int32 `json:"port"`
	// Name is the new name, "<protocol>" or "<protocol>-<suffix>" with a
	// protocol Istio knows. Required.
	Name string `json:"name"`
}

// Route puts one Service of the app behind a VirtualService (routeAPI
// istio) or Gateway API routes (routeAPI gateway-api).
type Route struct {
	// Service is the name of a Service the chart renders. It must not be
	// headless nor select a StatefulSet (Istio cannot split traffic to
	// individually addressed pods). Required.
	Service string `json:"service"`
	// Port is the Service port the route sends traffic to. Optional when the
	// Service has one port; required with a gateway when it has several.
	// +optional
	Port int32 `json:"port,omitempty"`
	// Gateway binds the route to a gateway, as "namespace/name": an Istio
	// Gateway (networking.istio.io) with routeAPI istio, whose
	// VirtualService then lists both the gateway and "mesh"; a Gateway API
	// Gateway (gateway.networking.k8s.io) with routeAPI gateway-api, which
	// becomes a second parentRef of the route besides the Service.
	// +optional
	Gateway string `json:"gateway,omitempty"`
	// Hosts are extra (external) host names served through the gateway, in
	// addition to the Service's own host (the route's hostnames with
	// routeAPI gateway-api; mesh traffic always matches the Service host).
	// +optional
	Hosts []string `json:"hosts,omitempty"`
	// Adopt takes over a VirtualService or DestinationRule the chart already
	// renders for the same host: its name and metadata are kept, its spec is
	// replaced by the renderer's. Without Adopt such an object is an error,
	// because only one VirtualService per host is effective for sidecars.
	// Only with routeAPI istio. Default: false.
	// +optional
	Adopt bool `json:"adopt,omitempty"`
}

// AliasVariant is how an alias is implemented in Istio.
type AliasVariant string

const (
	// AliasExternalName renders a Kubernetes ExternalName Service
	// "<name>" pointing at the Service's FQDN. Istio (≥ 1.21) treats it as a
	// true alias: no extra Envoy cluster, mTLS kept. Only for names that are
	// valid Service names (in-cluster short names). Default for those.
	AliasExternalName AliasVariant = "externalname"
	// AliasServiceEntryEDS renders a ServiceEntry for the name whose
	// workloadSelector selects the Service's pods: one extra Envoy EDS
	// cluster per port, mTLS kept. Default for custom domains
	// ("reviews.custom").
	AliasServiceEntryEDS AliasVariant = "serviceentry-eds"
	// AliasServiceEntryDNS renders a ServiceEntry with DNS resolution whose
	// endpoint is the Service's FQDN (STRICT_DNS): one extra cluster per
	// port and load balancing by the Service VIP instead of per pod. Kept
	// for compatibility with hand-written configs; its endpoint carries
	// security.istio.io/tlsMode: istio so mTLS is kept.
	AliasServiceEntryDNS AliasVariant = "serviceentry-dns"
)

// Alias is an extra name for a Service of the app.
type Alias struct {
	// Name is the alias: a short name ("storefront", reachable as
	// storefront.<namespace>.svc.cluster.local) or a custom domain
	// ("reviews.custom"). Required.
	Name string `json:"name"`
	// Service is the name of a Service the chart renders. Required.
	Service string `json:"service"`
	// Variant selects the implementation. Default: externalname for short
	// names, serviceentry-eds for custom domains (the cheapest variants that
	// keep mTLS; see docs/renderer.md for the measured cost).
	// +optional
	Variant AliasVariant `json:"variant,omitempty"`
}

// CanaryPhase is the step a canary rollout is in. `meshbundle canary` moves
// through them in this order, one change (one git commit or one helm
// upgrade) per phase, so that no request is ever routed to a subset without
// ready endpoints (docs/canary.md explains each step):
//
//	start:   Labelling → Pinning → Starting
//	weight:  Progressing (weight N)
//	abort:   Aborting → Removing → Unlabelling → (canary removed)
//	promote: Promoting → Stabilizing → Finishing → (canary removed, spec.promoted written)
type CanaryPhase string

const (
	// CanaryLabelling: the stable Deployment's pod template gets its
	// "version" label (only the template: its selector never changes);
	// routing stays on the Service host while the stable pods roll. Weight 0.
	CanaryLabelling CanaryPhase = "Labelling"
	// CanaryPinning: routing moves from the Service host to the stable
	// subset, one change before the copy exists: the copy's pods match the
	// Service's selector, so they must appear only once every proxy routes
	// by subset (else a request to the host can land on them). Weight 0.
	CanaryPinning CanaryPhase = "Pinning"
	// CanaryStarting: the copy exists at weight 0 and is becoming Ready.
	CanaryStarting CanaryPhase = "Starting"
	// CanaryProgressing: the copy receives Weight percent of the traffic.
	CanaryProgressing CanaryPhase = "Progressing"
	// CanaryPromoting: all traffic goes to the copy (weight 100).
	CanaryPromoting CanaryPhase = "Promoting"
	// CanaryStabilizing: traffic stays on the new version while the stable
	// Deployment moves to the new image and version label. Weight 100.
	CanaryStabilizing CanaryPhase = "Stabilizing"
	// CanaryFinishing: the stable runs the new version; routing goes back
	// to the Service host while the copy still runs, so that removing the
	// copy (the next change) changes no route. Weight 100.
	CanaryFinishing CanaryPhase = "Finishing"
	// CanaryAborting: traffic is back on stable (weight 0); the copy still runs.
	CanaryAborting CanaryPhase = "Aborting"
	// CanaryRemoving: the copy and its subset are removed; traffic on the
	// stable subset. Weight 0.
	CanaryRemoving CanaryPhase = "Removing"
	// CanaryUnlabelling: routing goes back to the Service host so that the
	// next change can take the stable's version label away again. Weight 0.
	CanaryUnlabelling CanaryPhase = "Unlabelling"
)

// CanaryPhases lists the phases in lifecycle order.
var CanaryPhases = []CanaryPhase{CanaryLabelling, CanaryPinning, CanaryStarting, CanaryProgressing, CanaryPromoting, CanaryStabilizing, CanaryFinishing, CanaryAborting, CanaryRemoving, CanaryUnlabelling}

// CopyRuns reports whether the canary copy Deployment exists in the phase.
func (p CanaryPhase) CopyRuns() bool {
	switch p {
	case CanaryStarting, CanaryProgressing, CanaryPromoting, CanaryStabilizing, CanaryFinishing, CanaryAborting:
		return true
	}
	return false
}

// Canary describes a canary rollout of one Deployment of the app.
type Canary struct {
	// Target is the name of the Deployment to canary (the stable one). It
	// keeps its name throughout. Required.
	Target string `json:"target"`
	// Version is the version label of the copy ("<target>-<version>").
	// Required; a DNS-1123 label, different from the stable's version.
	Version string `json:"version"`
	// Image is the container image of the copy. Required.
	Image string `json:"image"`
	// Container is the container of the pod template that gets Image.
	// Default: the first container.
	// +optional
	Container string `json:"container,omitempty"`
	// Weight is the percentage of traffic sent to the copy, 0-100. It must
	// be 0 in Labelling, Pinning, Starting, Aborting, Removing and Unlabelling and
	// 100 in Promoting and Stabilizing. Default: 0.
	// +optional
	Weight int32 `json:"weight,omitempty"`
	// Phase is the current step. Default: Labelling (a canary written by
	// hand starts at the beginning: the stable pods get their label first).
	// +optional
	Phase CanaryPhase `json:"phase,omitempty"`
	// Replaces is the image the chart renders for Container of the target
	// (not a promotion's pin), recorded by `meshbundle canary start`; the
	// promotion keeps it (Promotion.Replaces).
	// +optional
	Replaces string `json:"replaces,omitempty"`
}

// Promotion records a promoted canary: the renderer sets the image (and the
// version label, unless the Deployment's selector pins it) on the stable
// Deployment, because the chart still renders the old image. Written by
// `meshbundle canary promote`; remove the entry once the chart's own values
// carry the new image.
type Promotion struct {
	// Deployment is the stable Deployment. Required.
	Deployment string `json:"deployment"`
	// Container that runs Image. Default: the first container.
	// +optional
	Container string `json:"container,omitempty"`
	// Version is the version label of the pod template. Required.
	Version string `json:"version"`
	// Image of Container. Required.
	Image string `json:"image"`
	// Replaces is the image the chart rendered for Container when the
	// canary was promoted. The promotion applies only while the chart still
	// renders it (or Image): once the chart renders anything else, the
	// chart wins and the entry is stale (a warning; remove it). Without it
	// (entries written before it was recorded) the promotion applies
	// unconditionally, with a warning.
	// +optional
	Replaces string `json:"replaces,omitempty"`
}
