package dataplane

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds" // registers grpc-go's xDS resolver, balancers and HTTP filters
	"istio.io/istio/pkg/test/echo/proto"
)

// Defaults of a Driver.
const (
	DefaultRate    = 500             // requests per second
	DefaultTimeout = 2 * time.Second // per request
	maxInFlight    = 64
)

// Driver sends requests to one target through its own gRPC client. For
// xds:/// targets that client is grpc-go's proxyless xDS client with its own
// bootstrap: every routing decision (route, weighted cluster, endpoint) is
// the one istiod's config tells it.
type Driver struct {
	// Target is what the driver dials, e.g. xds:///web.shop.svc.cluster.local:80.
	Target string
	// Rate is the steady request rate, per second (DefaultRate if 0).
	Rate int
	// Timeout bounds each request (DefaultTimeout if 0); a request that
	// times out is a failure.
	Timeout time.Duration

	conn   *grpc.ClientConn
	client proto.EchoTestServiceClient
}

// NewXDSDriver dials xds:///<host> (host is "name:port") with a proxyless
// xDS client bootstrapped for the istiod xDS server at xdsAddr (see
// testcluster's IstiodXDSAddr), as a client workload in namespace.
// Credentials are grpc-go's xDS credentials falling back to plaintext, as
// Istio's echo client uses them: plaintext unless istiod's config asks for
// mTLS (a DestinationRule with ISTIO_MUTUAL), which no server here speaks.
func NewXDSDriver(xdsAddr, namespace, host string) (*Driver, error) {
	if xdsAddr == "" {
		return nil, fmt.Errorf("dataplane: no istiod xDS address for %s (fix: start istiod first, e.g. testcluster.WithIstiod())", host)
	}
	bootstrap, err := Bootstrap(xdsAddr, namespace, "traffic-driver")
	if err != nil {
		return nil, err
	}
	// One resolver (and so one xDS client) per driver: its own bootstrap,
	// not the process-wide GRPC_XDS_BOOTSTRAP.
	res, err := xds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("dataplane: xDS resolver for %s: %w", host, err)
	}
	creds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return nil, fmt.Errorf("dataplane: xDS credentials for %s: %w", host, err)
	}
	return dial("xds:///"+host, grpc.WithResolvers(res), grpc.WithTransportCredentials(creds))
}

