package e2e

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/installer"
)

// requestCounter counts the API requests made through a REST config.
type requestCounter struct {
	total     atomic.Int32 // every request
	discovery atomic.Int32 // GET /api: the start of a full discovery read
	crdReads  atomic.Int32 // GET of one CustomResourceDefinition (~90 KB each for Istio's)
}

// wrap returns a copy of cfg whose requests are counted.
func (rc *requestCounter) wrap(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(transport.WrapperFunc(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			rc.total.Add(1)
			if r.Method == http.MethodGet && r.URL.Path == "/api" {
				rc.discovery.Add(1)
			}
			if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/") {
				rc.crdReads.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}))
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestClientRateLimits: without limits in the kubeconfig the installer does
// not use client-go's 5 requests/s (which made a no-op re-run wait seconds on
// its own throttle); limits the caller set are kept.
func TestClientRateLimits(t *testing.T) {
	c := testcluster.Shared(t)
	cases := []struct {
		name      string  // subtest name
		qps       float32 // the caller's REST config
		burst     int     // the caller's REST config
		wantQPS   float32 // what the installer's clients use
		wantBurst int     // what the installer's clients use
	}{
		{name: "unset: installer defaults", qps: 0, burst: 0, wantQPS: 50, wantBurst: 100},
		{name: "set by the caller: kept", qps: 7, burst: 9, wantQPS: 7, wantBurst: 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rest.CopyConfig(c.Config)
			cfg.QPS, cfg.Burst = tc.qps, tc.burst
			cl, err := installer.Connect(installer.Options{RESTConfig: cfg})
			if err != nil {
				t.Fatal(err)
			}
			got := cl.RESTConfig()
			if got.QPS != tc.wantQPS || got.Burst != tc.wantBurst {
				t.Errorf("QPS %v burst %d, want %v and %d", got.QPS, got.Burst, tc.wantQPS, tc.wantBurst)
			}
			hc, err := cl.Helm("istio-system")
			if err != nil {
				t.Fatal(err)
			}
			if hrc, err := hc.RESTClientGetter.ToRESTConfig(); err != nil || hrc.QPS != tc.wantQPS || hrc.Burst != tc.wantBurst {
				t.Errorf("Helm's REST config: QPS %v burst %d (err %v), want %v and %d", hrc.QPS, hrc.Burst, err, tc.wantQPS, tc.wantBurst)
			}
		})
	}
}
