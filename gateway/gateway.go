// Package gateway manages Istio gateways the way the product's "runtime →
// gateways" page does: `add` installs one gateway (Deployment, Service,
// Role/RoleBinding for TLS Secrets, HPA, PDB and its Istio Gateway) as its
// own Helm release of Istio's gateway chart; `config apply` changes the
// Gateway with a Helm upgrade of the same release, so `helm history` and
// `helm rollback` work; `list`, `status` and `delete` read and remove them.
//
// Every change is checked first with Istio's analyzers against the live
// cluster plus the rendered objects (istioctl analyze's view); an
// error-level message refuses the change before anything is written.
// Connection, unlocking of interrupted releases and readiness come from
// the installer package.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/gatewayconfig"
	"github.com/meshbundle/meshbundle/installer"
)

// DefaultTimeout bounds one gateway operation.
const DefaultTimeout = 3 * time.Minute

// Target selects the cluster.
type Target struct {
	// Kubeconfig and Context select the cluster (kubectl's defaults when empty).
	Kubeconfig, Context string
	// RESTConfig, if set, is used instead (in-process callers).
	RESTConfig *rest.Config
	// Timeout bounds the operation; 0 means DefaultTimeout.
	Timeout time.Duration
	// Progress, if set, receives one line per step (the CLI prints them to stderr).
	Progress func(string)
}

func (t Target) progress(format string, args ...any) {
	if t.Progress != nil {
		t.Progress(fmt.Sprintf(format, args...))
	}
}

func (t Target) connect() (*installer.Cluster, error) {
	return installer.Connect(installer.Options{Kubeconfig: t.Kubeconfig, Context: t.Context, RESTConfig: t.RESTConfig})
}

// lock connects to the cluster and takes the installer lease for op, as
// every gateway command that changes something does. The returned context
// ends if the lease is lost; release frees the lease (if that fails, the
// next run takes the lease over once it is stale).
func (t Target) lock(ctx context.Context, op string) (context.Context, *installer.Cluster, func(), error) {
	cl, err := t.connect()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, release, err := cl.Lock(ctx, op)
	if err != nil {
		return nil, nil, nil, err
	}
	return ctx, cl, func() { _ = release() }, nil
}

func (t Target) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if t.Timeout <= 0 {
		t.Timeout = DefaultTimeout
	}
	return context.WithTimeout(ctx, t.Timeout)
}

// AddOptions describe a new gateway.
type AddOptions struct {
	// Name of the gateway: Helm release, Deployment, Service and Gateway.
	// A DNS-1123 label of at most 53 characters (Helm's release name limit).
	Name string
	// Namespace of the gateway; created when missing.
	Namespace string
	// Class is ingress (default), egress or east-west.
	Class Class
	// ServiceType of the gateway Service: LoadBalancer (ingress, east-west),
	// ClusterIP (egress), NodePort or None.
	ServiceType string
	// Network is the network an east-west gateway serves (required for
	// east-west, rejected for the others): the value of
	// topology.istio.io/network and of the installer's values.global.network.
	Network string
	// Replicas > 0 fixes the replica count and turns the HPA off.
	Replicas int
	// MinReplicas and MaxReplicas bound the HPA (chart default 1..5).
	MinReplicas, MaxReplicas int
	// PDBMinAvailable adds a PodDisruptionBudget ("1" or "50%").
	PDBMinAvailable string
	// Set are further values of Istio's gateway chart (Helm --set syntax).
	Set []string
	// Config replaces the class's default GatewayConfig (DefaultConfig).
	Config *gatewayconfig.GatewayConfig
	// DryRun renders and analyzes, and returns the manifest; nothing is written.
	DryRun bool
	// Wait waits until the gateway Deployment is Available (API istio) or
	// the Gateway is Programmed (API gateway-api).
	Wait bool
	// API is istio (default: a Helm release of Istio's gateway chart) or
	// gateway-api (a Gateway API Gateway of class istio; istiod creates
	// its Deployment and Service). See API.
	API API
}

// Result is what a change did.
type Result struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Class     Class  `json:"class"`
	API       API    `json:"api"`
	// Action is installed, upgraded, uninstalled (API istio), created,
	// updated, deleted (API gateway-api), unchanged or rendered (dry run).
	Action   string `json:"action"`
	Revision int    `json:"revision,omitempty"`
	// Warnings are the analyzers' warning- and info-level messages.
	Warnings []string `json:"warnings,omitempty"`
	// Manifest is the rendered release (dry run only).
	Manifest string `json:"-"`
}

