// Package e2e runs the gateway lifecycle on the local control plane
// (ci/testcluster with a real istiod: the gateway pod is injected from the
// "gateway" template, kwok makes it Ready) through the same code the
// `meshbundle gateway` commands call, and `helm history` with the real
// helm CLI.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istiolog "istio.io/istio/pkg/log"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/gateway"
	"github.com/meshbundle/meshbundle/gatewayconfig"
	"github.com/meshbundle/meshbundle/rollout"
)

func TestMain(m *testing.M) {
	for _, s := range istiolog.Scopes() {
		s.SetOutputLevel(istiolog.NoneLevel)
	}
	testcluster.Main(m, testcluster.WithIstiod())
}

// step runs one stage of a lifecycle; later stages need the earlier ones.
func step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	start := time.Now()
	if !t.Run(name, fn) {
		t.FailNow()
	}
	t.Logf("%s: %s", name, time.Since(start).Round(10*time.Millisecond))
}

func target(c *testcluster.Cluster) gateway.Target {
	return gateway.Target{Kubeconfig: c.Kubeconfig, Timeout: 2 * time.Minute}
}

// config builds a GatewayConfig for gateway ns/name.
func config(t *testing.T, ns, name, servers string) *gatewayconfig.GatewayConfig {
	t.Helper()
	gc, err := gatewayconfig.Decode([]byte("apiVersion: meshbundle.dev/v1alpha1\nkind: GatewayConfig\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\nspec:\n" + servers))
	if err != nil {
		t.Fatal(err)
	}
	return gc
}

func get(t *testing.T, c *testcluster.Cluster, ns, name string, obj client.Object) {
	t.Helper()
	if err := c.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %T %s/%s: %v", obj, ns, name, err)
	}
}

// helmHistory is `helm history -o json` from the real helm CLI.
func helmHistory(t *testing.T, c *testcluster.Cluster, ns, name string) []map[string]any {
	t.Helper()
	helm, err := testcluster.Bin("helm")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(helm, "--kubeconfig", c.Kubeconfig, "history", name, "-n", ns, "-o", "json").Output()
	if err != nil {
		t.Fatalf("helm history: %v", err)
	}
	var revs []map[string]any
	if err := json.Unmarshal(out, &revs); err != nil {
		t.Fatalf("helm history output %q: %v", out, err)
	}
	return revs
}

