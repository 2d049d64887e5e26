// Package dataplane is the test harness's data plane: requests that really
// travel the mesh's routing config from the local istiod, on a machine where
// neither Envoy nor ztunnel can run and kwok runs no containers.
//
//   - Clients are grpc-go's proxyless xDS client (the xds:/// resolver and
//     balancers), bootstrapped the way Istio's grpc-agent injection template
//     bootstraps a proxyless app (node metadata GENERATOR=grpc, a bootstrap
//     from istio-agent's grpcxds.GenerateBootstrap) and pointed at the local
//     istiod's plaintext xDS port. istiod's grpc generator turns the same
//     VirtualServices, DestinationRules and ServiceEntries a sidecar sees into
//     LDS/RDS/CDS/EDS for it: weighted subsets, header matches, aliases.
//   - Servers (Servers) are one small gRPC server per Ready pod, listening on
//     the pod's IP and its declared container ports and answering Istio's
//     echo protocol (pkg/test/echo/proto) with the pod's version label, name
//     and namespace. kwok hands out pod IPs from 10.244.0.0/16; inside the
//     network namespace testcluster runs tests in, that range is a local
//     route on lo, so a process can listen on any pod IP and nothing leaves
//     the namespace.
//   - The Driver sends N requests at a steady rate through one xDS client and
//     counts successes per responding version and failures (any RPC error).
//
// What it does not show: anything only Envoy or ztunnel does (HTTP filters
// beyond gRPC's, mTLS between sidecars, ambient). See docs/dataplane.md.
package dataplane