// NewDriver dials any gRPC target, e.g. "passthrough:///127.0.0.1:9000", with
// plaintext credentials; for the data plane's own tests.
func NewDriver(target string) (*Driver, error) {
	return dial(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

func dial(target string, opts ...grpc.DialOption) (*Driver, error) {
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dataplane: dial %s: %w", target, err)
	}
	return &Driver{Target: target, conn: conn, client: proto.NewEchoTestServiceClient(conn)}, nil
}

// Close closes the client (and its xDS stream).
func (d *Driver) Close() error { return d.conn.Close() }

// Result counts what n requests did.
type Result struct {
	Requests int
	Failed   int
	// ByVersion counts successes by the responding pod's version label.
	ByVersion map[string]int
	// ByPod counts successes by responding pod ("namespace/name").
	ByPod map[string]int
	// Errors counts failures by gRPC code and message.
	Errors map[string]int
	// Failures are the first maxFailures failed requests, with when they
	// were sent and their whole error: to set failures against the events
	// of a change (a roll, a push).
	Failures []Failure
	Elapsed  time.Duration
}

// Failure is one failed request.
type Failure struct {
	Sent time.Time
	Took time.Duration
	Err  string
}

func (f Failure) String() string {
	return fmt.Sprintf("%s (+%s) %s", f.Sent.Format("15:04:05.000"), f.Took.Round(time.Millisecond), f.Err)
}

// maxFailures bounds Result.Failures.
const maxFailures = 50

// Run sends n requests at the driver's rate, each with its timeout, and
// waits for all of them. A canceled ctx stops sending; requests not sent
// are not counted.
func (d *Driver) Run(ctx context.Context, n int) Result { return d.run(ctx, n, nil) }

// RunWhile sends requests at the driver's rate until stop is closed (or ctx
// ends, or maxWhile passes), then waits for the ones in flight: the traffic
// that runs while something changes, e.g. during `meshbundle canary promote`.
// Closing stop lets in-flight requests finish; canceling ctx fails them.
func (d *Driver) RunWhile(ctx context.Context, stop <-chan struct{}) Result {
	ctx, cancel := context.WithTimeout(ctx, maxWhile)
	defer cancel()
	return d.run(ctx, math.MaxInt, stop)
}

// maxWhile bounds RunWhile.
const maxWhile = 10 * time.Minute

func (d *Driver) run(ctx context.Context, n int, stop <-chan struct{}) Result {
	rate, timeout := d.Rate, d.Timeout
	if rate <= 0 {
		rate = DefaultRate
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	res := Result{ByVersion: map[string]int{}, ByPod: map[string]int{}, Errors: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	inFlight := make(chan struct{}, maxInFlight)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	// In-flight requests outlive a closed stop, not a canceled ctx.
	reqCtx := context.WithoutCancel(ctx)
	if stop == nil {
		reqCtx = ctx
	}
	start := time.Now()
send:
	for range n {
		select {
		case <-ctx.Done():
			break send
		case <-stop:
			break send
		case <-tick.C:
		}
		inFlight <- struct{}{}
		wg.Go(func() {
			defer func() { <-inFlight }()
			rctx, cancel := context.WithTimeout(reqCtx, timeout)
			defer cancel()
			sent := time.Now()
			resp, err := d.client.Echo(rctx, &proto.EchoRequest{Message: "meshbundle dataplane"})
			var id Identity
			if err == nil {
				id, err = parseIdentity(resp.GetMessage())
			}
			mu.Lock()
			defer mu.Unlock()
			res.Requests++
			if err != nil {
				res.Failed++
				res.Errors[errorKey(err)]++
				if len(res.Failures) < maxFailures {
					res.Failures = append(res.Failures, Failure{Sent: sent, Took: time.Since(sent), Err: err.Error()})
				}
				return
			}
			res.ByVersion[id.Version]++
			res.ByPod[id.Namespace+"/"+id.Pod]++
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// errorKey groups failures: the gRPC code and the message, shortened.
func errorKey(err error) string {
	st := status.Convert(err)
	msg := st.Message()
	if len(msg) > 160 {
		msg = msg[:160] + "..."
	}
	return st.Code().String() + ": " + msg
}

// Share is the percentage of all requests that version answered.
func (r Result) Share(version string) float64 {
	if r.Requests == 0 {
		return 0
	}
	return 100 * float64(r.ByVersion[version]) / float64(r.Requests)
}

// Summary reads "2000 requests, 0 failed, stable=90.1% v2=9.9%": the listed
// versions in order, then any other version that answered.
func (r Result) Summary(versions ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests, %d failed,", r.Requests, r.Failed)
	for _, v := range versions {
		fmt.Fprintf(&b, " %s=%.1f%%", versionName(v), r.Share(v))
	}
	for _, v := range slices.Sorted(maps.Keys(r.ByVersion)) {
		if !slices.Contains(versions, v) {
			fmt.Fprintf(&b, " %s=%.1f%%", versionName(v), r.Share(v))
		}
	}
	return b.String()
}

// String is the summary plus the failures' reasons and the first failures
// with their times.
func (r Result) String() string {
	s := r.Summary()
	for _, e := range slices.Sorted(maps.Keys(r.Errors)) {
		s += fmt.Sprintf("\n  %d× %s", r.Errors[e], e)
	}
	first := slices.SortedFunc(slices.Values(r.Failures), func(a, b Failure) int { return a.Sent.Compare(b.Sent) })
	for _, f := range first[:min(len(first), shownFailures)] {
		s += "\n  sent " + f.String()
	}
	if len(r.Failures) > shownFailures {
		s += fmt.Sprintf("\n  ... (%d failures recorded)", len(r.Failures))
	}
	return s
}

// shownFailures bounds the failures String lists one by one.
const shownFailures = 5

func versionName(v string) string {
	if v == "" {
		return "(no version label)"
	}
	return v
}

// Add sums two results (e.g. all batches of a Settle).
func (r Result) Add(o Result) Result {
	out := Result{Requests: r.Requests + o.Requests, Failed: r.Failed + o.Failed, Elapsed: r.Elapsed + o.Elapsed,
		ByVersion: map[string]int{}, ByPod: map[string]int{}, Errors: map[string]int{}}
	out.Failures = append(append(out.Failures, r.Failures...), o.Failures...)
	if len(out.Failures) > maxFailures {
		out.Failures = out.Failures[:maxFailures]
	}
	for _, m := range []struct{ dst, a, b map[string]int }{
		{out.ByVersion, r.ByVersion, o.ByVersion}, {out.ByPod, r.ByPod, o.ByPod}, {out.Errors, r.Errors, o.Errors},
	} {
		for k, v := range m.a {
			m.dst[k] += v
		}
		for k, v := range m.b {
			m.dst[k] += v
		}
	}
	return out
}

// ExpectShares checks that no request failed and that every version's share
// is within tolerance percentage points of want (in percent). A version not
// in want must not answer at all: list a version expected at 0 % as 0.
func ExpectShares(want map[string]float64, tolerance float64) func(Result) error {
	return func(r Result) error {
		if r.Requests == 0 {
			return fmt.Errorf("no request sent")
		}
		var bad []string
		if r.Failed > 0 {
			bad = append(bad, fmt.Sprintf("%d of %d requests failed", r.Failed, r.Requests))
		}
		for _, v := range slices.Sorted(maps.Keys(want)) {
			if got := r.Share(v); math.Abs(got-want[v]) > tolerance {
				bad = append(bad, fmt.Sprintf("%s got %.1f%%, want %.0f%% ± %.0f", versionName(v), got, want[v], tolerance))
			}
		}
		for _, v := range slices.Sorted(maps.Keys(r.ByVersion)) {
			if _, ok := want[v]; !ok {
				bad = append(bad, fmt.Sprintf("%s got %.1f%%, want none", versionName(v), r.Share(v)))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s (%s)", strings.Join(bad, "; "), r)
		}
		return nil
	}
}

// Settled is what Settle saw.
type Settled struct {
	// Last is the batch that passed the check (or the last one tried).
	Last Result
	// All sums every batch, including those sent while config propagated.
	All     Result
	Batches int
}

// Settle sends batches of requests until one passes check or timeout
// passes. It is how a test waits for a config change to reach the client
// (istiod debounces and pushes asynchronously): a test then measures with a
// fresh Run, whose requests are independent of the batches that decided
// when to start.
func (d *Driver) Settle(ctx context.Context, batch int, timeout time.Duration, check func(Result) error) (Settled, error) {
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var s Settled
	for {
		r := d.Run(wait, batch)
		s.Batches++
		s.Last, s.All = r, s.All.Add(r)
		err := check(r)
		if err == nil {
			return s, nil
		}
		if wait.Err() != nil {
			return s, fmt.Errorf("dataplane: %s did not settle in %s after %d batches: %w", d.Target, timeout, s.Batches, err)
		}
	}
}

// SampleSize is how many requests measure a share (0-100) within tolerance
// percentage points with at least min requests: grpc-go picks a weighted
// cluster at random for each RPC, so the measured share is binomial, and
// the tolerance must be at least 4.5 standard deviations (a false failure
// about once in 150 000 runs).
func SampleSize(share, tolerance float64, min int) int {
	p := share / 100
	// The epsilon keeps float rounding (0.1*0.9 > 0.09) from adding one.
	n := int(math.Ceil(math.Pow(4.5*100/tolerance, 2)*p*(1-p) - 1e-9))
	return max(n, min)
}
