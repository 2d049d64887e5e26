package installer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-multierror"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/strvals"
	telemetry "istio.io/api/telemetry/v1"
	"istio.io/istio/manifests"
	"istio.io/istio/operator/pkg/apis/validation"
	"istio.io/istio/operator/pkg/component"
	"istio.io/istio/operator/pkg/render"
	istiovalues "istio.io/istio/operator/pkg/values"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/schema/gvk"
	configvalidation "istio.io/istio/pkg/config/validation"
	"istio.io/istio/pkg/config/validation/agent"
	"sigs.k8s.io/yaml"

	addonschart "github.com/meshbundle/meshbundle/charts/meshbundle-addons"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/installer/gatewayapi"
	"github.com/meshbundle/meshbundle/values"
)

// Release names: one Helm release per component, named like Istio's Helm
// install docs (istio-base, istiod, istio-cni, istio-ingress).
const (
	ReleaseBase    = "istio-base"
	ReleaseCNI     = "istio-cni"
	ReleaseZtunnel = "ztunnel"
	ReleaseIstiod  = "istiod"
	ReleaseMesh    = "meshbundle-mesh"
	ReleaseGateway = "istio-ingress"
	ReleaseAddons  = "meshbundle-addons"
	// ReleaseGatewayAPI holds the Kubernetes Gateway API CRDs (standard
	// channel), installed with istio-base when the cluster has none.
	ReleaseGatewayAPI = gatewayapi.ChartName

	// DefaultGatewayNamespace holds the ingress gateway, apart from istiod as
	// Istio recommends.
	DefaultGatewayNamespace = "istio-ingress"
	// TracingProvider is the meshConfig.extensionProviders entry the
	// mesh-wide Telemetry selects.
	TracingProvider = "jaeger"
	// DefaultAddonsChart is where the observability chart's source lives in
	// the repo; meshbundle installs the copy compiled into it.
	DefaultAddonsChart = "charts/meshbundle-addons"
)

// istioReleaseNames maps Istio's operator components to release names.
// Components missing here (the legacy ingress/egress gateway charts) have no
// Helm release in Istio either (`istioctl manifest translate` refuses them).
var istioReleaseNames = map[component.Name]string{
	component.BaseComponentName:    ReleaseBase,
	component.CNIComponentName:     ReleaseCNI,
	component.ZtunnelComponentName: ReleaseZtunnel,
	component.PilotComponentName:   ReleaseIstiod,
}

// Source says where the configuration comes from.
type Source struct {
	// Profile picks an overlay from values/ (minimal, ha) on top of
	// values/default.yaml; "" or "default" adds none.
	Profile string
	// Files are IstioOperator files layered on top, in order.
	Files []string
	// Set are --set overrides: IstioOperator paths (istioctl syntax, e.g.
	// meshConfig.defaultConfig.tracing.sampling=10), or gateway.<key>=<value>
	// for the gateway chart (Helm --set syntax).
	Set []string
	// GatewayNamespace defaults to DefaultGatewayNamespace.
	GatewayNamespace string
	// NoGateway leaves the ingress gateway out.
	NoGateway bool
	// Jaeger installs a Jaeger all-in-one as the collector.
	Jaeger bool
	// AddonsChart is a chart directory installed in the addons phase instead
	// of the meshbundle-addons chart compiled into meshbundle ("").
	AddonsChart string
	// NoAddons leaves the addons phase out.
	NoAddons bool
	// Charts is a directory laid out like Istio's manifests/charts (base,
	// istio-control/istio-discovery, istio-cni, ztunnel, gateway) whose
	// charts are installed instead of those embedded in meshbundle ("");
	// e.g. another Istio build's, for an upgrade test or to stay on an
	// earlier release. Their chart versions are kept as the directory has
	// them; images stay meshbundle's pinned hub/tag unless --set hub/tag.
	Charts string
	// Revision installs istiod as the revision's release istiod-<rev>
	// beside the default one (revision.go); for uninstall it names the one
	// istiod release to remove ("default": the istiod release).
	Revision string
}

