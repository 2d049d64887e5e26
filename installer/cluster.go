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
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
	rest                *rest.Config
	kube                kubernetes.Interface
	apiext              apiextclient.Interface
	helm                map[string]*action.Configuration // per namespace
	// What the API server serves, for client-side renders that match Helm's.
	kubeVersion *chartutil.KubeVersion
	apiVersions chartutil.VersionSet
	log         func(string, ...any)
}

// connect resolves the kubeconfig context and checks that the API server
// answers, so a bad context or a dead cluster fails before any write.
func connect(ctx context.Context, kubeconfig, kubeContext string) (*cluster, error) {
	flags := newFlags(kubeconfig, kubeContext, "")
	rc, err := flags.ToRESTConfig()
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
	return &cluster{kubeconfig: kubeconfig, context: kubeContext, rest: rc, kube: kube, apiext: apiext,
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
	cfg := new(action.Configuration)
	if err := cfg.Init(newFlags(c.kubeconfig, c.context, namespace), namespace, "secret", c.log); err != nil {
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