func TestIngressLifecycle(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	ns := c.Namespace(t, nil)
	const name = "public"

	step(t, "add", func(t *testing.T) {
		res, err := gateway.Add(ctx, target(c), gateway.AddOptions{Name: name, Namespace: ns, MaxReplicas: 3, Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != "installed" || res.Revision != 1 {
			t.Errorf("result %+v, want installed revision 1", res)
		}
		var d appsv1.Deployment
		get(t, c, ns, name, &d)
		if done, why := rollout.DeploymentDone(&d); !done {
			t.Errorf("deployment not available (%s): %+v", why, d.Status)
		}
		// The pod really was injected from istiod's gateway template.
		var pods corev1.PodList
		if err := c.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": name}); err != nil || len(pods.Items) == 0 {
			t.Fatalf("gateway pods: %v (%d)", err, len(pods.Items))
		}
		p := pods.Items[0]
		if p.Annotations["inject.istio.io/templates"] != "gateway" || !slices.ContainsFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == "istio-proxy" && c.Image != "auto" }) {
			t.Errorf("pod %s not injected from the gateway template: annotations %v, containers %v", p.Name, p.Annotations, p.Spec.Containers)
		}
		var svc corev1.Service
		get(t, c, ns, name, &svc)
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			t.Errorf("service type %s, want LoadBalancer (ingress default)", svc.Spec.Type)
		}
		var gw istionet.Gateway
		get(t, c, ns, name, &gw)
		// The Gateway selects the gateway's own pods.
		for k, v := range gw.Spec.Selector {
			if p.Labels[k] != v {
				t.Errorf("Gateway selector %v does not match gateway pod labels %v", gw.Spec.Selector, p.Labels)
			}
		}
		if len(gw.Spec.Servers) != 1 || gw.Spec.Servers[0].Port.Number != 80 {
			t.Errorf("default Gateway servers %v, want HTTP 80", gw.Spec.Servers)
		}
		var role rbacv1.Role
		get(t, c, ns, name, &role)
		if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "secrets") }) {
			t.Errorf("Role %s does not grant Secrets (TLS credentials): %v", name, role.Rules)
		}
		var rb rbacv1.RoleBinding
		get(t, c, ns, name, &rb)
		var hpa autoscalingv2.HorizontalPodAutoscaler
		get(t, c, ns, name, &hpa)
		if hpa.Spec.MaxReplicas != 3 {
			t.Errorf("HPA maxReplicas %d, want 3 (--max-replicas)", hpa.Spec.MaxReplicas)
		}
	})

	step(t, "add again is refused", func(t *testing.T) {
		_, err := gateway.Add(ctx, target(c), gateway.AddOptions{Name: name, Namespace: ns})
		if err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("second add: %v, want already exists", err)
		}
	})

	// An app Service and a VirtualService bound to the gateway: the
	// analyzers must see no error for Gateway + bound VirtualService.
	app := c.Namespace(t, nil)
	step(t, "config apply with a bound VirtualService", func(t *testing.T) {
		web := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: app}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		if err := c.Client.Create(ctx, web); err != nil {
			t.Fatal(err)
		}
		vs := &istionet.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: app}}
		vs.Spec.Hosts = []string{"shop.example.com"}
		vs.Spec.Gateways = []string{ns + "/" + name}
		if err := json.Unmarshal([]byte(`{"http":[{"route":[{"destination":{"host":"web.`+app+`.svc.cluster.local","port":{"number":80}}}]}]}`), &vs.Spec); err != nil {
			t.Fatal(err)
		}
		if err := c.Client.Create(ctx, vs); err != nil {
			t.Fatal(err)
		}
		crt, key := selfSigned(t, "shop.example.com")
		cert := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "shop-cert", Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": crt, "tls.key": key}}
		if err := c.Client.Create(ctx, cert); err != nil {
			t.Fatal(err)
		}
		gc := config(t, ns, name, "  servers:\n  - {port: 80, protocol: HTTP, hosts: [shop.example.com]}\n  - {port: 443, protocol: HTTPS, hosts: [shop.example.com], tls: {mode: SIMPLE, credentialName: shop-cert}}\n")
		res, err := gateway.ApplyConfig(ctx, target(c), gc, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range res.Warnings {
			t.Logf("analyzer: %s", w)
		}
		if res.Action != "upgraded" || res.Revision != 2 {
			t.Errorf("result %+v, want upgraded to revision 2", res)
		}
		var gw istionet.Gateway
		get(t, c, ns, name, &gw)
		if len(gw.Spec.Servers) != 2 || gw.Spec.Servers[1].Tls.GetCredentialName() != "shop-cert" || gw.Spec.Servers[0].Hosts[0] != "shop.example.com" {
			t.Errorf("Gateway not updated: %v", gw.Spec.Servers)
		}
		revs := helmHistory(t, c, ns, name)
		if len(revs) != 2 || revs[0]["status"] != "superseded" || revs[1]["status"] != "deployed" {
			t.Errorf("helm history = %v, want revision 1 superseded, 2 deployed", revs)
		}
		// The analyzers see the bound VirtualService: a dry run that drops
		// its host warns about it (IST0132) and changes nothing.
		drop := config(t, ns, name, "  servers:\n  - {port: 80, protocol: HTTP, hosts: [blog.example.com]}\n")
		dry, err := gateway.ApplyConfig(ctx, target(c), drop, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(dry.Warnings, func(w string) bool {
			return strings.Contains(w, "IST0132") && strings.Contains(w, "VirtualService "+app+"/web")
		}) {
			t.Errorf("dry run warnings %v lack IST0132 for VirtualService %s/web", dry.Warnings, app)
		}
		if dry.Action != "rendered" || !strings.Contains(dry.Manifest, "blog.example.com") {
			t.Errorf("dry run result %+v", dry)
		}
		// Applying the same config again writes nothing.
		if res, err := gateway.ApplyConfig(ctx, target(c), gc, false); err != nil || res.Action != "unchanged" {
			t.Errorf("re-apply: %+v, %v; want unchanged", res, err)
		}
	})

	step(t, "analyzers refuse a selector matching no gateway pods", func(t *testing.T) {
		gc := config(t, ns, name, "  selector: {istio: nobody}\n  servers:\n  - {port: 80, protocol: HTTP, hosts: [shop.example.com]}\n")
		_, err := gateway.ApplyConfig(ctx, target(c), gc, false)
		var ae *gateway.AnalysisError
		if !errors.As(err, &ae) {
			t.Fatalf("apply: %v, want an AnalysisError", err)
		}
		if !strings.Contains(err.Error(), "IST0101") || !strings.Contains(err.Error(), "istio=nobody") {
			t.Errorf("error does not name the unmatched selector (IST0101): %v", err)
		}
		if revs := helmHistory(t, c, ns, name); len(revs) != 2 {
			t.Errorf("helm history has %d revisions after a refused apply, want 2 (nothing changed)", len(revs))
		}
		var gw istionet.Gateway
		get(t, c, ns, name, &gw)
		if gw.Spec.Selector["istio"] == "nobody" {
			t.Errorf("Gateway was changed: %v", gw.Spec.Selector)
		}
	})

	step(t, "helm rollback restores the previous Gateway", func(t *testing.T) {
		helm, err := testcluster.Bin("helm")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(helm, "--kubeconfig", c.Kubeconfig, "rollback", name, "1", "-n", ns).CombinedOutput(); err != nil {
			t.Fatalf("helm rollback: %v\n%s", err, out)
		}
		var gw istionet.Gateway
		get(t, c, ns, name, &gw)
		if len(gw.Spec.Servers) != 1 || !slices.Equal(gw.Spec.Servers[0].Hosts, []string{"*"}) {
			t.Errorf("after rollback to revision 1 the Gateway serves %v, want the default HTTP 80 for *", gw.Spec.Servers)
		}
		if revs := helmHistory(t, c, ns, name); len(revs) != 3 || revs[2]["status"] != "deployed" {
			t.Errorf("helm history after rollback = %v, want 3 revisions", revs)
		}
	})

	step(t, "list and status", func(t *testing.T) {
		infos, err := gateway.List(ctx, target(c), "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(infos, func(i gateway.Info) bool { return i.Name == name && i.Namespace == ns && i.Revision == 3 && i.Ready }) {
			t.Errorf("list = %+v, want %s/%s revision 3 ready", infos, ns, name)
		}
		info, err := gateway.Status(ctx, target(c), ns, name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Class != gateway.ClassIngress || !slices.Equal(info.Servers["80/HTTP"], []string{"*"}) || info.ServiceType != "LoadBalancer" {
			t.Errorf("status = %+v", info)
		}
	})

	step(t, "delete leaves nothing", func(t *testing.T) {
		if _, err := gateway.Delete(ctx, target(c), ns, name); err != nil {
			t.Fatal(err)
		}
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &istionet.Gateway{}, &rbacv1.Role{}, &rbacv1.RoleBinding{},
			&autoscalingv2.HorizontalPodAutoscaler{}, &corev1.ServiceAccount{}} {
			err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)
			if !apierrors.IsNotFound(err) {
				t.Errorf("%T %s/%s still there after delete (%v)", obj, ns, name, err)
			}
		}
		var secrets corev1.SecretList
		if err := c.Client.List(ctx, &secrets, client.InNamespace(ns), client.MatchingLabels{"owner": "helm", "name": name}); err != nil || len(secrets.Items) != 0 {
			t.Errorf("Helm release records left: %d (%v)", len(secrets.Items), err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var pods corev1.PodList
			if err := c.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": name}); err != nil {
				t.Fatal(err)
			}
			if len(pods.Items) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d gateway pods left 30 s after delete", len(pods.Items))
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func TestEastWestGateway(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	ns := c.Namespace(t, nil)
	const name, network = "istio-eastwestgateway", "network1"
	// Two fixed replicas and a PodDisruptionBudget, as for a gateway other
	// networks depend on.
	if _, err := gateway.Add(ctx, target(c), gateway.AddOptions{Name: name, Namespace: ns, Class: gateway.ClassEastWest, Network: network,
		Replicas: 2, PDBMinAvailable: "1", Wait: true}); err != nil {
		t.Fatal(err)
	}
	var pdb policyv1.PodDisruptionBudget
	get(t, c, ns, name, &pdb)
	if pdb.Spec.MinAvailable.String() != "1" {
		t.Errorf("PDB minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &autoscalingv2.HorizontalPodAutoscaler{}); !apierrors.IsNotFound(err) {
		t.Errorf("HPA with --replicas: %v, want none", err)
	}
	var d appsv1.Deployment
	get(t, c, ns, name, &d)
	if d.Status.ReadyReplicas != 2 {
		t.Errorf("ready replicas %d, want 2", d.Status.ReadyReplicas)
	}
	tmpl := d.Spec.Template
	if tmpl.Labels["topology.istio.io/network"] != network {
		t.Errorf("pod template labels %v lack topology.istio.io/network=%s", tmpl.Labels, network)
	}
	if i := slices.IndexFunc(tmpl.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "ISTIO_META_REQUESTED_NETWORK_VIEW" }); i < 0 || tmpl.Spec.Containers[0].Env[i].Value != network {
		t.Errorf("env %v lacks ISTIO_META_REQUESTED_NETWORK_VIEW=%s", tmpl.Spec.Containers[0].Env, network)
	}
	var svc corev1.Service
	get(t, c, ns, name, &svc)
	if svc.Labels["topology.istio.io/network"] != network || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == gateway.EastWestPort }) {
		t.Errorf("service labels %v ports %v: want the network label and port 15443", svc.Labels, svc.Spec.Ports)
	}
	var gw istionet.Gateway
	get(t, c, ns, name, &gw)
	s := gw.Spec.Servers
	if len(s) != 1 || s[0].Port.Number != gateway.EastWestPort || s[0].Tls.GetMode().String() != "AUTO_PASSTHROUGH" || !slices.Equal(s[0].Hosts, []string{"*.local"}) {
		t.Errorf("cross-network Gateway servers %v, want 15443 AUTO_PASSTHROUGH *.local", s)
	}
	if gw.Spec.Selector["istio"] != "eastwestgateway" || tmpl.Labels["istio"] != "eastwestgateway" {
		t.Errorf("selector %v vs pod labels %v", gw.Spec.Selector, tmpl.Labels)
	}
	if _, err := gateway.Delete(ctx, target(c), ns, name); err != nil {
		t.Fatal(err)
	}
}

