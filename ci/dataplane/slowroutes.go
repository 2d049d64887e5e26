package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// routeType is the xDS type of route configurations (RDS).
const routeType = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

// SlowRoutes is an xDS relay between clients and istiod that passes each
// route configuration (RDS) istiod sends on Delay later, in order; every
// other response (listeners, clusters, endpoints) and every request (the
// client's ACKs among them) passes at once. A client bootstrapped to its
// Addr is a proxy whose routes arrive late: one far down istiod's push
// queue on a big mesh, or on a loaded node. The local istiod pushes to the
// few clients of a test within milliseconds of each other, so without it a
// client in another namespace gets every push together with the app's.
// It is a fault injector, not a stand-in for a component: istiod sees the
// client's real ACKs, sent when the client has the routes.
type SlowRoutes struct {
	// Addr is where clients connect instead of istiod's xDS address.
	Addr  string
	Delay time.Duration

	srv      *grpc.Server
	upstream *grpc.ClientConn
	lis      net.Listener
}

// StartSlowRoutes relays to istiod's plaintext xDS address upstream on a
// free loopback port, delaying route configurations by delay.
func StartSlowRoutes(upstream string, delay time.Duration) (*SlowRoutes, error) {
	conn, err := grpc.NewClient(upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dataplane: slow-routes relay to %s: %w", upstream, err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dataplane: slow-routes relay: %w", err)
	}
	s := &SlowRoutes{Addr: lis.Addr().String(), Delay: delay, srv: grpc.NewServer(), upstream: conn, lis: lis}
	discovery.RegisterAggregatedDiscoveryServiceServer(s.srv, &adsRelay{upstream: discovery.NewAggregatedDiscoveryServiceClient(conn), delay: delay})
	go func() { _ = s.srv.Serve(lis) }()
	return s, nil
}

// Stop closes the relay and its clients' streams.
func (s *SlowRoutes) Stop() {
	s.srv.Stop()
	s.upstream.Close()
}

type adsRelay struct {
	discovery.UnimplementedAggregatedDiscoveryServiceServer
	upstream discovery.AggregatedDiscoveryServiceClient
	delay    time.Duration
}

// StreamAggregatedResources relays one client's ADS stream to istiod.
func (r *adsRelay) StreamAggregatedResources(down discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	ctx, cancel := context.WithCancel(down.Context())
	defer cancel()
	up, err := r.upstream.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	errc := make(chan error, 3)
	var sendMu sync.Mutex // a gRPC stream's Send is not safe for concurrent use
	send := func(resp *discovery.DiscoveryResponse) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return down.Send(resp)
	}
	// Requests (the client's subscriptions and ACKs) at once.
	go func() {
		for {
			req, err := down.Recv()
			if err == nil {
				err = up.Send(req)
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	// Route configurations Delay after istiod sent them, in order.
	type held struct {
		resp *discovery.DiscoveryResponse
		at   time.Time
	}
	routes := make(chan held, 1024)
	go func() {
		for h := range routes {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(h.at)):
			}
			if err := send(h.resp); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() {
		defer close(routes)
		for {
			resp, err := up.Recv()
			if err != nil {
				errc <- err
				return
			}
			if resp.GetTypeUrl() == routeType {
				select {
				case routes <- held{resp, time.Now().Add(r.delay)}:
				case <-ctx.Done():
					return
				}
				continue
			}
			if err := send(resp); err != nil {
				errc <- err
				return
			}
		}
	}()
	if err := <-errc; !errors.Is(err, io.EOF) && ctx.Err() == nil {
		return err
	}
	return nil
}
