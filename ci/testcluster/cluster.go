// Package testcluster runs a real Kubernetes control plane on 127.0.0.1 for
// tests and the demo: etcd and kube-apiserver through controller-runtime's
// envtest, and, when asked, kube-controller-manager, kube-scheduler and kwok
// (so Deployments roll out and pods become Ready on a fake node) and a real
// istiod (pilot-discovery) serving sidecar injection and validation webhooks.
//
// Every binary is built from the Go module proxy by ci/tools.sh; nothing is
// mocked. A test binary starts one cluster in TestMain (see Main) and shares it.
package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshbundle/meshbundle/ci/netns"
)

// Option selects what runs besides etcd and kube-apiserver.
type Option func(*options)

type options struct {
	pods        bool   // controller-manager, scheduler, kwok
	istiodRoute bool   // apiserver routes istio-system/istiod to the local istiod
	istiod      bool   // install Istio's base+istiod charts and start istiod
	gatewayAPI  bool   // install the Gateway API CRDs (before istiod)
	dir         string // where logs, certs and the kubeconfig go (default: a temp dir)
	apiPort     int    // the API server's port on 127.0.0.1 (default: a free one)
	// podTermination is how long kwok keeps a deleted pod (0: it removes
	// it at once).
	podTermination time.Duration
}

// WithPods also runs kube-controller-manager, kube-scheduler and kwok with one
// fake node, so Deployments become Available with Ready pods.
func WithPods() Option { return func(o *options) { o.pods = true } }

// WithIstiodRoute makes the apiserver send webhook calls for the Service
// istio-system/istiod to the local istiod's port. Install Istio's charts
// yourself (e.g. with the installer under test), then call StartIstiod.
func WithIstiodRoute() Option { return func(o *options) { o.istiodRoute = true } }

// WithIstiod installs Istio's base and istiod charts (Helm SDK, charts
// embedded in istio.io/istio) and starts the local istiod before tests run:
// pods in injected namespaces get real sidecars, Istio objects real validation.
// Implies WithPods and WithIstiodRoute.
func WithIstiod() Option {
	return func(o *options) { o.istiod, o.istiodRoute, o.pods = true, true, true }
}

// WithPodTermination keeps a deleted pod Terminating for d before kwok
// removes it, as a kubelet keeps a pod until its containers have exited
// (at most its grace period): the pod's IP stays taken that long. By
// default kwok removes a deleted pod at once and hands its IP to the next
// new pod (often within 200 ms), which a real cluster never does; a data
// plane test whose going pods still answer (ci/dataplane's drain) needs
// the IP kept while they do. Implies WithPods.
func WithPodTermination(d time.Duration) Option {
	return func(o *options) { o.pods, o.podTermination = true, d }
}

// InDir keeps the cluster's files (logs, kubeconfig, certs) in dir instead of
// a temporary directory; the demo uses it so users can look at the logs.
func InDir(dir string) Option { return func(o *options) { o.dir = dir } }

// APIServerPort serves the API server on 127.0.0.1:port of the namespace.
// The demo's --keep passes netns.ForwardedPort(), so the one kubeconfig works
// inside the namespace and, through the forward, from the caller's shell.
func APIServerPort(port int) Option { return func(o *options) { o.apiPort = port } }

// Cluster is a running local control plane.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig for CLIs (helm, meshbundle).
	Kubeconfig string
	// Config is the admin REST config for Go clients.
	Config *rest.Config
	// Client is a controller-runtime client whose scheme knows Kubernetes,
	// CRD, Istio and Gateway API (v1) types.
	Client client.Client
	// Dir holds logs (<component>.log), certs and the kubeconfig.
	Dir string

	opts       options
	env        *envtest.Environment
	procs      []*process
	istiod     *process
	istiodAddr string   // host:port of istiod's webhook server
	istiodEnv  []string // added to istiod's environment (RestartIstiod)
	ownDir     bool
}

