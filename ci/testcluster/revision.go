package testcluster

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// A second, revisioned istiod (Istio's revision-based upgrades). The API
// server calls a revision's webhooks through its Service istiod-<rev>;
// MESHBUNDLE_SERVICE_ROUTES only routes istio-system/istiod, so for
// revisions the API server's ordinary path is used: it resolves
// istiod-<rev>.istio-system.svc and dials port 443. Inside the run's network
// namespace /etc/resolv.conf names 127.0.0.1:53 and nothing else; a small
// DNS server there answers the revisions' Service names with a loopback
// address of the namespace (127.0.0.N) on whose port 443 that revision's
// istiod serves. Nothing leaves the namespace: every name it does not know
// is NXDOMAIN, as with no resolver at all.

// RevisionIstiod is a running revisioned istiod.
type RevisionIstiod struct {
	Revision string
	// WebhookAddr is where it serves injection and validation (port 443).
	WebhookAddr string
	proc        *process
	log         string
}

// revisionDNS is the namespace's one DNS server on 127.0.0.1:53.
var revisionDNS struct {
	sync.Mutex
	servers []*dns.Server
	names   map[string]net.IP // FQDN -> address
}

func serveRevisionName(name string, ip net.IP) error {
	revisionDNS.Lock()
	defer revisionDNS.Unlock()
	if revisionDNS.names == nil {
		revisionDNS.names = map[string]net.IP{}
		mux := dns.NewServeMux()
		mux.HandleFunc(".", answerRevisionName)
		for _, netw := range []string{"udp", "tcp"} {
			srv := &dns.Server{Addr: "127.0.0.1:53", Net: netw, Handler: mux}
			started := make(chan error, 1)
			srv.NotifyStartedFunc = func() { started <- nil }
			go func() { started <- srv.ListenAndServe() }()
			select {
			case err := <-started:
				if err != nil {
					return fmt.Errorf("testcluster: DNS server on 127.0.0.1:53/%s for revision Services (needs the run's network namespace): %w", netw, err)
				}
			case <-time.After(5 * time.Second):
				return fmt.Errorf("testcluster: DNS server on 127.0.0.1:53/%s did not start", netw)
			}
			revisionDNS.servers = append(revisionDNS.servers, srv)
		}
	}
	revisionDNS.names[dns.Fqdn(name)] = ip
	return nil
}

func answerRevisionName(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	revisionDNS.Lock()
	defer revisionDNS.Unlock()
	m.Rcode = dns.RcodeNameError
	for _, q := range req.Question {
		ip, ok := revisionDNS.names[strings.ToLower(q.Name)]
		if !ok {
			continue
		}
		m.Rcode = dns.RcodeSuccess // known name: A answered, AAAA empty
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: ip})
		}
	}
	_ = w.WriteMsg(m)
}

// StartRevisionIstiod runs a local istiod for revision rev (the istiod-<rev>
// release must be installed, e.g. by `meshbundle install --revision rev`)
// and waits until it is ready and has patched its injector's caBundle. It
// must run inside the run's network namespace (testcluster.Main): it binds
// 127.0.0.1:53 and 127.0.0.N:443 there.
func (c *Cluster) StartRevisionIstiod(ctx context.Context, rev string, n int) (*RevisionIstiod, error) {
	ip := net.IPv4(127, 0, 0, byte(10+n))
	webhook := net.JoinHostPort(ip.String(), "443")
	if err := serveRevisionName("istiod-"+rev+"."+IstioNamespace+".svc", ip); err != nil {
		return nil, err
	}
	p, err := c.startIstiodProcess("pilot-discovery", "istiod-"+rev, rev, webhook)
	if err != nil {
		return nil, err
	}
	ri := &RevisionIstiod{Revision: rev, WebhookAddr: webhook, proc: p, log: p.log}
	err = waitIstiod(ctx, p, "istiod-"+rev, webhook, c.webhooksCABundled(injectorWebhookName+"-"+rev, ""))
	if err != nil {
		_ = ri.Stop()
		return nil, err
	}
	return ri, nil
}

// Stop stops the revision's istiod (its webhooks then fail closed).
func (ri *RevisionIstiod) Stop() error {
	if ri == nil || ri.proc == nil {
		return nil
	}
	err := ri.proc.stop(10 * time.Second)
	ri.proc = nil
	return err
}

// XDSAddr is the host:port of the revision's plaintext xDS server (see
// Cluster.IstiodXDSAddr), or "" once stopped.
func (ri *RevisionIstiod) XDSAddr() string {
	if ri == nil {
		return ""
	}
	return xdsAddr(ri.proc)
}

// Log is the path of the revision's istiod log.
func (ri *RevisionIstiod) Log() string { return ri.log }
