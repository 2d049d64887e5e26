package gateway

import (
	"context"
	"fmt"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/action"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/gatewayconfig"
	"github.com/meshbundle/meshbundle/gatewayconfig/gatewayobj"
	"github.com/meshbundle/meshbundle/installer"
	"github.com/meshbundle/meshbundle/rollout"
)

// API is the API a gateway is made with; `gateway list`, `status` and
// `delete` cover both.
type API string

const (
	// APIIstio: the gateway is a Helm release of Istio's gateway chart
	// (Deployment, Service, Role, HPA, PDB) with an Istio Gateway
	// (networking.istio.io) rendered from its GatewayConfig.
	APIIstio API = "istio"
	// APIGatewayAPI: the gateway is one gateway.networking.k8s.io/v1
	// Gateway of class istio, translated from its GatewayConfig
	// (gatewayobj.GatewayAPI); istiod's Gateway API deployment
	// controller creates its Deployment and Service ("<name>-istio") and
	// owns them, so deleting the Gateway deletes them.
	APIGatewayAPI API = "gateway-api"
)

// ParseAPI checks an --api value ("" is istio).
func ParseAPI(s string) (API, error) {
	switch API(s) {
	case "", APIIstio:
		return APIIstio, nil
	case APIGatewayAPI:
		return APIGatewayAPI, nil
	}
	return "", fmt.Errorf("--api %q: must be istio (a Helm release of Istio's gateway chart) or gateway-api (a Gateway API Gateway istiod deploys)", s)
}

// gatewayNameLabel is the label istiod's deployment controller puts on the
// objects it creates for a Gateway, valued with the Gateway's name.
const gatewayNameLabel = "gateway.networking.k8s.io/gateway-name"

// validateGatewayAPI refuses the options that have no Gateway API
// equivalent: istiod's deployment controller, not meshbundle, makes the
// Deployment and Service of the Gateway.
func (o *AddOptions) validateGatewayAPI() error {
	const owner = "istiod's deployment controller makes the gateway's Deployment"
	switch {
	case o.Class != ClassIngress:
		return failure.BadInputf("--class %s with --api gateway-api: only ingress gateways are made through the Gateway API here; (fix: drop --api gateway-api for egress and east-west gateways)", o.Class)
	case o.Replicas > 0 || o.MinReplicas > 0 || o.MaxReplicas > 0 || o.PDBMinAvailable != "":
		return failure.BadInputf("--replicas, --min-replicas, --max-replicas and --pdb-min-available have no effect with --api gateway-api (%s and HPA from the Gateway's spec.infrastructure.parametersRef ConfigMap) (fix: drop them, or drop --api gateway-api)", owner)
	case len(o.Set) > 0:
		return failure.BadInputf("--set sets values of Istio's gateway chart, which --api gateway-api does not use (%s) (fix: drop --set, or drop --api gateway-api)", owner)
	}
	switch o.ServiceType {
	case "", "LoadBalancer", "ClusterIP", "NodePort":
	default:
		return failure.BadInputf("--service-type %q with --api gateway-api: not a type istiod makes (fix: use LoadBalancer, istiod's default, ClusterIP or NodePort)", o.ServiceType)
	}
	return nil
}

// gatewayAPIClient is the Gateway API clientset of the cluster.
func gatewayAPIClient(cl *installer.Cluster) (gwclient.Interface, error) {
	c, err := gwclient.NewForConfig(cl.RESTConfig())
	if err != nil {
		return nil, fmt.Errorf("gateway API client: %w", err)
	}
	return c, nil
}

// getGatewayAPI reads the Gateway API Gateway ns/name: nil when there is
// none, or when the cluster does not serve the Gateway API at all.
func getGatewayAPI(ctx context.Context, gc gwclient.Interface, ns, name string) (*gwapi.Gateway, error) {
	gw, err := gc.GatewayV1().Gateways(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Gateway %s/%s: %w", ns, name, err)
	}
	return gw, nil
}

// ours says whether meshbundle made this Gateway (`gateway add --api
// gateway-api` labels it); other tenants' Gateways are never ours to change.
func ours(gw *gwapi.Gateway) bool { return gw.Labels[gatewayconfig.GatewayLabel] == gw.Name }