// AnalysisError: Istio's analyzers reported error-level messages for the
// planned objects; nothing was changed. It reaches the caller wrapped in a
// failure.BadInputError.
type AnalysisError struct {
	Gateway  string
	Messages []string
}

func (e *AnalysisError) Error() string {
	return fmt.Sprintf("gateway %s: Istio's analyzers reject the change, nothing was changed:\n  %s\n(fix: correct the GatewayConfig or the options named above and retry)",
		e.Gateway, strings.Join(e.Messages, "\n  "))
}

func (o *AddOptions) validate() error {
	if o.Class == "" {
		o.Class = ClassIngress
	}
	if _, err := ParseClass(string(o.Class)); err != nil {
		return &failure.BadInputError{Err: err, Fix: "use --class ingress, egress or east-west"}
	}
	if msgs := validation.IsDNS1123Label(o.Name); len(msgs) > 0 || len(o.Name) > 53 {
		return failure.BadInputf("gateway name %q: must be a DNS-1123 label of at most 53 characters (%s) (fix: use a name such as public or istio-ingressgateway)", o.Name, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		return failure.BadInputf("namespace %q (-n): %s (fix: give -n the name of a namespace)", o.Namespace, strings.Join(msgs, "; "))
	}
	switch {
	case o.Class == ClassEastWest && o.Network == "":
		return failure.BadInputf("--class east-west needs --network: the network this cluster is on (fix: add --network with the installer's values.global.network)")
	case o.Class != ClassEastWest && o.Network != "":
		return failure.BadInputf("--network is only for --class east-west (fix: drop --network, or add --class east-west)")
	case o.Network != "" && len(validation.IsValidLabelValue(o.Network)) > 0:
		return failure.BadInputf("--network %q: must be a label value (%s) (fix: use the installer's values.global.network)", o.Network, strings.Join(validation.IsValidLabelValue(o.Network), "; "))
	}
	if o.Replicas < 0 || o.MinReplicas < 0 || o.MaxReplicas < 0 || (o.MaxReplicas > 0 && o.MinReplicas > o.MaxReplicas) {
		return failure.BadInputf("replicas: --replicas, --min-replicas and --max-replicas must be positive and min ≤ max (fix: correct the numbers)")
	}
	if o.Replicas > 0 && (o.MinReplicas > 0 || o.MaxReplicas > 0) {
		return failure.BadInputf("--replicas fixes the replica count (no HPA) (fix: do not combine it with --min-replicas/--max-replicas)")
	}
	if o.API == "" {
		o.API = APIIstio
	}
	if o.API == APIGatewayAPI {
		if err := o.validateGatewayAPI(); err != nil {
			return err
		}
	}
	if o.Config == nil {
		o.Config = DefaultConfig(o.Name, o.Namespace, o.Class)
	}
	if o.Config.Metadata.Name != o.Name || o.Config.Metadata.Namespace != o.Namespace {
		return failure.BadInputf("GatewayConfig %s is not for gateway %s/%s (fix: set its metadata.name and metadata.namespace to the gateway's)", o.Config.Ref(), o.Namespace, o.Name)
	}
	return nil
}

// Add installs a new gateway as its own Helm release. An existing deployed
// gateway of that name is an error (change it with ApplyConfig); a release
// a killed run left behind is unlocked and replaced.
func Add(ctx context.Context, t Target, o AddOptions) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.API == APIGatewayAPI {
		return addGatewayAPI(ctx, t, o)
	}
	chartVals, err := chartValues(o)
	if err != nil {
		return nil, err
	}
	vals, err := releaseValues(chartVals, o.Class, o.Config)
	if err != nil {
		return nil, err
	}
	ch, err := Chart()
	if err != nil {
		return nil, err
	}
	ctx, cancel := t.withTimeout(ctx)
	defer cancel()
	res := &Result{Name: o.Name, Namespace: o.Namespace, Class: o.Class, API: APIIstio}
	ctx, cl, unlock, err := t.lock(ctx, "gateway add")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := refuseGatewayAPIGateway(ctx, cl, o.Namespace, o.Name); err != nil {
		return nil, err
	}
	cfg, err := cl.Helm(o.Namespace)
	if err != nil {
		return nil, err
	}
	_, last, err := cl.Unlock(cfg, o.Name)
	if err != nil {
		return nil, fmt.Errorf("gateway %s/%s: %w", o.Namespace, o.Name, err)
	}
	if last != nil && last.Info.Status == release.StatusDeployed {
		return nil, failure.BadInputf("gateway %s/%s already exists (release revision %d) (fix: change its servers with `meshbundle gateway config apply -f`, or delete it first)", o.Namespace, o.Name, last.Version)
	}
	if last != nil && !o.DryRun {
		// A failed or interrupted add: start over (Helm cannot upgrade a
		// release that never deployed).
		t.progress("removing release %s/%s left %s by an earlier run", o.Namespace, o.Name, last.Info.Status)
		if _, err := action.NewUninstall(cfg).Run(o.Name); err != nil {
			return nil, fmt.Errorf("gateway %s/%s: remove the %s release: %w", o.Namespace, o.Name, last.Info.Status, err)
		}
	}
	if !o.DryRun {
		if err := cl.EnsureNamespace(ctx, o.Namespace, "gateway-add"); err != nil {
			return nil, err
		}
	}

	// Render against the cluster first (Helm's dry run), analyze, then install.
	t.progress("rendering %s (class %s)", o.Name, o.Class)
	dry := newInstall(cfg, o, t.Timeout)
	dry.DryRun, dry.ClientOnly = true, o.DryRun
	dry.KubeVersion, dry.APIVersions = cl.KubeVersion(), cl.APIVersions()
	planned, err := dry.RunWithContext(ctx, ch, vals)
	if err != nil {
		return nil, failure.BadInputf("gateway %s/%s: render: %w (fix: correct the chart value or GatewayConfig field named)", o.Namespace, o.Name, err)
	}
	t.progress("analyzing with Istio's analyzers")
	if res.Warnings, err = check(ctx, cl, o.Namespace, o.Name, planned.Manifest); err != nil {
		return res, err
	}
	if o.DryRun {
		res.Action, res.Manifest = "rendered", planned.Manifest
		return res, nil
	}
	t.progress("installing release %s/%s", o.Namespace, o.Name)
	inst := newInstall(cfg, o, t.Timeout)
	out, err := inst.RunWithContext(ctx, ch, vals)
	if err != nil {
		return res, installer.Classify(fmt.Errorf("gateway %s/%s: helm install: %w", o.Namespace, o.Name, err), "gateway add")
	}
	res.Action, res.Revision = "installed", out.Version
	if o.Wait {
		t.progress("waiting for deployment %s/%s", o.Namespace, o.Name)
		if err := cl.WaitDeployment(ctx, o.Namespace, o.Name); err != nil {
			return res, err
		}
	}
	return res, nil
}

