package installer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshbundle/meshbundle/failure"
)

// ClusterUnreachableError: the kubeconfig is fine but the API server does not
// answer. Nothing was changed.
type ClusterUnreachableError struct{ Err error }

func (e *ClusterUnreachableError) Error() string { return e.Err.Error() }
func (e *ClusterUnreachableError) Unwrap() error { return e.Err }

// Kind is failure.Unreachable.
func (e *ClusterUnreachableError) Kind() failure.Kind { return failure.Unreachable }

// TimeoutError: --timeout passed before the cluster converged.
type TimeoutError struct{ Err error }

func (e *TimeoutError) Error() string { return e.Err.Error() }
func (e *TimeoutError) Unwrap() error { return e.Err }

// Kind is failure.Timeout.
func (e *TimeoutError) Kind() failure.Kind { return failure.Timeout }

// cluster holds the clients of one kubeconfig context.
type cluster struct {
	rest   *rest.Config
	kube   kubernetes.Interface
	apiext apiextclient.Interface
	meta   metadata.Interface               // metadata-only reads of any kind
	helm   map[string]*action.Configuration // per namespace
	// disco is one discovery cache and RESTMapper for every Helm client of
	// the run: building them per release (or per namespace) costs a full
	// discovery each time.
	disco *sharedDiscovery
	// What the API server serves, for client-side renders that match Helm's.
	kubeVersion *chartutil.KubeVersion
	apiVersions chartutil.VersionSet
	log         func(string, ...any)
}

// Client-side rate limits when the kubeconfig or the caller's REST config
// sets none: client-go's defaults (5 requests/s, bursts of 10) made a no-op
// re-run spend most of its time waiting on its own throttle (about 80
// requests). The API server's priority and fairness protects it; istioctl
// uses the same figures.
const (
	defaultQPS   = 50
	defaultBurst = 100
)

// connect resolves the kubeconfig context (or takes the caller's REST
// config) and checks that the API server answers, so a bad context or a dead
// cluster fails before any write.
func connect(opts Options) (*cluster, error) {
	kubeconfig, kubeContext := opts.Kubeconfig, opts.Context
	var rc *rest.Config
	var err error
	if opts.RESTConfig != nil {
		rc = rest.CopyConfig(opts.RESTConfig)
	} else {
		rc, err = newFlags(kubeconfig, kubeContext).ToRESTConfig()
	}
	if err != nil {
		msg := "load kubeconfig"
		if kubeconfig != "" {
			msg += " " + kubeconfig
		}
		if kubeContext != "" {
			msg += fmt.Sprintf(" context %q", kubeContext)
		}
		return nil, &failure.BadInputError{Err: fmt.Errorf("%s: %w (fix: check --kubeconfig/--context; kubectl config get-contexts lists them)", msg, err)}
	}
	if rc.QPS == 0 && rc.RateLimiter == nil {
		rc.QPS, rc.Burst = defaultQPS, defaultBurst
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, kubeconfigError(err)
	}
	apiext, err := apiextclient.NewForConfig(rc)
	if err != nil {
		return nil, kubeconfigError(err)
	}
	// A short, separate probe: the default client would retry for minutes.
	probe := rest.CopyConfig(rc)
	probe.Timeout = 10 * time.Second
	pc, err := kubernetes.NewForConfig(probe)
	if err != nil {
		return nil, kubeconfigError(err)
	}
	sv, err := pc.Discovery().ServerVersion()
	if err != nil {
		return nil, &ClusterUnreachableError{Err: fmt.Errorf("API server %s is unreachable: %w; check the cluster is up and --context points at it", rc.Host, err)}
	}
	metaClient, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, kubeconfigError(err)
	}
	disco, err := newSharedDiscovery(rc)
	if err != nil {
		return nil, kubeconfigError(err)
	}
	apis, err := action.GetVersionSet(disco.client)
	if err != nil {
		return nil, &ClusterUnreachableError{Err: fmt.Errorf("API server %s: list API versions: %w", rc.Host, err)}
	}
	return &cluster{rest: rc, kube: kube, apiext: apiext, meta: metaClient, disco: disco,
		helm: map[string]*action.Configuration{}, log: func(string, ...any) {},
		kubeVersion: &chartutil.KubeVersion{Version: sv.GitVersion, Major: sv.Major, Minor: sv.Minor}, apiVersions: apis}, nil
}

