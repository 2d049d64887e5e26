package installer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ClusterUnreachableError: the kubeconfig is fine but the API server does not
// answer. Nothing was changed.
type ClusterUnreachableError struct{ Err error }

func (e *ClusterUnreachableError) Error() string { return e.Err.Error() }
func (e *ClusterUnreachableError) Unwrap() error { return e.Err }

// TimeoutError: --timeout passed before the cluster converged.
type TimeoutError struct{ Err error }

func (e *TimeoutError) Error() string { return e.Err.Error() }
func (e *TimeoutError) Unwrap() error { return e.Err }

// cluster holds the clients of one kubeconfig context.
type cluster struct {
	kubeconfig, context string
	restConfig          *rest.Config // set when the caller passed Options.RESTConfig
	rest                *rest.Config
	kube                kubernetes.Interface
	apiext              apiextclient.Interface
	helm                map[string]*action.Configuration // per namespace
	// What the API server serves, for client-side renders that match Helm's.
	kubeVersion *chartutil.KubeVersion
	apiVersions chartutil.VersionSet
	log         func(string, ...any)
}

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
		rc, err = newFlags(kubeconfig, kubeContext, "").ToRESTConfig()
	}
	if err != nil {
		msg := "load kubeconfig"
		if kubeconfig != "" {
			msg += " " + kubeconfig
		}
		if kubeContext != "" {
			msg += fmt.Sprintf(" context %q", kubeContext)
		}
		return nil, &BadInputError{Err: fmt.Errorf("%s: %w; check --kubeconfig/--context (kubectl config get-contexts)", msg, err)}
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, &BadInputError{Err: fmt.Errorf("kubeconfig: %w", err)}
	}
	apiext, err := apiextclient.NewForConfig(rc)
	if err != nil {
		return nil, &BadInputError{Err: fmt.Errorf("kubeconfig: %w", err)}
	}
	// A short, separate probe: the default client would retry for minutes.
	probe := rest.CopyConfig(rc)
	probe.Timeout = 10 * time.Second
	pc, err := kubernetes.NewForConfig(probe)
	if err != nil {
		return nil, &BadInputError{Err: fmt.Errorf("kubeconfig: %w", err)}
	}
	sv, err := pc.Discovery().ServerVersion()
	if err != nil {
		return nil, &ClusterUnreachableError{Err: fmt.Errorf("API server %s is unreachable: %w; check the cluster is up and --context points at it", rc.Host, err)}
	}
	apis, err := action.GetVersionSet(kube.Discovery())
	if err != nil {
		return nil, &ClusterUnreachableError{Err: fmt.Errorf("API server %s: list API versions: %w", rc.Host, err)}
	}
	return &cluster{kubeconfig: kubeconfig, context: kubeContext, restConfig: opts.RESTConfig, rest: rc, kube: kube, apiext: apiext,
		helm: map[string]*action.Configuration{}, log: func(string, ...any) {},
		kubeVersion: &chartutil.KubeVersion{Version: sv.GitVersion, Major: sv.Major, Minor: sv.Minor}, apiVersions: apis}, nil
}

func newFlags(kubeconfig, kubeContext, namespace string) *genericclioptions.ConfigFlags {
	flags := genericclioptions.NewConfigFlags(true)
	if kubeconfig != "" {
		flags.KubeConfig = &kubeconfig
	}
	if kubeContext != "" {
		flags.Context = &kubeContext
	}
	if namespace != "" {
		flags.Namespace = &namespace
	}
	return flags
}

// helmConfig returns the Helm SDK configuration for releases in namespace
// (Helm keeps release records as Secrets in the release namespace).
func (c *cluster) helmConfig(namespace string) (*action.Configuration, error) {
	if cfg, ok := c.helm[namespace]; ok {
		return cfg, nil
	}
	var getter genericclioptions.RESTClientGetter = newFlags(c.kubeconfig, c.context, namespace)
	if c.restConfig != nil {
		getter = &restGetter{config: c.restConfig, namespace: namespace}
	}
	cfg := new(action.Configuration)
	if err := cfg.Init(getter, namespace, "secret", c.log); err != nil {
		return nil, fmt.Errorf("helm client for namespace %s: %w", namespace, err)
	}
	c.helm[namespace] = cfg
	return cfg, nil
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

// restGetter hands Helm a REST config an embedding program already has (an
// install operator running in-process), with the release namespace as the
// default namespace, as kubectl's --namespace would.
type restGetter struct {
	config    *rest.Config
	namespace string
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.config), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(g.config)
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(dc)
	return restmapper.NewShortcutExpander(mapper, dc, nil), nil
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(clientcmdapi.Config{}, &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}