func newInstall(cfg *action.Configuration, o AddOptions, timeout time.Duration) *action.Install {
	inst := action.NewInstall(cfg)
	inst.ReleaseName, inst.Namespace = o.Name, o.Namespace
	inst.Timeout = timeout
	return inst
}

// ApplyConfig changes the Gateway of an existing gateway: a Helm upgrade of
// its release with the new GatewayConfig (chart values kept), after the
// analyzers found no error. An unchanged config writes nothing.
func ApplyConfig(ctx context.Context, t Target, gc *gatewayconfig.GatewayConfig, dryRun bool) (*Result, error) {
	ctx, cancel := t.withTimeout(ctx)
	defer cancel()
	ns, name := gc.Metadata.Namespace, gc.Metadata.Name
	ctx, cl, unlock, err := t.lock(ctx, "gateway config apply")
	if err != nil {
		return nil, err
	}
	defer unlock()
	cfg, err := cl.Helm(ns)
	if err != nil {
		return nil, err
	}
	_, last, err := cl.Unlock(cfg, name)
	if err != nil {
		return nil, fmt.Errorf("gateway %s/%s: %w", ns, name, err)
	}
	if last == nil || last.Chart == nil || last.Chart.Metadata.Name != ChartName {
		gwc, err := gatewayAPIClient(cl)
		if err != nil {
			return nil, err
		}
		gw, err := getGatewayAPI(ctx, gwc, ns, name)
		if err != nil {
			return nil, installer.Classify(err, "gateway config apply")
		}
		if gw == nil {
			return nil, failure.BadInputf("gateway %s/%s does not exist (neither a %s release nor a Gateway API Gateway) (fix: create it with `meshbundle gateway add %s -n %s`)", ns, name, ChartName, name, ns)
		}
		return applyGatewayAPI(ctx, t, gwc, gw, gc, dryRun)
	}
	old, class, err := configOf(last.Config)
	if err != nil {
		return nil, err
	}
	res := &Result{Name: name, Namespace: ns, Class: class, API: APIIstio}
	if same(old, gc) && last.Info.Status == release.StatusDeployed {
		res.Action, res.Revision = "unchanged", last.Version
		return res, nil
	}
	chartVals, _ := last.Config["gateway"].(map[string]any)
	vals, err := releaseValues(chartVals, class, gc)
	if err != nil {
		return nil, err
	}
	ch, err := Chart()
	if err != nil {
		return nil, err
	}
	t.progress("rendering revision %d of %s/%s", last.Version+1, ns, name)
	dry := action.NewUpgrade(cfg)
	dry.Namespace, dry.DryRun = ns, true
	planned, err := dry.RunWithContext(ctx, name, ch, vals)
	if err != nil {
		return nil, failure.BadInputf("gateway %s/%s: render: %w (fix: correct the GatewayConfig field named)", ns, name, err)
	}
	t.progress("analyzing with Istio's analyzers")
	if res.Warnings, err = check(ctx, cl, ns, name, planned.Manifest); err != nil {
		return res, err
	}
	if dryRun {
		res.Action, res.Manifest = "rendered", planned.Manifest
		return res, nil
	}
	t.progress("upgrading release %s/%s", ns, name)
	up := action.NewUpgrade(cfg)
	up.Namespace, up.Timeout, up.MaxHistory = ns, t.Timeout, 10
	out, err := up.RunWithContext(ctx, name, ch, vals)
	if err != nil {
		return res, installer.Classify(fmt.Errorf("gateway %s/%s: helm upgrade: %w", ns, name, err), "gateway config apply")
	}
	res.Action, res.Revision = "upgraded", out.Version
	return res, nil
}

