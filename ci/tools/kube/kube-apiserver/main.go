// Command kube-apiserver is upstream's kube-apiserver with one test-only addition:
// MESHBUNDLE_SERVICE_ROUTES maps in-cluster Services to loopback addresses, so
// admission webhooks served by a process on this machine (a local istiod) are
// reachable without a pod network. TLS is still verified against the Service's
// DNS name (e.g. istiod.istio-system.svc), so Istio's charts install unchanged.
//
// Format: "ns/name=host:port[,ns/name=host:port...]". Unset, it is upstream's binary.
package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	_ "time/tzdata" // for timeZone support in CronJob

	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // load all the prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// loopbackResolver sends the listed Services to fixed addresses and all others
// to the default resolver (<name>.<ns>.svc:<port>).
type loopbackResolver struct {
	routes   map[string]string // "ns/name" -> "host:port"
	fallback webhook.ServiceResolver
}

func (r loopbackResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	if addr, ok := r.routes[namespace+"/"+name]; ok {
		return &url.URL{Scheme: "https", Host: addr}, nil
	}
	return r.fallback.ResolveEndpoint(namespace, name, port)
}

func parseRoutes(spec string) (map[string]string, error) {
	routes := map[string]string{}
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		svc, addr, ok := strings.Cut(entry, "=")
		if !ok || strings.Count(svc, "/") != 1 {
			return nil, fmt.Errorf("MESHBUNDLE_SERVICE_ROUTES entry %q: want ns/name=host:port", entry)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("MESHBUNDLE_SERVICE_ROUTES entry %q: %w", entry, err)
		}
		routes[svc] = addr
	}
	return routes, nil
}

func main() {
	if spec := os.Getenv("MESHBUNDLE_SERVICE_ROUTES"); spec != "" {
		routes, err := parseRoutes(spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		app.SetServiceResolverForTests(loopbackResolver{routes: routes, fallback: webhook.NewDefaultServiceResolver()})
	}
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
