package dataplane

import (
	"encoding/json"
	"fmt"

	"istio.io/istio/pkg/istio-agent/grpcxds"
	"istio.io/istio/pkg/model"
)

// ClusterID is the cluster name the local istiod runs as (testcluster sets
// CLUSTER_ID=Kubernetes, Istio's default).
const ClusterID = "Kubernetes"

// clientIP is the address the client says it has. It is no pod's IP, so
// istiod associates the client with no workload: it is a plain mesh client
// in its namespace.
const clientIP = "127.0.0.1"

// Bootstrap is the xDS bootstrap of a proxyless gRPC client named workload in
// namespace, talking to istiod's plaintext xDS server at xdsAddr: what
// istio-agent writes for an app injected with Istio's grpc-agent template
// (istio-agent's grpcxds.GenerateBootstrap with the node metadata the
// template sets: GENERATOR=grpc, NAMESPACE, CLUSTER_ID, WORKLOAD_NAME,
// INSTANCE_IPS), minus the certificate providers: no certificates exist
// here, so the client speaks plaintext, as it does unless a DestinationRule
// asks for ISTIO_MUTUAL.
func Bootstrap(xdsAddr, namespace, workload string) ([]byte, error) {
	node := &model.Node{
		// Istio's proxy ID: type~ip~pod.namespace~namespace.svc.<domain>.
		ID: "sidecar~" + clientIP + "~" + workload + "." + namespace + "~" + namespace + ".svc.cluster.local",
		Metadata: &model.BootstrapNodeMetadata{NodeMetadata: model.NodeMetadata{
			Generator:    "grpc",
			Namespace:    namespace,
			ClusterID:    ClusterID,
			WorkloadName: workload,
			InstanceIPs:  []string{clientIP},
		}},
	}
	b, err := grpcxds.GenerateBootstrap(grpcxds.GenerateBootstrapOptions{Node: node, DiscoveryAddress: xdsAddr})
	if err != nil {
		return nil, fmt.Errorf("dataplane: xDS bootstrap for %s/%s: %w", namespace, workload, err)
	}
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("dataplane: xDS bootstrap for %s/%s: %w", namespace, workload, err)
	}
	return out, nil
}
