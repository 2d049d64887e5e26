package installer

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pkg/config/mesh"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/installer/gatewayapi"
	"github.com/meshbundle/meshbundle/internal/golden"
)

// The translation of --profile ambient, release by release: phase, node
// agent, workload and the chart values Istio's translation produced, as a
// golden file (UPDATE_GOLDEN=1 go test ./installer refreshes it). A change
// of values/ambient.yaml, values/default.yaml or of Istio's ambient profile
// in a module bump shows up here as a reviewable diff.
func TestAmbientTranslationGolden(t *testing.T) {
	p, err := NewPlan(Source{Profile: "ambient"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range p.Releases {
		vals, err := yaml.Marshal(r.Values)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "# release %s namespace %s phase %s chart %s daemonset %q deployment %q\n%s---\n",
			r.Name, r.Namespace, r.Phase, chartRef(r), r.DaemonSet, r.Workload, vals)
	}
	golden.Check(t, filepath.Join("testdata", "ambient-values.golden"), []byte(b.String()), "UPDATE_GOLDEN=1 go test ./installer")
}

// What the ambient profile must render, checked on the manifests (the
// golden files show everything; these are the facts ambient mode needs):
// ztunnel as its own release and phase, istiod with ambient enabled,
// istio-cni in ambient mode with DNS capture, HBONE in the mesh config,
// and the default profile's tracing, gateway, addons and Gateway API CRDs.
func TestAmbientProfile(t *testing.T) {
	plan, err := NewPlan(Source{Profile: "ambient"})
	if err != nil {
		t.Fatal(err)
	}
	phases := map[string]Phase{}
	for _, r := range plan.Releases {
		phases[r.Name] = r.Phase
	}
	want := map[string]Phase{
		ReleaseBase: PhaseBase, ReleaseGatewayAPI: PhaseBase, ReleaseCNI: PhaseCNI, ReleaseIstiod: PhaseIstiod,
		ReleaseMesh: PhaseIstiod, ReleaseZtunnel: PhaseZtunnel, ReleaseGateway: PhaseGateway, ReleaseAddons: PhaseAddons,
	}
	for name, ph := range want {
		if phases[name] != ph {
			t.Errorf("release %s in phase %q, want %q", name, phases[name], ph)
		}
	}
	if len(phases) != len(want) {
		t.Errorf("releases %v, want %v", phases, want)
	}

	objs := dryRun(t, Source{Profile: "ambient"})
	d := into[appsv1.Deployment](t, find(t, objs[ReleaseIstiod], "Deployment", "istiod"))
	for env, v := range map[string]string{"PILOT_ENABLE_AMBIENT": "true", "PILOT_ENABLE_IP_AUTOALLOCATE": "true"} {
		if got := containerEnv(d.Spec.Template.Spec.Containers[0], env); got != v {
			t.Errorf("istiod env %s = %q, want %q", env, got, v)
		}
	}
	cni := into[corev1.ConfigMap](t, find(t, objs[ReleaseCNI], "ConfigMap", "istio-cni-config"))
	for k, v := range map[string]string{"AMBIENT_ENABLED": "true", "AMBIENT_DNS_CAPTURE": "true"} {
		if cni.Data[k] != v {
			t.Errorf("istio-cni-config %s = %q, want %q", k, cni.Data[k], v)
		}
	}
	zt := into[appsv1.DaemonSet](t, find(t, objs[ReleaseZtunnel], "DaemonSet", "ztunnel"))
	if img := zt.Spec.Template.Spec.Containers[0].Image; img != PinnedHub+"/ztunnel:"+PinnedTag+"-distroless" {
		t.Errorf("ztunnel image %q, want the pinned release's distroless ztunnel", img)
	}
	cm := into[corev1.ConfigMap](t, find(t, objs[ReleaseIstiod], "ConfigMap", "istio"))
	mc, err := mesh.ApplyMeshConfigDefaults(cm.Data["mesh"])
	if err != nil {
		t.Fatal(err)
	}
	pm := mc.GetDefaultConfig().GetProxyMetadata()
	if pm["ISTIO_META_ENABLE_HBONE"] != "true" || pm["ISTIO_META_DNS_CAPTURE"] != "true" {
		t.Errorf("proxyMetadata %v, want ISTIO_META_ENABLE_HBONE and ISTIO_META_DNS_CAPTURE true", pm)
	}
	if !slices.ContainsFunc(mc.GetExtensionProviders(), func(p *meshv1alpha1.MeshConfig_ExtensionProvider) bool { return p.GetName() == TracingProvider }) {
		t.Errorf("no %s extension provider in the ambient mesh config", TracingProvider)
	}
	find(t, objs[ReleaseMesh], "Telemetry", "mesh-default")
	find(t, objs[ReleaseGateway], "Deployment", ReleaseGateway)
	var crds []string
	for _, o := range objs[ReleaseGatewayAPI] {
		crds = append(crds, o.GetName())
	}
	slices.Sort(crds)
	if !slices.Equal(crds, gatewayapi.CRDNames()) {
		t.Errorf("gateway-api-crds renders %v, want the bundle's %v", crds, gatewayapi.CRDNames())
	}

	// Negative control: the default profile renders no ztunnel and no
	// ambient switch, so the checks above can fail.
	def := dryRun(t, Source{})
	if len(def[ReleaseZtunnel]) != 0 {
		t.Errorf("default profile renders ztunnel")
	}
	dd := into[appsv1.Deployment](t, find(t, def[ReleaseIstiod], "Deployment", "istiod"))
	if got := containerEnv(dd.Spec.Template.Spec.Containers[0], "PILOT_ENABLE_AMBIENT"); got == "true" {
		t.Errorf("default profile: istiod PILOT_ENABLE_AMBIENT = %q", got)
	}
	if len(def[ReleaseGatewayAPI]) != len(gatewayapi.CRDNames()) {
		t.Errorf("default profile renders %d Gateway API CRDs, want %d (sidecar profiles install them too)", len(def[ReleaseGatewayAPI]), len(gatewayapi.CRDNames()))
	}
}
