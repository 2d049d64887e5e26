package installer

import (
	"context"
	"helm.sh/helm/v3/pkg/chart"
	"io/fs"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshbundle/meshbundle/lease"
)

// This file exposes the installer's cluster connection and release handling
// to the other packages that manage Helm releases of Istio's charts (the
// gateway package), so there is one implementation of connecting, unlocking
// and readiness.

// Cluster is a checked connection to one cluster (see Connect).
type Cluster struct {
	c     *cluster
	lease *lease.Lease // held between Lock and its release
}

// Connect resolves opts.Kubeconfig/Context (or opts.RESTConfig) and checks
// the API server answers; errors are failure.BadInputError or ClusterUnreachableError.
func Connect(opts Options) (*Cluster, error) {
	c, err := connect(opts)
	if err != nil {
		return nil, err
	}
	return &Cluster{c: c}, nil
}

// Helm is the Helm SDK configuration for releases in namespace.
func (c *Cluster) Helm(namespace string) (*action.Configuration, error) {
	return c.c.helmConfig(namespace)
}

// Kube is the Kubernetes client.
func (c *Cluster) Kube() kubernetes.Interface { return c.c.kube }

// RESTConfig is the resolved REST config.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.c.rest) }

// KubeVersion and APIVersions are what the API server serves, for
// client-side renders that match Helm's.
func (c *Cluster) KubeVersion() *chartutil.KubeVersion { return c.c.kubeVersion }
func (c *Cluster) APIVersions() chartutil.VersionSet   { return c.c.apiVersions }

// EnsureNamespace creates a namespace if it is missing, recording creator
// (the command, e.g. "gateway-add") in CreatedByAnnotation. Only the
// installer's own namespaces (CreatorInstaller) are ever deleted by
// uninstall, so other commands must pass their own name.
func (c *Cluster) EnsureNamespace(ctx context.Context, name, creator string) error {
	return c.c.createNamespace(ctx, name, creator)
}

// Lock takes the installer lease for op (e.g. "gateway add"), as install
// and uninstall do, or returns a *LockedError naming the holder. The
// returned context ends if the lease is lost; call release when done.
func (c *Cluster) Lock(ctx context.Context, op string) (_ context.Context, release func() error, _ error) {
	ctx, stop := context.WithCancelCause(ctx)
	l, err := c.c.acquireLease(ctx, op, stop)
	if err != nil {
		stop(nil)
		return nil, nil, err
	}
	c.lease = l
	return ctx, func() error {
		defer stop(nil)
		c.lease = nil
		return l.Release()
	}, nil
}

// Unlock marks a release a killed run left pending-* as failed, so the next
// Helm action proceeds; it returns the newest release record (nil if none).
// Only under the lease (Lock): otherwise the pending release could be a live
// operation of another run.
func (c *Cluster) Unlock(cfg *action.Configuration, name string) (unlocked bool, last *release.Release, err error) {
	return c.lease.Unlock(cfg, name)
}

// Classify turns a context deadline into a TimeoutError naming what timed out.
func Classify(err error, what string) error { return classify(err, what) }

// LoadChartFS loads a chart from an embedded file system (root is the chart
// directory in fsys).
func LoadChartFS(fsys fs.FS, root string) (*chart.Chart, error) { return loadFS(fsys, root) }

// WaitDeployment watches a Deployment until it is Available with every
// replica updated, or ctx ends (then a TimeoutError says what was missing).
func (c *Cluster) WaitDeployment(ctx context.Context, namespace, name string) error {
	return (&run{cl: c.c}).waitDeployment(ctx, namespace, name)
}
