package installer

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	istiogatewayapi "istio.io/istio/pkg/config/schema/gatewayapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/gateway-api/pkg/consts"

	"github.com/meshbundle/meshbundle/installer/gatewayapi"
)

// The Gateway API CRDs are installed by the gateway-api-crds release in the
// base phase, in every profile, unless the cluster has them from someone
// else: then they are left as they are (a supported bundle) or the run is
// refused before anything is changed (a bundle older than v1.5). See
// gatewayapi.Decide.

var crdsGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// gatewayCRDsPresent lists the cluster's Gateway API CRDs with their
// annotations: one metadata-only list, however large the CRDs are.
func (c *cluster) gatewayCRDsPresent(ctx context.Context) ([]gatewayapi.Present, error) {
	list, err := c.meta.Resource(crdsGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list CRDs to find the Gateway API's: %w", err)
	}
	var out []gatewayapi.Present
	for _, m := range list.Items {
		if strings.HasSuffix(m.Name, "."+gatewayapi.Group) {
			out = append(out, gatewayapi.Present{Name: m.Name, Annotations: m.Annotations})
		}
	}
	return out, nil
}

// gatewayAPIRelease is the plan's gateway-api-crds release (nil if none).
func (p *Plan) gatewayAPIRelease() *PlannedRelease {
	for i := range p.Releases {
		if p.Releases[i].Name == ReleaseGatewayAPI {
			return &p.Releases[i]
		}
	}
	return nil
}

// decideGatewayAPI reads the cluster's Gateway API CRDs and decides what the
// run does with them (r.gatewayAPI); CRDs too old are refused here, in the
// validate phase, so that nothing has been changed.
func (r *run) decideGatewayAPI(ctx context.Context) error {
	rel := r.plan.gatewayAPIRelease()
	if rel == nil {
		return nil
	}
	present, err := r.cl.gatewayCRDsPresent(ctx)
	if err != nil {
		return err
	}
	d, err := gatewayapi.Decide(present, rel.Namespace, rel.Name)
	if err != nil {
		return err
	}
	r.gatewayAPI = &d
	if d.Action == gatewayapi.Keep {
		msg := fmt.Sprintf("Gateway API CRDs %s are in the cluster, not from meshbundle: left as they are, release %s/%s not installed", strings.Join(d.Versions, ", "), rel.Namespace, rel.Name)
		if len(d.Missing) > 0 {
			msg += fmt.Sprintf("; they lack %s of bundle %s", abbreviate(d.Missing, 3), gatewayapi.BundleVersion)
		}
		r.res.Warnings = append(r.res.Warnings, msg)
		r.res.Warnings = append(r.res.Warnings, belowIstioMinimums(present)...)
	}
	return nil
}

// belowIstioMinimums warns of kept CRDs older than the pinned istiod
// processes (it ignores their objects), by Istio's own table.
func belowIstioMinimums(present []gatewayapi.Present) []string {
	var out []string
	for _, p := range present {
		minimum, ok := istiogatewayapi.MinimumCRDVersions[p.Name]
		if !ok {
			continue
		}
		v, err := semver.NewVersion(p.Annotations[consts.BundleVersionAnnotation])
		if err != nil {
			continue // Decide refused these already
		}
		if rounded, err := v.SetPrerelease(""); err == nil && rounded.LessThan(minimum) {
			out = append(out, fmt.Sprintf("CRD %s is bundle %s; istiod %s ignores its objects below %s: upgrade the Gateway API CRDs", p.Name, v, PinnedTag, minimum))
		}
	}
	slices.Sort(out)
	return out
}

// gatewayAPIExternal says whether this run leaves rel out because the
// cluster's Gateway API CRDs are someone else's.
func (r *run) gatewayAPIExternal(rel PlannedRelease) bool {
	return rel.Name == ReleaseGatewayAPI && r.gatewayAPI != nil && r.gatewayAPI.Action == gatewayapi.Keep
}

// foreignGatewayCRDs splits CRD names into those uninstall may delete and
// the Gateway API CRDs of the cluster that the gateway-api-crds release
// does not own (installed by someone else: never meshbundle's to delete).
func (r *run) foreignGatewayCRDs(ctx context.Context, crds []string) (own, foreign []string, err error) {
	rel := r.plan.gatewayAPIRelease()
	if rel == nil {
		return crds, nil, nil
	}
	present, err := r.cl.gatewayCRDsPresent(ctx)
	if err != nil {
		return nil, nil, err
	}
	theirs := map[string]bool{}
	for _, p := range present {
		if !(releaseSet{rel.Namespace + "/" + rel.Name: true}).ownedBy(&metav1.ObjectMeta{Annotations: p.Annotations}) {
			theirs[p.Name] = true
		}
	}
	for _, n := range crds {
		if theirs[n] {
			foreign = append(foreign, n)
		} else {
			own = append(own, n)
		}
	}
	return own, foreign, nil
}
