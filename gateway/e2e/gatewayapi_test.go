package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/gateway"
	"github.com/meshbundle/meshbundle/gatewayconfig"
)

var crdsOnce sync.Once

// installGatewayAPICRDs installs the standard-channel CRDs of go.mod's
// sigs.k8s.io/gateway-api module (testcluster.InstallGatewayAPICRDs) on the
// running cluster, after istiod started, as on a cluster where Istio was
// installed before the CRDs: istiod's Gateway API controllers wait for the
// Gateway CRD (its CrdWatcher) and then create the GatewayClass istio.
func installGatewayAPICRDs(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	var err error
	crdsOnce.Do(func() { err = c.InstallGatewayAPICRDs(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
}

// recorder collects a Target's progress lines.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) add(s string) { r.mu.Lock(); r.lines = append(r.lines, s); r.mu.Unlock() }
func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// TestGatewayAPILifecycle: `gateway add --api gateway-api` creates a
// Gateway of class istio and the real istiod's deployment controller
// creates its Deployment and Service; --wait watches until istiod reports
// Programmed (with ClusterIP: kwok's fake pods are Ready, the endpoints
// controller lists them, istiod finds the Service's instances); with a
// LoadBalancer Service nothing assigns an address here, so Programmed
// stays False (AddressNotAssigned) and --wait times out with the timeout
// kind. list, status, config apply and delete cover a Helm-release gateway
// beside them and leave another tenant's Gateway alone.
func TestGatewayAPILifecycle(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	if err := c.Client.Get(ctx, types.NamespacedName{Name: "gateways.gateway.networking.k8s.io"}, &apiextensionsv1.CustomResourceDefinition{}); apierrors.IsNotFound(err) {
		step(t, "without the Gateway API CRDs add is refused and changes nothing", func(t *testing.T) {
			const ns = "gwapi-nocrd"
			_, err := gateway.Add(ctx, target(c), gateway.AddOptions{Name: "edge", Namespace: ns, API: gateway.APIGatewayAPI})
			if failure.KindOf(err) != failure.BadInput || !strings.Contains(err.Error(), "install the Gateway API CRDs") {
				t.Errorf("add without the CRDs: %v", err)
			}
			if err := c.Client.Get(ctx, types.NamespacedName{Name: ns}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
				t.Errorf("namespace %s created by a refused add (%v)", ns, err)
			}
		})
	} else {
		t.Logf("Gateway API CRDs already installed (%v): the refusal without them is not checked in this run", err)
	}
	installGatewayAPICRDs(t, c)
	gc, err := gwclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace(t, nil)
	crt, key := selfSigned(t, "shop.example.com")
	if err := c.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "shop-cert", Namespace: ns}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": crt, "tls.key": key}}); err != nil {
		t.Fatal(err)
	}
	const edge, lb, classic, theirs = "edge", "lb", "classic", "theirs"
	servers := "  servers:\n  - {port: 80, protocol: HTTP, hosts: [shop.example.com]}\n  - {port: 443, protocol: HTTPS, hosts: [shop.example.com], tls: {mode: SIMPLE, credentialName: shop-cert}}\n"

	step(t, "dry run: the API server accepts every translation", func(t *testing.T) {
		// gatewayconfig's mixed.yaml holds every translation gatewayobj.GatewayAPI
		// makes; the real API server checks it against the CRD's schema and
		// CEL rules (server-side dry run), and nothing is created.
		data, err := os.ReadFile(filepath.Join("..", "..", "gatewayconfig", "testdata", "mixed.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		mixed, err := gatewayconfig.Decode([]byte(strings.Replace(strings.Replace(string(data), "name: edge", "name: mixed", 1), "namespace: edge-system", "namespace: "+ns, 1)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := gateway.Add(ctx, target(c), gateway.AddOptions{Name: "mixed", Namespace: ns, API: gateway.APIGatewayAPI, Config: mixed, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != "rendered" || !strings.Contains(res.Manifest, "gateway.istio.io/tls-terminate-mode: ISTIO_MUTUAL") {
			t.Errorf("dry run result %+v", res)
		}
		if _, err := gc.GatewayV1().Gateways(ns).Get(ctx, "mixed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("dry run created Gateway mixed (%v)", err)
		}
	})

	step(t, "add waits until istiod reports Programmed", func(t *testing.T) {
		var progress recorder
		tg := target(c)
		tg.Progress = progress.add
		start := time.Now()
		res, err := gateway.Add(ctx, tg, gateway.AddOptions{Name: edge, Namespace: ns, API: gateway.APIGatewayAPI, ServiceType: "ClusterIP",
			Config: config(t, ns, edge, servers), Wait: true})
		if err != nil {
			t.Fatalf("add: %v\nprogress:\n%s", err, progress.text())
		}
		t.Logf("Gateway created to Programmed in %s; progress:\n%s", time.Since(start).Round(10*time.Millisecond), progress.text())
		if res.Action != "created" || res.API != gateway.APIGatewayAPI {
			t.Errorf("result %+v", res)
		}
		gw, err := gc.GatewayV1().Gateways(ns).Get(ctx, edge, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []gwapi.GatewayConditionType{gwapi.GatewayConditionAccepted, gwapi.GatewayConditionProgrammed} {
			if !meta.IsStatusConditionTrue(gw.Status.Conditions, string(typ)) {
				t.Errorf("Gateway condition %s not True: %+v", typ, gw.Status.Conditions)
			}
		}
		// istiod, not meshbundle, made the Deployment and Service: owned by
		// the Gateway, labelled by istiod's controller.
		var d appsv1.Deployment
		get(t, c, ns, edge+"-istio", &d)
		var svc corev1.Service
		get(t, c, ns, edge+"-istio", &svc)
		for _, obj := range []metav1.Object{&d, &svc} {
			refs := obj.GetOwnerReferences()
			if len(refs) != 1 || refs[0].Kind != "Gateway" || refs[0].UID != gw.UID {
				t.Errorf("%s owner references %+v, want the Gateway %s", obj.GetName(), refs, gw.UID)
			}
			if obj.GetLabels()["gateway.istio.io/managed"] != "istio.io-gateway-controller" {
				t.Errorf("%s labels %v: not made by istiod's gateway controller", obj.GetName(), obj.GetLabels())
			}
		}
		if svc.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("Service type %s, want ClusterIP (--service-type)", svc.Spec.Type)
		}
		var ports []int32
		for _, p := range svc.Spec.Ports {
			ports = append(ports, p.Port)
		}
		slices.Sort(ports)
		if !slices.Equal(ports, []int32{80, 443, 15021}) {
			t.Errorf("Service ports %v, want the listeners' 80 and 443 and istiod's status port 15021", ports)
		}
		// istiod reports the Service's cluster-local name as the address.
		if host := svc.Name + "." + ns + ".svc.cluster.local"; len(gw.Status.Addresses) != 1 || gw.Status.Addresses[0].Value != host {
			t.Errorf("Gateway addresses %+v, want the Service's host name %s", gw.Status.Addresses, host)
		}
	})

	step(t, "a LoadBalancer gateway stays unprogrammed here and --wait times out", func(t *testing.T) {
		// The negative control of the wait: no LoadBalancer controller runs
		// on the local cluster, so istiod reports AddressNotAssigned.
		var progress recorder
		tg := target(c)
		tg.Progress, tg.Timeout = progress.add, 10*time.Second
		_, err := gateway.Add(ctx, tg, gateway.AddOptions{Name: lb, Namespace: ns, API: gateway.APIGatewayAPI, Wait: true})
		lines := strings.Split(progress.text(), "\n")
		last := lines[len(lines)-1]
		if failure.KindOf(err) != failure.Timeout || !strings.HasPrefix(last, "Gateway "+ns+"/"+lb+": ") || !strings.Contains(err.Error(), strings.TrimPrefix(last, "Gateway "+ns+"/"+lb+": ")) {
			t.Fatalf("add --wait of a LoadBalancer gateway: %v (kind %s), want a timeout naming the last reason printed; progress:\n%s", err, failure.KindOf(err), progress.text())
		}
		// istiod's reason, once it has looked (a loaded machine may take
		// longer than the 10 s above): no address for a LoadBalancer.
		testcluster.WaitFor(t, "istiod to report "+lb+" AddressNotAssigned", func() bool {
			st, err := gateway.Status(ctx, target(c), ns, lb)
			return err == nil && strings.Contains(st.Message, "Programmed False AddressNotAssigned")
		})
		var svc corev1.Service
		get(t, c, ns, lb+"-istio", &svc)
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			t.Errorf("Service type %s, want istiod's default LoadBalancer", svc.Spec.Type)
		}
	})

	step(t, "a Helm-release gateway and another tenant's Gateway beside them", func(t *testing.T) {
		if _, err := gateway.Add(ctx, target(c), gateway.AddOptions{Name: classic, Namespace: ns, ServiceType: "ClusterIP", Replicas: 1, Wait: true}); err != nil {
			t.Fatal(err)
		}
		foreign := &gwapi.Gateway{ObjectMeta: metav1.ObjectMeta{Name: theirs, Namespace: ns, Annotations: map[string]string{gatewayconfig.ServiceTypeAnnotation: "ClusterIP"}},
			Spec: gwapi.GatewaySpec{GatewayClassName: "istio", Listeners: []gwapi.Listener{{Name: "http", Port: 8080, Protocol: gwapi.HTTPProtocolType}}}}
		if _, err := gc.GatewayV1().Gateways(ns).Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// One name, one gateway: neither kind may take the other's name.
		_, err := gateway.Add(ctx, target(c), gateway.AddOptions{Name: classic, Namespace: ns, API: gateway.APIGatewayAPI})
		if failure.KindOf(err) != failure.BadInput || !strings.Contains(err.Error(), "Helm release classic exists") {
			t.Errorf("gateway-api add over a Helm gateway: %v", err)
		}
		_, err = gateway.Add(ctx, target(c), gateway.AddOptions{Name: edge, Namespace: ns})
		if failure.KindOf(err) != failure.BadInput || !strings.Contains(err.Error(), "a Gateway API Gateway of that name exists") {
			t.Errorf("Helm add over a Gateway API gateway: %v", err)
		}
		_, err = gateway.Add(ctx, target(c), gateway.AddOptions{Name: theirs, Namespace: ns, API: gateway.APIGatewayAPI})
		if failure.KindOf(err) != failure.BadInput || !strings.Contains(err.Error(), "not made by meshbundle") {
			t.Errorf("add over another tenant's Gateway: %v", err)
		}
	})

	step(t, "list and status cover both kinds, not the other tenant's", func(t *testing.T) {
		infos, err := gateway.List(ctx, target(c), ns)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, i := range infos {
			got = append(got, i.Name+"/"+string(i.API))
		}
		if want := []string{"classic/istio", "edge/gateway-api", "lb/gateway-api"}; !slices.Equal(got, want) {
			t.Errorf("list = %v, want %v", got, want)
		}
		st, err := gateway.Status(ctx, target(c), ns, edge)
		if err != nil {
			t.Fatal(err)
		}
		if !st.OK() || st.Status != "programmed" || st.ServiceType != "ClusterIP" || st.Deployment != edge+"-istio" ||
			!slices.Equal(st.Servers["80/HTTP"], []string{"shop.example.com"}) || !slices.Equal(st.Servers["443/HTTPS"], []string{"shop.example.com"}) {
			t.Errorf("status %s = %+v", edge, st)
		}
		st, err = gateway.Status(ctx, target(c), ns, lb)
		if err != nil {
			t.Fatal(err)
		}
		if st.OK() || !strings.Contains(st.Message, "AddressNotAssigned") || st.ServiceType != "LoadBalancer" {
			t.Errorf("status %s = %+v, want not ready with AddressNotAssigned", lb, st)
		}
		st, err = gateway.Status(ctx, target(c), ns, classic)
		if err != nil {
			t.Fatal(err)
		}
		if !st.OK() || st.API != gateway.APIIstio || st.Status != "deployed" {
			t.Errorf("status %s = %+v", classic, st)
		}
		if _, err := gateway.Status(ctx, target(c), ns, theirs); failure.KindOf(err) != failure.BadInput || !strings.Contains(err.Error(), "not made by meshbundle") {
			t.Errorf("status of another tenant's Gateway: %v", err)
		}
	})

	step(t, "config apply updates the listeners and istiod the Service", func(t *testing.T) {
		more := config(t, ns, edge, servers+"  - {port: 8080, protocol: HTTP, hosts: [\"*\"]}\n")
		res, err := gateway.ApplyConfig(ctx, target(c), more, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != "updated" || res.Revision != 2 {
			t.Errorf("result %+v, want updated to generation 2", res)
		}
		if res, err := gateway.ApplyConfig(ctx, target(c), more, false); err != nil || res.Action != "unchanged" {
			t.Errorf("re-apply: %+v, %v; want unchanged", res, err)
		}
		testcluster.WaitFor(t, "istiod adds port 8080 to Service "+edge+"-istio", func() bool {
			var svc corev1.Service
			return c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: edge + "-istio"}, &svc) == nil &&
				slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 8080 })
		})
	})

	step(t, "delete removes only ours", func(t *testing.T) {
		_, err := gateway.Delete(ctx, target(c), ns, theirs)
		if failure.KindOf(err) != failure.BadInput || !strings.Contains(err.Error(), "meshbundle deletes only its own gateways") {
			t.Errorf("delete of another tenant's Gateway: %v", err)
		}
		res, err := gateway.Delete(ctx, target(c), ns, edge)
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != "deleted" || res.API != gateway.APIGatewayAPI {
			t.Errorf("result %+v", res)
		}
		// Gone at once when Delete returns: the Gateway and what istiod made.
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
			if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: edge + "-istio"}, obj); !apierrors.IsNotFound(err) {
				t.Errorf("%T %s-istio still there after delete (%v)", obj, edge, err)
			}
		}
		if _, err := gc.GatewayV1().Gateways(ns).Get(ctx, edge, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Gateway %s still there after delete (%v)", edge, err)
		}
		// The others stay.
		for _, name := range []string{lb, theirs} {
			if _, err := gc.GatewayV1().Gateways(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Errorf("Gateway %s: %v", name, err)
			}
		}
		var d appsv1.Deployment
		get(t, c, ns, classic, &d)
		testcluster.WaitFor(t, "istiod's Deployment of the other tenant's Gateway", func() bool {
			return c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: theirs + "-istio"}, &d) == nil
		})

		for _, name := range []string{lb, classic} {
			if _, err := gateway.Delete(ctx, target(c), ns, name); err != nil {
				t.Errorf("delete %s: %v", name, err)
			}
		}
		infos, err := gateway.List(ctx, target(c), ns)
		if err != nil || len(infos) != 0 {
			t.Errorf("list after deleting ours = %+v, %v; want none", infos, err)
		}
		if _, err := gateway.Delete(ctx, target(c), ns, edge); failure.KindOf(err) != failure.BadInput || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("delete of a deleted gateway: %v", err)
		}
		if err := gc.GatewayV1().Gateways(ns).Delete(ctx, theirs, metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
	})
}
