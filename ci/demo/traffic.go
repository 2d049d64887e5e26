package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/meshbundle/meshbundle/ci/dataplane"
	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// traffic is the demo's data plane (ci/dataplane): one echo server per Ready
// pod of the app's namespace, answering with the pod's version label, and a
// proxyless gRPC xDS client of web fed by the local istiod. The demo prints
// what its requests measured, not what the weights say.
type traffic struct {
	servers *dataplane.Servers
	driver  *dataplane.Driver
}

// trafficRequests is how many requests one traffic line measures.
const trafficRequests = 2000

func startTraffic(ctx context.Context, c *testcluster.Cluster, ns, host string) (*traffic, error) {
	srv, err := dataplane.StartServers(ctx, c.Config, ns, 0)
	if err != nil {
		return nil, err
	}
	d, err := dataplane.NewXDSDriver(c.IstiodXDSAddr(), ns, host)
	if err != nil {
		srv.Stop()
		return nil, err
	}
	return &traffic{servers: srv, driver: d}, nil
}

func (t *traffic) stop() {
	t.driver.Close()
	t.servers.Stop()
}

// want is the share each version should answer at a canary weight;
// promoted means the stable Deployment runs v2 now.
func want(weight int, promoted bool) map[string]float64 {
	if promoted {
		return map[string]float64{"v2": 100}
	}
	return map[string]float64{"stable": float64(100 - weight), "v2": float64(weight)}
}

// measure waits (at most 30 s) until the client's requests show the step
// took effect, then sends trafficRequests fresh requests and prints them.
func (t *traffic) measure(ctx context.Context, weight int, promoted bool) {
	if _, err := t.driver.Settle(ctx, 200, 30*time.Second, dataplane.ExpectShares(want(weight, promoted), 5)); err != nil {
		fmt.Printf("    (the client's traffic did not match weight %d within 30 s: %v)\n", weight, err)
	}
	t.print(t.driver.Run(ctx, trafficRequests), weight)
}

// during drives traffic while fn runs (e.g. a promote) and prints it.
func (t *traffic) during(ctx context.Context, weight int, fn func() error) error {
	stop := make(chan struct{})
	done := make(chan dataplane.Result)
	go func() { done <- t.driver.RunWhile(ctx, stop) }()
	err := fn()
	close(stop)
	t.print(<-done, weight)
	return err
}

func (t *traffic) print(res dataplane.Result, weight int) {
	fmt.Printf("traffic: %s (weight %d)\n", res.Summary("stable", "v2"), weight)
	for _, e := range slices.Sorted(maps.Keys(res.Errors)) {
		fmt.Printf("    %d× %s\n", res.Errors[e], e)
	}
	if err := t.servers.Err(); err != nil {
		fmt.Printf("    pod servers: %v\n", err)
	}
}