func same(a, b *gatewayconfig.GatewayConfig) bool {
	x, err1 := gatewayconfig.Marshal(a)
	y, err2 := gatewayconfig.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// Delete uninstalls the gateway's release and waits until its objects are
// gone. Helm's uninstall takes no context; t.Timeout bounds its wait.
func Delete(ctx context.Context, t Target, namespace, name string) (*Result, error) {
	leaseCtx, cl, unlock, err := t.lock(ctx, "gateway delete")
	if err != nil {
		return nil, err
	}
	defer unlock()
	cfg, err := cl.Helm(namespace)
	if err != nil {
		return nil, err
	}
	if _, last, err := cl.Unlock(cfg, name); err != nil {
		return nil, err
	} else if last == nil || last.Chart == nil || last.Chart.Metadata.Name != ChartName {
		gc, err := gatewayAPIClient(cl)
		if err != nil {
			return nil, err
		}
		gw, err := getGatewayAPI(leaseCtx, gc, namespace, name)
		if err != nil {
			return nil, installer.Classify(err, "gateway delete")
		}
		if gw == nil {
			return nil, notFound(namespace, name)
		}
		ctx, cancel := t.withTimeout(leaseCtx)
		defer cancel()
		return deleteGatewayAPI(ctx, t, cl, gc, gw)
	}
	// Helm's uninstall takes no context, so a lease lost from here on cannot
	// stop it: check once, last, before the step that cannot be undone.
	if leaseCtx.Err() != nil {
		return nil, installer.Classify(fmt.Errorf("gateway %s/%s: before helm uninstall: %w", namespace, name, context.Cause(leaseCtx)), "gateway delete")
	}
	t.progress("uninstalling release %s/%s", namespace, name)
	un := action.NewUninstall(cfg)
	un.Wait, un.Timeout = true, t.Timeout
	if _, err := un.Run(name); err != nil {
		return nil, installer.Classify(fmt.Errorf("gateway %s/%s: helm uninstall: %w", namespace, name, err), "gateway delete")
	}
	return &Result{Name: name, Namespace: namespace, API: APIIstio, Action: "uninstalled"}, nil
}

// isNotFound says whether a Helm error means the release does not exist.
func isNotFound(err error) bool { return errors.Is(err, driver.ErrReleaseNotFound) }