// addGatewayAPI creates the Gateway of a validated AddOptions.
func addGatewayAPI(ctx context.Context, t Target, o AddOptions) (*Result, error) {
	gw, errs := gatewayobj.GatewayAPI(o.Config, o.ServiceType)
	if len(errs) > 0 {
		return nil, failure.BadInputf("GatewayConfig %s has no Gateway API equivalent: %w (fix: correct the fields named, or drop --api gateway-api)", o.Config.Ref(), errs.ToAggregate())
	}
	ctx, cancel := t.withTimeout(ctx)
	defer cancel()
	res := &Result{Name: o.Name, Namespace: o.Namespace, Class: o.Class, API: APIGatewayAPI}
	ctx, cl, unlock, err := t.lock(ctx, "gateway add")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !cl.APIVersions().Has(gwapi.GroupVersion.String() + "/Gateway") {
		return nil, failure.BadInputf("gateway %s/%s: the cluster does not serve %s Gateways; nothing was changed (fix: install the Gateway API CRDs, standard channel, v1.5 or later, first)", o.Namespace, o.Name, gwapi.GroupVersion)
	}
	if err := refuseHelmGateway(cl, o.Namespace, o.Name); err != nil {
		return nil, err
	}
	gc, err := gatewayAPIClient(cl)
	if err != nil {
		return nil, err
	}
	if old, err := getGatewayAPI(ctx, gc, o.Namespace, o.Name); err != nil {
		return nil, installer.Classify(err, "gateway add")
	} else if old != nil {
		return nil, failure.BadInputf("Gateway %s/%s already exists%s (fix: change its listeners with `meshbundle gateway config apply -f`, or delete it first)", o.Namespace, o.Name, notOursNote(old))
	}
	if !o.DryRun {
		if err := cl.EnsureNamespace(ctx, o.Namespace, "gateway-add"); err != nil {
			return nil, err
		}
	}
	opts := metav1.CreateOptions{FieldManager: "meshbundle"}
	if o.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	t.progress("creating Gateway %s/%s (class %s)", o.Namespace, o.Name, gatewayconfig.GatewayClassIstio)
	created, err := gc.GatewayV1().Gateways(o.Namespace).Create(ctx, gw, opts)
	if err != nil {
		return nil, gatewayAPIWriteError(err, o.Namespace, o.Name, "gateway add")
	}
	if o.DryRun {
		res.Action, res.Manifest = "rendered", manifest(gw)
		return res, nil
	}
	res.Action, res.Revision = "created", int(created.Generation)
	if o.Wait {
		if err := waitProgrammed(ctx, t, gc, o.Namespace, o.Name); err != nil {
			return res, err
		}
	}
	return res, nil
}

// manifest is the YAML of a Gateway as `--dry-run` prints it.
func manifest(gw *gwapi.Gateway) string {
	out, err := yaml.Marshal(gw)
	if err != nil {
		return fmt.Sprintf("# %v\n", err)
	}
	return "---\n" + string(out)
}

// refuseHelmGateway refuses a Gateway API gateway whose name a Helm-release
// gateway already has: list, status and delete find gateways by name.
func refuseHelmGateway(cl *installer.Cluster, ns, name string) error {
	cfg, err := cl.Helm(ns)
	if err != nil {
		return err
	}
	last, err := cfg.Releases.Last(name)
	if err != nil && !isNotFound(err) {
		return installer.Classify(fmt.Errorf("gateway %s/%s: %w", ns, name, err), "gateway add")
	}
	if last != nil {
		return failure.BadInputf("gateway %s/%s: Helm release %s exists (chart %s); a Gateway API gateway cannot share its name (fix: choose another name, or delete that gateway first)", ns, name, name, last.Chart.Name())
	}
	return nil
}

// refuseGatewayAPIGateway is the converse for a Helm-release gateway.
func refuseGatewayAPIGateway(ctx context.Context, cl *installer.Cluster, ns, name string) error {
	gc, err := gatewayAPIClient(cl)
	if err != nil {
		return err
	}
	gw, err := getGatewayAPI(ctx, gc, ns, name)
	if err != nil {
		return installer.Classify(err, "gateway add")
	}
	if gw != nil {
		return failure.BadInputf("gateway %s/%s: a Gateway API Gateway of that name exists%s (fix: choose another name, or delete it first)", ns, name, notOursNote(gw))
	}
	return nil
}

func notOursNote(gw *gwapi.Gateway) string {
	if ours(gw) {
		return ""
	}
	return fmt.Sprintf(" and was not made by meshbundle (no label %s=%s)", gatewayconfig.GatewayLabel, gw.Name)
}