// TestAddAfterInterruptedAdd: an add killed mid-install leaves the release
// pending-install; the next add unlocks it, removes it and installs.
func TestAddAfterInterruptedAdd(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	ns := c.Namespace(t, nil)
	const name = "stuck"
	cfg, err := c.HelmConfig(ns)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := gateway.Chart()
	if err != nil {
		t.Fatal(err)
	}
	// The record a killed `helm install` leaves behind.
	stuck := &release.Release{Name: name, Namespace: ns, Version: 1, Chart: ch, Config: map[string]any{},
		Info: &release.Info{Status: release.StatusPendingInstall, Description: "Initial install underway"}}
	if err := cfg.Releases.Create(stuck); err != nil {
		t.Fatal(err)
	}
	res, err := gateway.Add(ctx, target(c), gateway.AddOptions{Name: name, Namespace: ns, Wait: true})
	if err != nil {
		t.Fatalf("add after an interrupted add: %v", err)
	}
	if res.Action != "installed" {
		t.Errorf("result %+v, want installed", res)
	}
	revs := helmHistory(t, c, ns, name)
	if len(revs) != 1 || revs[0]["status"] != "deployed" {
		t.Errorf("helm history = %v, want one deployed revision", revs)
	}
	var gw istionet.Gateway
	get(t, c, ns, name, &gw)
}