func newFlags(kubeconfig, kubeContext string) *genericclioptions.ConfigFlags {
	flags := genericclioptions.NewConfigFlags(true)
	if kubeconfig != "" {
		flags.KubeConfig = &kubeconfig
	}
	if kubeContext != "" {
		flags.Context = &kubeContext
	}
	return flags
}

// helmConfig returns the Helm SDK configuration for releases in namespace
// (Helm keeps release records as Secrets in the release namespace).
func (c *cluster) helmConfig(namespace string) (*action.Configuration, error) {
	if cfg, ok := c.helm[namespace]; ok {
		return cfg, nil
	}
	cfg, err := c.newHelmConfig(namespace)
	if err != nil {
		return nil, err
	}
	c.helm[namespace] = cfg
	return cfg, nil
}

// newHelmConfig is a Helm client of its own for namespace (not cached), over
// the run's shared discovery.
func (c *cluster) newHelmConfig(namespace string) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	if err := cfg.Init(&restGetter{shared: c.disco, namespace: namespace}, namespace, "secret", c.log); err != nil {
		return nil, fmt.Errorf("helm client for namespace %s: %w", namespace, err)
	}
	// Helm's Secrets driver, writing at the default gzip level (records.go).
	if sec, ok := cfg.Releases.Driver.(*driver.Secrets); ok {
		cfg.Releases = storage.Init(&releaseSecrets{Secrets: sec, impl: c.kube.CoreV1().Secrets(namespace)})
		cfg.Releases.Log = c.log
	}
	return cfg, nil
}

// rediscover forgets what the API server served: the next Helm action reads
// discovery again (once for all namespaces) and its capabilities afresh.
// Called once new CRDs are served; until then a Helm client would keep
// answering "no matches for kind" from its still-fresh cache.
func (c *cluster) rediscover() {
	c.disco.mapper.Reset()
	for _, cfg := range c.helm {
		cfg.Capabilities = nil
	}
}

// classify turns a context deadline into a TimeoutError.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	var te *TimeoutError
	if errors.As(err, &te) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "context deadline exceeded") {
		return &TimeoutError{Err: fmt.Errorf("%s: %w; raise --timeout or check the cluster's events", what, err)}
	}
	return err
}

// sharedDiscovery is one memory-cached discovery client and one RESTMapper
// over it, shared by the Helm clients of every namespace in a run.
type sharedDiscovery struct {
	config *rest.Config
	client discovery.CachedDiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newSharedDiscovery(rc *rest.Config) (*sharedDiscovery, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(dc)
	return &sharedDiscovery{config: rc, client: cached, mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached)}, nil
}

// restGetter hands Helm the run's REST config (resolved from the kubeconfig
// or given by an embedding program such as an install operator), its shared
// discovery, and the release namespace as the default namespace, as
// kubectl's --namespace would.
type restGetter struct {
	shared    *sharedDiscovery
	namespace string
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) {
	return rest.CopyConfig(g.shared.config), nil
}

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.shared.client, nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	return restmapper.NewShortcutExpander(g.shared.mapper, g.shared.client, nil), nil
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(clientcmdapi.Config{}, &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}

// kubeconfigError is a client the kubeconfig cannot make: bad input.
func kubeconfigError(err error) error {
	return &failure.BadInputError{Object: "kubeconfig", Err: err, Fix: "check --kubeconfig/--context; kubectl config get-contexts lists them"}
}