// gatewayAPIWriteError names what a refused write of a Gateway means.
func gatewayAPIWriteError(err error, ns, name, what string) error {
	switch {
	case apierrors.IsNotFound(err):
		return failure.BadInputf("Gateway %s/%s: the cluster does not serve gateway.networking.k8s.io/v1 Gateways (%w) (fix: install the Gateway API CRDs, standard channel, v1.5 or later, first)", ns, name, err)
	case apierrors.IsInvalid(err):
		return failure.BadInputf("Gateway %s/%s: the API server refuses it: %w (fix: correct the GatewayConfig fields named above)", ns, name, err)
	case apierrors.IsAlreadyExists(err):
		return failure.BadInputf("Gateway %s/%s was created meanwhile by someone else: %w (fix: look with `meshbundle gateway status %s -n %s`)", ns, name, err, name, ns)
	case apierrors.IsConflict(err):
		return &failure.BadInputError{Err: err, Fix: "the Gateway changed while it was being updated; run again"}
	}
	return installer.Classify(fmt.Errorf("gateway %s/%s: %w", ns, name, err), what)
}

// waitProgrammed watches the Gateway until istiod reports it Programmed,
// printing each reason it gives meanwhile.
func waitProgrammed(ctx context.Context, t Target, gc gwclient.Interface, ns, name string) error {
	t.progress("waiting for Gateway %s/%s to be Programmed", ns, name)
	last, err := rollout.WaitGateway(ctx, gc, ns, name, func(why string) { t.progress("Gateway %s/%s: %s", ns, name, why) })
	if err != nil {
		return &installer.TimeoutError{Err: fmt.Errorf("gateway %s/%s: Gateway not Programmed (%s): %w; raise --timeout, or see `kubectl -n %s get gateway %s -o yaml` (a LoadBalancer Service waits for an address: --service-type ClusterIP needs none)", ns, name, last, err, ns, name)}
	}
	return nil
}

// applyGatewayAPI replaces the listeners of our Gateway with the
// translation of gc; the service-type annotation stays as added.
func applyGatewayAPI(ctx context.Context, t Target, gc gwclient.Interface, live *gwapi.Gateway, cfg *gatewayconfig.GatewayConfig, dryRun bool) (*Result, error) {
	ns, name := live.Namespace, live.Name
	res := &Result{Name: name, Namespace: ns, Class: ClassIngress, API: APIGatewayAPI}
	if !ours(live) {
		return nil, failure.BadInputf("Gateway %s/%s%s; meshbundle changes only its own gateways (fix: change it with kubectl if it is yours)", ns, name, notOursNote(live))
	}
	want, errs := gatewayobj.GatewayAPI(cfg, live.Annotations[gatewayconfig.ServiceTypeAnnotation])
	if len(errs) > 0 {
		return nil, failure.BadInputf("GatewayConfig %s has no Gateway API equivalent: %w (fix: correct the fields named)", cfg.Ref(), errs.ToAggregate())
	}
	if equality.Semantic.DeepEqual(live.Spec.Listeners, want.Spec.Listeners) {
		res.Action, res.Revision = "unchanged", int(live.Generation)
		return res, nil
	}
	next := live.DeepCopy()
	next.Spec.Listeners = want.Spec.Listeners
	opts := metav1.UpdateOptions{FieldManager: "meshbundle"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	t.progress("updating the listeners of Gateway %s/%s", ns, name)
	out, err := gc.GatewayV1().Gateways(ns).Update(ctx, next, opts)
	if err != nil {
		return nil, gatewayAPIWriteError(err, ns, name, "gateway config apply")
	}
	if dryRun {
		next.ManagedFields, next.Status = nil, gwapi.GatewayStatus{}
		res.Action, res.Manifest = "rendered", manifest(next)
		return res, nil
	}
	res.Action, res.Revision = "updated", int(out.Generation)
	return res, nil
}

// deleteGatewayAPI deletes our Gateway in the foreground and waits until it
// and the Deployment and Service istiod made for it are gone.
func deleteGatewayAPI(ctx context.Context, t Target, cl *installer.Cluster, gc gwclient.Interface, gw *gwapi.Gateway) (*Result, error) {
	ns, name := gw.Namespace, gw.Name
	if !ours(gw) {
		return nil, failure.BadInputf("Gateway %s/%s%s; meshbundle deletes only its own gateways (fix: delete it with kubectl if it is yours)", ns, name, notOursNote(gw))
	}
	t.progress("deleting Gateway %s/%s (istiod's Deployment and Service with it)", ns, name)
	uid := gw.UID
	err := gc.GatewayV1().Gateways(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: ptrTo(metav1.DeletePropagationForeground),
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, gatewayAPIWriteError(err, ns, name, "gateway delete")
	}
	// The Gateway goes once the garbage collector deleted its dependents
	// that block it; the rest (istiod sets no blockOwnerDeletion) are
	// watched until gone.
	gateways := gc.GatewayV1().Gateways(ns)
	if err := waitGone(ctx, byName(name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return gateways.List(ctx, o)
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return gateways.Watch(ctx, o)
	}), &gwapi.Gateway{}, uid); err != nil {
		return nil, installer.Classify(fmt.Errorf("gateway %s/%s: Gateway not gone: %w", ns, name, err), "gateway delete")
	}
	kube := cl.Kube()
	sel := labels.Set{gatewayNameLabel: name}.String()
	deployments, services := kube.AppsV1().Deployments(ns), kube.CoreV1().Services(ns)
	for what, lw := range map[string]cache.ListerWatcher{
		"deployment": byLabel(sel, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return deployments.List(ctx, o)
		},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return deployments.Watch(ctx, o)
			}),
		"service": byLabel(sel, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return services.List(ctx, o) },
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return services.Watch(ctx, o)
			}),
	} {
		var obj runtime.Object = &appsv1.Deployment{}
		if what == "service" {
			obj = &corev1.Service{}
		}
		if err := waitGone(ctx, lw, obj, uid); err != nil {
			return nil, installer.Classify(fmt.Errorf("the %s istiod made for Gateway %s/%s not gone: %w", what, ns, name, err), "gateway delete")
		}
	}
	return &Result{Name: name, Namespace: ns, Class: ClassIngress, API: APIGatewayAPI, Action: "deleted"}, nil
}