// Plan is the validated configuration: every release with its chart and
// values, in install order.
type Plan struct {
	// IstioOperator is the merged, validated IstioOperator (as istioctl sees it).
	IstioOperator istiovalues.Map
	// IstioNamespace is where istiod and the mesh defaults go.
	IstioNamespace string
	Releases       []PlannedRelease
	// Warnings from Istio's validation (not fatal).
	Warnings []string
	// AddonsSkipped says why the addons phase has nothing to do ("" if it has).
	AddonsSkipped string
	// Revision is Source.Revision.
	Revision string
}

// PlannedRelease is one Helm release.
type PlannedRelease struct {
	Name      string
	Namespace string
	Phase     Phase
	Chart     *chart.Chart
	Values    map[string]any
	// Workload is the Deployment the wait/verify phases check ("" for none).
	Workload string
	// DaemonSet is the node agent the wait/verify phases check ("" for
	// none): pods in the mesh need it on their node before they start.
	DaemonSet string
}

// NewPlan merges and validates the configuration with Istio's own code and
// translates it into per-component chart values the way `istioctl manifest
// translate` does (render.Migrate). It reads files but never a cluster.
func NewPlan(src Source) (*Plan, error) {
	tmp, err := os.MkdirTemp("", "meshbundle-iop-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	files, err := baseFiles(tmp, src.Profile)
	if err != nil {
		return nil, err
	}
	for _, f := range src.Files {
		if _, err := os.Stat(f); err != nil {
			return nil, failure.BadInputf("IstioOperator file %q: %w (fix: pass an existing file with -f)", f, err)
		}
	}
	files = append(files, src.Files...)
	sets, addonSets := cutAddonsSets(src.Set)
	iopSets, gatewaySets := splitSets(sets)

	merged, err := render.MergeInputs(files, iopSets, nil)
	if err != nil {
		return nil, failure.BadInputf("read IstioOperator (%s): %w (fix: correct the -f file or --set named; profiles are %s)", strings.Join(src.Files, ", "), err, strings.Join(values.Profiles, ", "))
	}
	p := &Plan{IstioOperator: merged}
	if err := p.validate(iopSets); err != nil {
		return nil, err
	}
	p.IstioNamespace = merged.GetPathStringOr("spec.values.global.istioNamespace", "istio-system")

	// Istio's translation, component by component (what istioctl manifest
	// translate writes out as <component>-values.yaml).
	migrated, err := render.Migrate(files, iopSets, nil)
	if err != nil {
		return nil, failure.BadInputf("translate IstioOperator to chart values: %w (fix: correct the field named in your -f file or --set)", err)
	}
	for _, c := range migrated.Components {
		name, ok := istioReleaseNames[c.Component.UserFacingName]
		if !ok {
			return nil, failure.BadInputf("IstioOperator spec.components.%s[name=%s]: no Helm chart release exists for it; "+
				"meshbundle installs the ingress gateway from Istio's gateway chart, configured in values/gateway.yaml (fix: set enabled: false there)",
				c.Component.SpecName, c.ComponentSpec.Name)
		}
		vals, _ := c.Values.GetPathMap("spec.values")
		ch, err := istioChart(src.Charts, c.Component.HelmSubdir)
		if err != nil {
			return nil, err
		}
		r := PlannedRelease{Name: name, Namespace: c.ComponentSpec.Namespace, Chart: ch, Values: vals}
		switch c.Component.UserFacingName {
		case component.BaseComponentName:
			r.Phase = PhaseBase
		case component.CNIComponentName:
			r.Phase, r.DaemonSet = PhaseCNI, "istio-cni-node" // fixed in the chart (the CNI plugin falls back on it)
		case component.ZtunnelComponentName:
			// Its own phase after istiod, in Istio's Helm install order:
			// ztunnel gets its workload certificates from istiod's CA.
			r.Phase, r.DaemonSet = PhaseZtunnel, "ztunnel"
		case component.PilotComponentName:
			r.Phase = PhaseIstiod
			r.Workload = "istiod"
			if rev := merged.GetPathString("spec.values.revision"); rev != "" && rev != "default" {
				r.Workload = "istiod-" + rev
			}
		}
		p.Releases = append(p.Releases, r)
		if r.Phase == PhaseBase {
			gw, err := gatewayapi.Chart()
			if err != nil {
				return nil, err
			}
			// Beside Istio's CRDs, in every profile: Istio's Gateway API
			// support (gateways, waypoints, HTTPRoutes) needs them, and
			// Kubernetes ships none. At run time it is left out when the
			// cluster has them from someone else (gatewayapi.Decide).
			p.Releases = append(p.Releases, PlannedRelease{Name: ReleaseGatewayAPI, Namespace: r.Namespace, Phase: PhaseBase, Chart: gw, Values: map[string]any{}})
		}
	}
	if err := p.applyRevision(src.Revision); err != nil {
		return nil, err
	}

	meshRel, err := p.meshRelease(src.Jaeger)
	if err != nil {
		return nil, err
	}
	p.Releases = append(p.Releases, meshRel)

	if !src.NoGateway {
		gw, err := gatewayRelease(src.Charts, src.GatewayNamespace, gatewaySets)
		if err != nil {
			return nil, err
		}
		p.Releases = append(p.Releases, gw)
	}

	if !src.NoAddons {
		ch, err := addonsChart(src.AddonsChart)
		if err != nil {
			return nil, err
		}
		vals, err := addonsValues(ch, addonSets, p.IstioNamespace)
		if err != nil {
			return nil, err
		}
		p.Releases = append(p.Releases, PlannedRelease{
			Name: ReleaseAddons, Namespace: p.IstioNamespace, Phase: PhaseAddons, Chart: ch, Values: vals,
		})
	} else {
		if len(addonSets) > 0 {
			return nil, failure.BadInputf("--set %s%s with --no-addons: the addons are not installed (fix: drop one of them)", addonsSetPrefix, addonSets[0])
		}
		p.AddonsSkipped = "skipped: --no-addons"
	}
	return p, nil
}

// addonsChart loads the addons chart: the embedded one, or dir when given.
func addonsChart(dir string) (*chart.Chart, error) {
	if dir == "" {
		return addonschart.Load()
	}
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		return nil, failure.BadInputf("addons chart %s: no Chart.yaml there (fix: correct --addons-chart, or leave it out to install the built-in chart)", dir)
	}
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, failure.BadInputf("load addons chart %s: %w (fix: correct the chart, or leave --addons-chart out to install the built-in chart)", dir, err)
	}
	return ch, nil
}

