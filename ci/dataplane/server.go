package dataplane

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"istio.io/istio/pkg/test/echo"
	"istio.io/istio/pkg/test/echo/proto"
)

// Identity says which pod answered a request.
type Identity struct {
	Namespace string
	Pod       string
	// Version is the pod's "version" label ("" when it has none).
	Version string
}

func (id Identity) String() string {
	return id.Namespace + "/" + id.Pod + " (version " + id.Version + ")"
}

// echoService answers Istio's echo protocol with the pod's identity, written
// as Istio's echo server writes its responses (echo.Field lines), so Istio's
// echo clients read it too.
type echoService struct {
	proto.UnimplementedEchoTestServiceServer
	id   Identity
	port int
}

func (e *echoService) Echo(_ context.Context, req *proto.EchoRequest) (*proto.EchoResponse, error) {
	var b strings.Builder
	echo.StatusCodeField.Write(&b, "200")
	echo.ServiceVersionField.Write(&b, e.id.Version)
	echo.ServicePortField.Write(&b, strconv.Itoa(e.port))
	echo.NamespaceField.Write(&b, e.id.Namespace)
	echo.HostnameField.Write(&b, e.id.Pod)
	echo.ProtocolField.Write(&b, "GRPC")
	echo.Field("Echo").Write(&b, req.GetMessage())
	return &proto.EchoResponse{Message: b.String()}, nil
}

// parseIdentity reads the fields echoService writes.
func parseIdentity(msg string) (Identity, error) {
	var id Identity
	seen := 0
	for line := range strings.SplitSeq(msg, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch echo.Field(k) {
		case echo.ServiceVersionField:
			id.Version, seen = v, seen+1
		case echo.HostnameField:
			id.Pod, seen = v, seen+1
		case echo.NamespaceField:
			id.Namespace, seen = v, seen+1
		}
	}
	if seen < 3 {
		return id, fmt.Errorf("echo response without %s, %s and %s fields: %q", echo.ServiceVersionField, echo.HostnameField, echo.NamespaceField, msg)
	}
	return id, nil
}

// podServer is the stand-in for one pod's containers: one plain gRPC echo
// server per declared container port, on the pod's IP.
type podServer struct {
	id      Identity
	ip      string
	servers []*grpc.Server
	done    chan struct{} // closed when every server has stopped

	// owner is the Servers that started it (nil for a bare podServer).
	owner *Servers
	// drainEnds is when its pod's drain ends, zero while the pod is
	// Ready. Guarded by ipOwners.
	drainEnds time.Time
}

// startPodServer listens on ip:port for every port. It listens on all ports
// before serving any, so a pod is either fully served or not at all.
func startPodServer(id Identity, ip string, ports []int32) (*podServer, error) {
	var lis []net.Listener
	for _, port := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
		if err != nil {
			for _, l := range lis {
				l.Close()
			}
			return nil, fmt.Errorf("serve pod %s on its IP %s port %d: %w (pod IPs are local only inside the network namespace testcluster.Main runs tests in)", id, ip, port, err)
		}
		lis = append(lis, l)
	}
	p := &podServer{id: id, ip: ip, done: make(chan struct{})}
	stopped := make(chan struct{}, len(lis))
	for i, l := range lis {
		s := grpc.NewServer()
		proto.RegisterEchoTestServiceServer(s, &echoService{id: id, port: int(ports[i])})
		p.servers = append(p.servers, s)
		go func() {
			_ = s.Serve(l) // returns once stopped
			stopped <- struct{}{}
		}()
	}
	go func() {
		for range lis {
			<-stopped
		}
		close(p.done)
	}()
	return p, nil
}

// stop finishes in-flight requests (at most grace) and closes the listeners.
func (p *podServer) stop(grace time.Duration) {
	for _, s := range p.servers {
		go s.GracefulStop()
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		for _, s := range p.servers {
			s.Stop()
		}
		<-p.done
	}
}