func ptrTo[T any](v T) *T { return &v }

func byName(name string, list cache.ListWithContextFunc, w cache.WatchFuncWithContext) *cache.ListWatch {
	return filtered(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
	}, list, w)
}

func byLabel(sel string, list cache.ListWithContextFunc, w cache.WatchFuncWithContext) *cache.ListWatch {
	return filtered(func(o *metav1.ListOptions) { o.LabelSelector = sel }, list, w)
}

func filtered(set func(*metav1.ListOptions), list cache.ListWithContextFunc, w cache.WatchFuncWithContext) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { set(&o); return list(ctx, o) },
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { set(&o); return w(ctx, o) },
	}
}

// waitGone watches the objects lw lists until none of them is the owner
// (its UID) or owned by it: a watch, not a poll.
func waitGone(ctx context.Context, lw cache.ListerWatcher, obj runtime.Object, owner types.UID) error {
	left := map[types.UID]bool{}
	related := func(o runtime.Object) (types.UID, bool) {
		m, err := metaOf(o)
		if err != nil {
			return "", false
		}
		if m.GetUID() == owner {
			return owner, true
		}
		for _, ref := range m.GetOwnerReferences() {
			if ref.UID == owner {
				return m.GetUID(), true
			}
		}
		return "", false
	}
	_, err := watchtools.UntilWithSync(ctx, lw, obj, func(store cache.Store) (bool, error) {
		for _, o := range store.List() {
			if uid, ok := related(o.(runtime.Object)); ok {
				left[uid] = true
			}
		}
		return len(left) == 0, nil
	}, func(ev watch.Event) (bool, error) {
		uid, ok := related(ev.Object)
		switch {
		case !ok:
		case ev.Type == watch.Deleted:
			delete(left, uid)
		default:
			left[uid] = true
		}
		return len(left) == 0, nil
	})
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func metaOf(o runtime.Object) (metav1.Object, error) {
	if m, ok := o.(metav1.Object); ok {
		return m, nil
	}
	return nil, fmt.Errorf("%T has no object metadata", o)
}

// listGatewayAPI returns our Gateway API gateways in namespace ("" all).
// A cluster without the Gateway API has none.
func listGatewayAPI(ctx context.Context, cl *installer.Cluster, namespace string) ([]Info, error) {
	gc, err := gatewayAPIClient(cl)
	if err != nil {
		return nil, err
	}
	list, err := gc.GatewayV1().Gateways(namespace).List(ctx, metav1.ListOptions{LabelSelector: gatewayconfig.GatewayLabel})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, installer.Classify(fmt.Errorf("list Gateways: %w", err), "gateway list")
	}
	var out []Info
	for i := range list.Items {
		if !ours(&list.Items[i]) {
			continue
		}
		info, err := describeGatewayAPI(ctx, cl, &list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// describeGatewayAPI joins a Gateway with the Deployment and Service istiod
// made for it (found by istiod's gateway-name label and their owner).
func describeGatewayAPI(ctx context.Context, cl *installer.Cluster, gw *gwapi.Gateway) (Info, error) {
	info := Info{Name: gw.Name, Namespace: gw.Namespace, Class: ClassIngress, API: APIGatewayAPI,
		Revision: int(gw.Generation), Chart: "gatewayclass/" + string(gw.Spec.GatewayClassName),
		Updated: gw.CreationTimestamp.UTC().Format(time.RFC3339), Servers: map[string][]string{}}
	programmed, why := rollout.GatewayProgrammed(gw)
	info.Status, info.Message = "not programmed", why
	if programmed {
		info.Status = "programmed"
	}
	for _, a := range gw.Status.Addresses {
		info.Addresses = append(info.Addresses, a.Value)
	}
	for _, l := range gw.Spec.Listeners {
		key := fmt.Sprintf("%d/%s", l.Port, l.Protocol)
		host := "*"
		if l.Hostname != nil {
			host = string(*l.Hostname)
		}
		info.Servers[key] = append(info.Servers[key], host)
	}
	kube := cl.Kube()
	sel := metav1.ListOptions{LabelSelector: labels.Set{gatewayNameLabel: gw.Name}.String()}
	owned := func(m metav1.Object) bool {
		for _, ref := range m.GetOwnerReferences() {
			if ref.UID == gw.UID {
				return true
			}
		}
		return false
	}
	deps, err := kube.AppsV1().Deployments(gw.Namespace).List(ctx, sel)
	if err != nil {
		return info, installer.Classify(fmt.Errorf("deployments of Gateway %s/%s: %w", gw.Namespace, gw.Name, err), "gateway status")
	}
	var deployReady bool
	var deployWhy = "no deployment yet (istiod's deployment controller creates it)"
	for i := range deps.Items {
		if owned(&deps.Items[i]) {
			info.Deployment = deps.Items[i].Name
			deployReady, deployWhy = rollout.DeploymentDone(&deps.Items[i])
		}
	}
	svcs, err := kube.CoreV1().Services(gw.Namespace).List(ctx, sel)
	if err != nil {
		return info, installer.Classify(fmt.Errorf("services of Gateway %s/%s: %w", gw.Namespace, gw.Name, err), "gateway status")
	}
	for i := range svcs.Items {
		if owned(&svcs.Items[i]) {
			info.ServiceType = string(svcs.Items[i].Spec.Type)
		}
	}
	info.Ready = programmed && deployReady
	if programmed && !deployReady {
		info.Message = "deployment " + info.Deployment + ": " + deployWhy
	}
	for _, hosts := range info.Servers {
		sort.Strings(hosts)
	}
	return info, nil
}

// findGateway says which kind of gateway ns/name is: the newest record of
// its Helm release, or its Gateway API Gateway (ours or not), or neither.
func findGateway(ctx context.Context, cl *installer.Cluster, cfg *action.Configuration, ns, name string) (helm bool, gw *gwapi.Gateway, gc gwclient.Interface, err error) {
	last, err := cfg.Releases.Last(name)
	switch {
	case err == nil && last.Chart != nil && last.Chart.Metadata.Name == ChartName:
		return true, nil, nil, nil
	case err != nil && !isNotFound(err):
		return false, nil, nil, err
	}
	if gc, err = gatewayAPIClient(cl); err != nil {
		return false, nil, nil, err
	}
	gw, err = getGatewayAPI(ctx, gc, ns, name)
	return false, gw, gc, err
}

// notFound is the refusal for a name that is neither kind of gateway.
func notFound(ns, name string) error {
	return failure.BadInputf("gateway %s/%s does not exist (neither a %s Helm release nor a Gateway API Gateway) (fix: name one that `meshbundle gateway list -A` shows)", ns, name, ChartName)
}