// baseFiles writes the embedded default (and profile overlay) where Istio's
// MergeInputs, which reads paths, can find them.
func baseFiles(dir, profile string) ([]string, error) {
	names := []string{"default.yaml"}
	switch profile {
	case "", "default":
	default:
		if _, err := fs.Stat(values.FS, profile+".yaml"); err != nil {
			return nil, failure.BadInputf("profile %q does not exist (fix: use one of %s)", profile, strings.Join(values.Profiles, ", "))
		}
		names = append(names, profile+".yaml")
	}
	var out []string
	for _, n := range names {
		b, err := values.FS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// splitSets routes gateway.* overrides to the gateway chart; IstioOperator has
// no top-level "gateway" field, so the prefix is unambiguous.
func splitSets(sets []string) (iop, gateway []string) {
	for _, s := range sets {
		if rest, ok := strings.CutPrefix(s, "gateway."); ok {
			gateway = append(gateway, rest)
			continue
		}
		iop = append(iop, s)
	}
	return iop, gateway
}

// validate runs Istio's IstioOperator validation, then the mesh config checks
// that Istio's validateMeshConfig drops (it returns the nil `err` instead of
// the validation errors, and only logs extension provider errors).
func (p *Plan) validate(sets []string) error {
	warnings, errs := validation.ParseAndValidateIstioOperator(p.IstioOperator, nil)
	if err := errs.ToError(); err != nil {
		return fieldError(p.IstioOperator, sets, err)
	}
	for _, w := range warnings {
		p.warn(w)
	}
	mc, err := p.MeshConfig()
	if err != nil {
		return err
	}
	if w, err := agent.ValidateMeshConfig(mc); err != nil {
		return failure.BadInputf("invalid IstioOperator spec.meshConfig: %w (fix: correct the field named in your -f file or --set)", err)
	} else if w != nil {
		p.warn(w)
	}
	// By name: Istio's defaults add providers, so indexes shift.
	for _, ep := range mc.GetExtensionProviders() {
		if otel := ep.GetOpentelemetry(); otel != nil {
			if err := agent.ValidateExtensionProviderTracingOpentelemetry(otel); err != nil {
				return failure.BadInputf("invalid IstioOperator spec.meshConfig.extensionProviders[name=%s].opentelemetry: %w; "+
					"(fix: set service to a host such as jaeger-collector.istio-system.svc.cluster.local and port to 1-65535)", ep.GetName(), err)
			}
		}
	}
	return nil
}

// warn records a validation warning once, one line per underlying problem
// (Istio's validators return multierrors and report some twice).
func (p *Plan) warn(err error) {
	var me *multierror.Error
	if errors.As(err, &me) {
		for _, e := range me.Errors {
			p.warn(e)
		}
		return
	}
	msg := err.Error()
	if !slices.Contains(p.Warnings, msg) {
		p.Warnings = append(p.Warnings, msg)
	}
}

// MeshConfig parses the mesh config istiod will read, with Istio's defaults.
func (p *Plan) MeshConfig() (*meshConfig, error) {
	mcVals, _ := p.IstioOperator.GetPathMap("spec.values.meshConfig")
	mc, err := mesh.ApplyMeshConfigDefaults(mcVals.YAML())
	if err != nil {
		return nil, failure.BadInputf("invalid IstioOperator spec.meshConfig: %w (fix: correct the field named in your -f file or --set)", err)
	}
	return mc, nil
}

// meshRelease renders the mesh-wide Telemetry (and optional Jaeger) from the
// IstioOperator: the "jaeger" extension provider and the proxy sampling.
func (p *Plan) meshRelease(jaeger bool) (PlannedRelease, error) {
	mc, err := p.MeshConfig()
	if err != nil {
		return PlannedRelease{}, err
	}
	provider := ""
	for _, ep := range mc.GetExtensionProviders() {
		if ep.GetName() == TracingProvider && ep.GetOpentelemetry() != nil {
			provider = TracingProvider
		}
	}
	sampling := 1.0
	if raw, ok := p.IstioOperator.GetPath("spec.values.meshConfig.defaultConfig.tracing.sampling"); ok {
		sampling, err = strconv.ParseFloat(fmt.Sprint(raw), 64)
		if err != nil {
			return PlannedRelease{}, failure.BadInputf("IstioOperator meshConfig.defaultConfig.tracing.sampling %v: not a number (fix: set a percentage 0-100)", raw)
		}
	}
	if provider != "" {
		// Check the Telemetry we will write with Istio's own validation.
		_, err := configvalidation.ValidateTelemetry(config.Config{
			Meta: config.Meta{GroupVersionKind: gvk.Telemetry, Name: "mesh-default", Namespace: p.IstioNamespace},
			Spec: &telemetry.Telemetry{Tracing: []*telemetry.Tracing{{
				Providers:                []*telemetry.ProviderRef{{Name: provider}},
				RandomSamplingPercentage: wrapperspb.Double(sampling),
			}}},
		})
		if err != nil {
			return PlannedRelease{}, failure.BadInputf("IstioOperator meshConfig.defaultConfig.tracing.sampling %v: %w (fix: set a percentage 0-100)", sampling, err)
		}
	}
	ch, err := meshChart()
	if err != nil {
		return PlannedRelease{}, err
	}
	vals := map[string]any{
		"tracing": map[string]any{"provider": provider, "samplingPercentage": sampling},
		"jaeger":  map[string]any{"enabled": jaeger},
	}
	return PlannedRelease{Name: ReleaseMesh, Namespace: p.IstioNamespace, Phase: PhaseIstiod, Chart: ch, Values: vals}, nil
}

// gatewayRelease builds the ingress gateway from Istio's gateway chart with
// values/gateway.yaml plus gateway.* overrides, checked against the chart's
// values.schema.json before anything is installed.
func gatewayRelease(charts, namespace string, sets []string) (PlannedRelease, error) {
	if namespace == "" {
		namespace = DefaultGatewayNamespace
	}
	raw, err := values.FS.ReadFile("gateway.yaml")
	if err != nil {
		return PlannedRelease{}, err
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(raw, &vals); err != nil {
		return PlannedRelease{}, fmt.Errorf("values/gateway.yaml: %w", err)
	}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return PlannedRelease{}, failure.BadInputf("--set gateway.%s: %w (fix: use gateway.<key>=<value> with keys of Istio's gateway chart)", s, err)
		}
	}
	ch, err := istioChart(charts, "gateway")
	if err != nil {
		return PlannedRelease{}, err
	}
	if err := chartutil.ValidateAgainstSchema(ch, vals); err != nil {
		return PlannedRelease{}, failure.BadInputf("gateway values (values/gateway.yaml, --set gateway.*): %w (fix: correct the --set gateway.* named; Istio's gateway chart values.schema.json lists the keys)", err)
	}
	if err := validateServiceType(vals); err != nil {
		return PlannedRelease{}, err
	}
	return PlannedRelease{Name: ReleaseGateway, Namespace: namespace, Phase: PhaseGateway, Chart: ch, Values: vals, Workload: ReleaseGateway}, nil
}

// validateServiceType catches a typo the chart schema lets through (it types
// service.type as any string) before the API server would reject it mid-install.
func validateServiceType(vals map[string]any) error {
	t, _ := chartutil.Values(vals).PathValue("service.type")
	switch t {
	case nil, "LoadBalancer", "NodePort", "ClusterIP", "None":
		return nil
	}
	return failure.BadInputf("gateway service.type %q: must be LoadBalancer, NodePort, ClusterIP or None (fix: correct --set gateway.service.type)", t)
}

// IstioChart loads one of Istio's charts from the manifests embedded in the
// istio.io/istio module, so installs work offline at the pinned version. The
// source charts say version 1.0.0 ("istio/release-builder will replace it at
// build-time"); like the release builder, stamp the Istio release, so
// `helm list` shows istiod-1.31.0.
func IstioChart(dir string) (*chart.Chart, error) {
	ch, err := loadFS(manifests.FS, path.Join("charts", dir))
	if err != nil {
		return nil, err
	}
	ch.Metadata.Version, ch.Metadata.AppVersion = PinnedTag, PinnedTag
	return ch, nil
}

// istioChart loads Istio's chart dir (e.g. "istio-control/istio-discovery")
// from the charts directory given with Source.Charts, or the embedded one
// when charts is "". A directory's charts are taken as they are, version
// included: released charts carry their release, source charts say 1.0.0.
func istioChart(charts, dir string) (*chart.Chart, error) {
	if charts == "" {
		return IstioChart(dir)
	}
	p := filepath.Join(charts, filepath.FromSlash(dir))
	if _, err := os.Stat(filepath.Join(p, "Chart.yaml")); err != nil {
		hint := ""
		if _, err := os.Stat(filepath.Join(charts, "charts", filepath.FromSlash(dir), "Chart.yaml")); err == nil {
			hint = fmt.Sprintf(" (it has one under charts/: pass --charts %s)", filepath.Join(charts, "charts"))
		}
		return nil, failure.BadInputf("charts directory %s: no chart %s there%s (fix: pass a directory laid out like Istio's manifests/charts, or leave --charts out to install the built-in charts)", charts, dir, hint)
	}
	ch, err := loader.Load(p)
	if err != nil {
		return nil, failure.BadInputf("charts directory %s: load chart %s: %w (fix: correct the chart, or leave --charts out to install the built-in charts)", charts, dir, err)
	}
	return ch, nil
}

func loadFS(fsys fs.FS, root string) (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(p, root+"/"), Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read chart %s: %w", root, err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", root, err)
	}
	return ch, nil
}
