package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/meshbundle/meshbundle/ci/netns"
	"github.com/meshbundle/meshbundle/rollout"
)

var shared *Cluster

// Main starts one cluster for the test binary, runs the tests, prints every
// component's recent log lines when a test failed, stops the cluster and
// exits. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testcluster.Main(m, testcluster.WithPods()) }
//
// The binary first re-executes itself in a network, PID and mount namespace
// of its own (netns.Enter; needs root), so nothing the cluster or the tests
// send can leave the machine and nothing outlives the binary, even killed.
// A cluster that cannot start fails the whole binary with the reason (for
// example, binaries not built: run `make tools`); tests never silently skip.
func Main(m *testing.M, opts ...Option) {
	Isolated(m, func() (func(), error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		start := time.Now()
		c, err := Start(ctx, opts...)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("cannot start the local control plane: %w", err)
		}
		fmt.Fprintf(os.Stderr, "testcluster: control plane up in %s (logs in %s)\n", time.Since(start).Round(time.Millisecond), c.Dir)
		shared = c
		return func() {
			if err := c.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "testcluster: stop: %v\n", err)
			}
		}, nil
	})
}

// Isolated runs the tests in a namespace of their own as Main does, for test
// binaries that start their clusters themselves (testcluster.Start) or none:
// netns.RunTests, with the shared cluster's logs when a test failed. setup,
// if given, runs inside before the tests and returns what to run after them.
func Isolated(m *testing.M, setup func() (teardown func(), err error)) {
	netns.RunTests(m, func() (func(code int), error) {
		teardown := func() {}
		if setup != nil {
			var err error
			if teardown, err = setup(); err != nil {
				return nil, fmt.Errorf("testcluster: %w", err)
			}
		}
		return func(code int) {
			if code != 0 && shared != nil {
				fmt.Fprintf(os.Stderr, "testcluster: tests failed; component logs:\n%s", shared.Logs(60))
			}
			teardown()
		}, nil
	})
}

// Shared is the cluster Main started. It fails the test if there is none.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if shared == nil {
		t.Fatal("testcluster: no cluster: call testcluster.Main(m, ...) from TestMain")
	}
	return shared
}

// Namespace creates a fresh namespace (with the given labels) for one test
// and deletes it when the test ends.
func (c *Cluster) Namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-", Labels: labels}}
	if err := c.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.Client.Delete(context.Background(), ns) })
	return ns.Name
}

// WaitDeploymentAvailable waits until the Deployment's rollout is done by
// the production rule and watch (rollout.WaitDeployment, kubectl rollout
// status's rule). A cluster process that dies meanwhile ends the wait at
// once with its last log lines, instead of the timeout's error.
func (c *Cluster) WaitDeploymentAvailable(ctx context.Context, namespace, name string, timeout time.Duration) (*appsv1.Deployment, error) {
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for _, p := range c.procs {
		go func() {
			select {
			case <-p.done:
				cancel(fmt.Errorf("%s: %w (%v); last log lines:\n%s", p.name, errExited, p.err, p.tail(30)))
			case <-ctx.Done():
			}
		}()
	}
	wait, stop := context.WithTimeout(ctx, timeout)
	defer stop()
	what := "Deployment " + namespace + "/" + name + " Available"
	if why, err := rollout.WaitDeployment(wait, kube, namespace, name); err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errExited) {
			return nil, fmt.Errorf("waiting for %s: %w", what, cause)
		}
		return nil, fmt.Errorf("waiting for %s: %w (last: %s)", what, err, why)
	}
	var d appsv1.Deployment
	err = c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &d)
	return &d, err
}

func discoveryGroups(c *Cluster) (map[string]bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	groups, err := dc.ServerGroups()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, g := range groups.Groups {
		out[g.Name] = true
	}
	return out, nil
}
