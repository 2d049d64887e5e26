package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/gateway-api/pkg/consts"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/installer"
	"github.com/meshbundle/meshbundle/installer/gatewayapi"
	"github.com/meshbundle/meshbundle/rollout"
)

// oldGatewayCRD is a Gateway API CRD as a v1.4.0 bundle installed it, for
// the refusal (only its name and annotations matter to the installer).
func oldGatewayCRD(version string) *apiextv1.CustomResourceDefinition {
	preserve := true
	return &apiextv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "httproutes." + gatewayapi.Group, Annotations: map[string]string{
			consts.BundleVersionAnnotation: version, consts.ChannelAnnotation: "standard",
			// The API server wants it on *.k8s.io groups; v1.4.0's value.
			"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/3328"}},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: gatewayapi.Group, Scope: apiextv1.NamespaceScoped,
			Names: apiextv1.CustomResourceDefinitionNames{Plural: "httproutes", Singular: "httproute", Kind: "HTTPRoute", ListKind: "HTTPRouteList"},
			Versions: []apiextv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &preserve}}}},
		},
	}
}

// TestAmbientProfile: `install --profile ambient` on the package's cluster.
// kwok runs no containers: the ztunnel and istio-cni DaemonSets get their
// pod on the fake node, which kwok reports Ready, so readiness here means
// the DaemonSet controller scheduled and counted them (rollout.DaemonSetDone),
// not that ztunnel carries traffic. istiod is the real local one.
func TestAmbientProfile(t *testing.T) {
	c := testcluster.Shared(t)
	cl := newClients(t, c)
	ctx := context.Background()
	began := time.Now()
	ambient := func() installer.Options {
		o := options(c, nil)
		o.Profile = "ambient"
		return o
	}
	crdClient := cl.apiext.ApiextensionsV1().CustomResourceDefinitions()

	// Negative control first, on the empty cluster: a v1.4.0 bundle's CRD
	// makes install refuse (exit 2) before it changes anything.
	step(t, "refused over Gateway API CRDs older than v1.5", func(t *testing.T) {
		if _, err := crdClient.Create(ctx, oldGatewayCRD("v1.4.0"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		res, err := installer.Install(ctx, ambient())
		if code := failure.Code(err); code != int(failure.BadInput) {
			t.Fatalf("install over v1.4.0 CRDs: exit code %d (%v), want %d (bad input)", code, err, failure.BadInput)
		}
		for _, want := range []string{"httproutes.gateway.networking.k8s.io (bundle-version v1.4.0)", "older than " + gatewayapi.MinimumBundleVersion,
			"nothing was changed", gatewayapi.BundleVersion + "/standard-install.yaml", "kubectl delete crd httproutes.gateway.networking.k8s.io"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q lacks %q", err, want)
			}
		}
		t.Logf("refused: %v", err)
		st := phaseStates(res)
		for _, p := range installer.Phases[1:] {
			if st[p] != installer.StatePending {
				t.Errorf("phase %s %s, want pending: the refusal comes before any change", p, st[p])
			}
		}
		for _, name := range []string{installer.ReleaseBase, installer.ReleaseGatewayAPI} {
			if rel := lastRelease(t, c, "istio-system", name); rel != nil {
				t.Errorf("release %s exists after the refusal: %s", name, rel.Info.Status)
			}
		}
		if crds := istioCRDs(t, cl); len(crds) != 0 {
			t.Errorf("%d Istio CRDs after the refusal", len(crds))
		}
		if err := crdClient.Delete(ctx, "httproutes."+gatewayapi.Group, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := crdClient.Get(ctx, "httproutes."+gatewayapi.Group, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			t.Fatalf("old CRD not deleted: %v", err)
		}
	})

	step(t, "install --profile ambient", func(t *testing.T) {
		start := time.Now()
		opts := ambient()
		var istiodErr error
		started := false
		opts.Progress = func(e installer.Event) {
			if e.Phase == installer.PhaseIstiod && e.State != "" && e.State != installer.StateFailed && !started {
				started = true
				istiodErr = c.StartIstiod(ctx)
			}
		}
		res, err := installer.Install(ctx, opts)
		if istiodErr != nil {
			t.Fatalf("start local istiod: %v", istiodErr)
		}
		if err != nil {
			t.Fatalf("install --profile ambient: %v\nistiod log: %s", err, c.IstiodLog())
		}
		t.Logf("install --profile ambient took %s", time.Since(start).Round(time.Millisecond))
		t.Cleanup(func() { _ = c.StopIstiod() })
		st := phaseStates(res)
		for _, p := range installer.Phases {
			if st[p] != installer.StateDone {
				t.Errorf("phase %s %s, want done", p, st[p])
			}
		}
		for _, p := range res.Phases {
			if p.Phase == installer.PhaseWait && !strings.Contains(p.Message, "daemonset istio-system/ztunnel") {
				t.Errorf("wait phase %q does not wait for the ztunnel DaemonSet", p.Message)
			}
			if p.Phase == installer.PhaseZtunnel && (len(p.Releases) != 1 || p.Releases[0].Name != installer.ReleaseZtunnel || p.Releases[0].Action != installer.ActionInstalled) {
				t.Errorf("ztunnel phase releases %+v, want ztunnel installed", p.Releases)
			}
		}
		for _, name := range []string{installer.ReleaseBase, installer.ReleaseGatewayAPI, installer.ReleaseCNI, installer.ReleaseIstiod,
			installer.ReleaseZtunnel, installer.ReleaseMesh, installer.ReleaseAddons} {
			if rel := lastRelease(t, c, "istio-system", name); rel == nil || rel.Info.Status != release.StatusDeployed {
				t.Errorf("release istio-system/%s not deployed: %v", name, rel)
			}
		}

		ds, err := cl.kube.AppsV1().DaemonSets("istio-system").Get(ctx, "ztunnel", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ready, msg := rollout.DaemonSetDone(ds)
		if !ready || ds.Status.DesiredNumberScheduled < 1 {
			t.Errorf("ztunnel DaemonSet: %s (desired %d), want its fake pod available", msg, ds.Status.DesiredNumberScheduled)
		}
		if img := ds.Spec.Template.Spec.Containers[0].Image; img != installer.PinnedHub+"/ztunnel:"+installer.PinnedTag+"-distroless" {
			t.Errorf("ztunnel image %q", img)
		}
		t.Logf("ztunnel DaemonSet: %s (kwok: the pod is Ready, no container runs)", msg)

		d, err := cl.kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v := envOf(d.Spec.Template.Spec.Containers[0], "PILOT_ENABLE_AMBIENT"); v != "true" {
			t.Errorf("istiod PILOT_ENABLE_AMBIENT = %q, want true", v)
		}
		cni, err := cl.kube.CoreV1().ConfigMaps("istio-system").Get(ctx, "istio-cni-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cni.Data["AMBIENT_ENABLED"] != "true" || cni.Data["AMBIENT_DNS_CAPTURE"] != "true" {
			t.Errorf("istio-cni-config AMBIENT_ENABLED=%q AMBIENT_DNS_CAPTURE=%q, want true, true", cni.Data["AMBIENT_ENABLED"], cni.Data["AMBIENT_DNS_CAPTURE"])
		}

		for _, name := range gatewayapi.CRDNames() {
			crd, err := crdClient.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("CRD %s: %v", name, err)
				continue
			}
			a := crd.Annotations
			if a[consts.BundleVersionAnnotation] != gatewayapi.BundleVersion || a[consts.ChannelAnnotation] != "standard" ||
				a[gatewayapi.KeepPolicy] != "keep" || a["meta.helm.sh/release-name"] != installer.ReleaseGatewayAPI {
				t.Errorf("CRD %s annotations %v: want bundle %s, standard, keep, release %s", name, a, gatewayapi.BundleVersion, installer.ReleaseGatewayAPI)
			}
			established := false
			for _, cond := range crd.Status.Conditions {
				established = established || (cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue)
			}
			if !established {
				t.Errorf("CRD %s not established", name)
			}
		}

		rep, err := installer.Status(ctx, ambient())
		if err != nil || !rep.Installed {
			t.Errorf("status: installed=%v err=%v", rep != nil && rep.Installed, err)
		}
		found := false
		for _, r := range rep.Releases {
			if r.Name == installer.ReleaseZtunnel {
				found = true
				if r.Phase != installer.PhaseZtunnel || r.Workload != "ztunnel" || r.Ready == nil || !*r.Ready || r.Status != "deployed" {
					t.Errorf("status of ztunnel: %+v, want phase ztunnel, DaemonSet ztunnel ready, deployed", r)
				}
			}
		}
		if !found {
			t.Errorf("status lists no ztunnel release: %+v", rep.Releases)
		}
	})

	step(t, "re-run writes nothing", func(t *testing.T) {
		start := time.Now()
		res, err := installer.Install(ctx, ambient())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("no-op re-run took %s", time.Since(start).Round(time.Millisecond))
		acts := releaseActions(res)
		if len(acts) != 8 {
			t.Errorf("%d releases in the result, want 8", len(acts))
		}
		for name, r := range acts {
			if r.Action != installer.ActionUnchanged {
				t.Errorf("release %s: %s, want unchanged", name, r.Action)
			}
		}
	})

	step(t, "uninstall keeps the CRDs, --delete-crds removes them", func(t *testing.T) {
		gcs, err := cl.dyn.Resource(schema.GroupVersionResource{Group: gatewayapi.Group, Version: "v1", Resource: "gatewayclasses"}).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, gc := range gcs.Items {
			var managers []string
			for _, mf := range gc.GetManagedFields() {
				managers = append(managers, mf.Manager)
			}
			t.Logf("GatewayClass %s written by %v", gc.GetName(), managers)
		}
		res, err := uninstallStoppingIstiod(ctx, c, ambient())
		if err != nil {
			t.Fatal(err)
		}
		if acts := releaseActions(res); acts[installer.ReleaseZtunnel].Action != installer.ActionUninstalled || acts[installer.ReleaseGatewayAPI].Action != installer.ActionUninstalled {
			t.Errorf("ztunnel %s, gateway-api-crds %s: want both uninstalled", acts[installer.ReleaseZtunnel].Action, acts[installer.ReleaseGatewayAPI].Action)
		}
		for _, name := range gatewayapi.CRDNames() {
			if _, err := crdClient.Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Errorf("CRD %s after uninstall: %v, want kept", name, err)
			}
		}
		if _, err := cl.kube.AppsV1().DaemonSets("istio-system").Get(ctx, "ztunnel", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ztunnel DaemonSet after uninstall: %v, want gone", err)
		}
		opts := ambient()
		opts.DeleteCRDs = true
		if _, err := installer.Uninstall(ctx, opts); err != nil {
			t.Fatalf("uninstall --delete-crds: %v", err)
		}
		for _, name := range gatewayapi.CRDNames() {
			if _, err := crdClient.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("CRD %s after --delete-crds: %v, want gone", name, err)
			}
		}
		assertNothingLeft(t, c, cl)
	})
	t.Logf("TestAmbientProfile took %s", time.Since(began).Round(time.Millisecond))
}