// Scheme is the scheme of Cluster.Client.
var Scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, istioscheme.AddToScheme, gwapi.Install,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// Start launches the control plane and waits until it serves (and, with
// WithPods, until the fake node is Ready and controllers run). It refuses to
// start outside a network namespace of the run's own (netns.Check): the pod
// and Service ranges are not local on the build machines, and nothing the
// cluster sends may leave. Main enters one; programs call netns.Enter.
func Start(ctx context.Context, opts ...Option) (_ *Cluster, err error) {
	if err := netns.Check(); err != nil {
		return nil, err
	}
	c := &Cluster{}
	for _, o := range opts {
		o(&c.opts)
	}
	binDir, err := BinDir()
	if err != nil {
		return nil, err
	}
	need := []string{"etcd", "kube-apiserver"}
	if c.opts.pods {
		need = append(need, "kube-controller-manager", "kube-scheduler", "kwok")
	}
	if c.opts.istiod {
		need = append(need, "pilot-discovery")
	}
	for _, name := range need {
		if _, err := Bin(name); err != nil {
			return nil, err
		}
	}

	c.Dir = c.opts.dir
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "meshbundle-cluster-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	} else if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.Logs(40))
			_ = c.Stop()
		}
	}()

	if c.opts.istiodRoute {
		if c.istiodAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		// The apiserver reads this at start (ci/tools/kube/kube-apiserver).
		os.Setenv("MESHBUNDLE_SERVICE_ROUTES", "istio-system/istiod="+c.istiodAddr)
	}

	c.env = &envtest.Environment{
		BinaryAssetsDirectory:    binDir,
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  20 * time.Second,
	}
	etcdLog, err := os.Create(filepath.Join(c.Dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	apiLog, err := os.Create(filepath.Join(c.Dir, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	etcd := &envtest.Etcd{}
	c.env.ControlPlane.Etcd = etcd
	etcd.Out, etcd.Err = etcdLog, etcdLog
	// Tests do not need durability; fsync dominates etcd's latency otherwise.
	etcd.Configure().Set("unsafe-no-fsync", "true")
	api := c.env.ControlPlane.GetAPIServer()
	api.Out, api.Err = apiLog, apiLog
	// Room for benchmark-sized charts (envtest's default is a /24).
	api.Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	// The namespace routes nothing but lo, so the apiserver cannot pick its
	// address from a default route: give it the namespace's host address.
	api.Configure().Set("advertise-address", netns.HostAddr)
	if c.opts.apiPort != 0 {
		api.SecureServing.ListenAddr = envtest.ListenAddr{Address: "127.0.0.1", Port: strconv.Itoa(c.opts.apiPort)}
	}
	if c.opts.pods {
		// With a controller-manager creating ServiceAccounts, admit pods as a
		// real cluster does (envtest turns the check off for lack of one).
		api.Configure().Disable("disable-admission-plugins")
	}

	if c.Config, err = c.env.Start(); err != nil {
		return nil, fmt.Errorf("start etcd + kube-apiserver: %w", err)
	}
	user, err := c.env.AddUser(envtest.User{Name: "meshbundle-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("create admin user: %w", err)
	}
	c.Config = user.Config()
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: Scheme}); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}

	if c.opts.pods {
		if err := c.startPods(ctx); err != nil {
			return nil, err
		}
	}
	if c.opts.gatewayAPI {
		if err := c.InstallGatewayAPICRDs(ctx); err != nil {
			return nil, err
		}
	}
	if c.opts.istiod {
		if err := c.InstallIstioCharts(ctx); err != nil {
			return nil, err
		}
		if err := c.StartIstiod(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Stop stops istiod, kwok, the scheduler, the controller-manager, then the
// apiserver and etcd, and removes the directory if Start made it.
func (c *Cluster) Stop() error {
	var errs []error
	if c.istiod != nil {
		errs = append(errs, c.StopIstiod())
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].stop(10*time.Second))
	}
	c.procs = nil
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop etcd + kube-apiserver: %w", err))
		}
		c.env = nil
	}
	if c.ownDir && os.Getenv("MESHBUNDLE_KEEP_CLUSTER_DIR") == "" {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}

// Logs returns the last n lines of every component's log, for failures.
func (c *Cluster) Logs(n int) string {
	if c.Dir == "" {
		return ""
	}
	var b strings.Builder
	entries, _ := filepath.Glob(filepath.Join(c.Dir, "*.log"))
	for _, path := range entries {
		fmt.Fprintf(&b, "----- %s (last %d lines) -----\n%s", filepath.Base(path), n, tailFile(path, n))
	}
	return b.String()
}

// PIDs lists the components this cluster started itself, by name (the apiserver
// and etcd are envtest's and not listed).
func (c *Cluster) PIDs() map[string]int {
	out := map[string]int{}
	for _, p := range c.procs {
		out[p.name] = p.PID()
	}
	if c.istiod != nil {
		out[c.istiod.name] = c.istiod.PID()
	}
	return out
}
