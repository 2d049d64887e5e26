package renderer

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshbundle/meshbundle/appmesh"
)

// The canary filter runs before routes, so that the routes filter sees the
// pods as they will run and renders the DestinationRule subsets itself. It
// pins promotions on stable Deployments, sets the stable's pod-template
// "version" label, adds the copy "<target>-<version>", and leaves the
// routes filter a plan (stream.canary): the destinations of the phase
// (weights, or the plain Service host while the stable's label changes)
// for the hosts of the Services in front of the target.
//
// The stable Deployment's selector is never edited: spec.selector is
// immutable, so a changed selector would make `helm upgrade` fail. Only its
// pod template gains the "version" label, which keeps matching the selector
// (a selector is a subset of the template labels), and DestinationRule
// subsets select on pod labels. The copy gets its own selector with the
// version in it, so the two ReplicaSets never claim each other's pods.

// CanaryOfLabel marks the copy Deployment with the name of its stable one;
// `meshbundle canary status` finds copies by it.
const CanaryOfLabel = "meshbundle.dev/canary-of"

// DefaultStableVersion is the version label given to a stable Deployment
// whose pod template has none.
const DefaultStableVersion = "stable"

// CopyName is the name of the canary copy of a Deployment.
func CopyName(target, version string) string { return target + "-" + version }

type canary struct{ *env }

func newCanary(e *env) *canary { return &canary{e} }

// canaryPlan is what the routes filter needs of the canary.
type canaryPlan struct {
	hosts map[string]bool // hosts of the routed Services in front of the target
	dests []destination   // their destinations in this phase
	// warm are destinations a later phase may route to that this phase's
	// route does not carry (or carries at weight 0, which Istio and grpc-go
	// drop): each gets a route of its own that only a request with the
	// header WarmHeader matches, so every client already holds their
	// clusters when the default route switches to them. A proxyless gRPC
	// client only subscribes to the clusters its routes name, and grpc-go
	// applies a new route before its balancer has a new cluster: without
	// this a few requests fail with "unknown cluster selected for RPC"
	// (docs/dataplane.md). Envoy receives every cluster anyway.
	warm []destination
}

// WarmHeader is the request header of the warm-up routes a canary adds to
// its VirtualService, or of the warm-up rules it adds to its HTTPRoute or
// GRPCRoute with routeAPI gateway-api (see canaryPlan.warm); its value
// names the subset (version), or "host" for the Service host. Nothing
// sends it.
const WarmHeader = "x-meshbundle-warm"

// destination is one weighted destination of a route.
type destination struct {
	subset string // "" = the Service host itself
	weight int32  // written only when the route has several destinations
}

// readsTree: Deployments (the target it copies), and the
// HorizontalPodAutoscalers and PodDisruptionBudgets that may select the
// copy.
func (f *canary) readsTree(group, kind string) bool {
	return group == "apps" && kind == "Deployment" || group == "autoscaling" && kind == "HorizontalPodAutoscaler" ||
		group == "policy" && kind == "PodDisruptionBudget"
}

// readsWholeTree: with a canary (or a promotion) it copies Deployments,
// HorizontalPodAutoscalers and PodDisruptionBudgets whole.
func (f *canary) readsWholeTree(group, kind string) bool {
	return (f.am.Spec.Canary != nil || len(f.am.Spec.Promoted) > 0) && f.readsTree(group, kind)
}

// keepTree keeps the Deployments it edits: the target and the promoted.
func (f *canary) keepTree(r *Resource) bool {
	if f.am.Spec.Canary != nil && !r.IsHook() && (r.is("autoscaling", "HorizontalPodAutoscaler") || r.is("policy", "PodDisruptionBudget")) {
		return true // protect copies
	}
	if !r.is("apps", "Deployment") || r.IsHook() {
		return false
	}
	if c := f.am.Spec.Canary; c != nil && c.Target == r.Name {
		return true
	}
	for _, p := range f.am.Spec.Promoted {
		if p.Deployment == r.Name {
			return true
		}
	}
	return false
}

func (f *canary) Filter(s *stream) error {
	c := f.am.Spec.Canary
	if c == nil && len(f.am.Spec.Promoted) == 0 {
		return nil
	}
	deps := s.ix.deployments
	var errs []error
	for i, p := range f.am.Spec.Promoted {
		field := fmt.Sprintf("AppMesh spec.promoted[%d]", i)
		d, ok := deps[p.Deployment]
		if !ok {
			errs = append(errs, fmt.Errorf("%s.deployment: the chart renders no Deployment %q (fix: use one of: %s, or remove the entry)", field, p.Deployment, strings.Join(sortedKeys(deps), ", ")))
			continue
		}
		if stale, err := f.promotionStale(d, p, field); err != nil || stale {
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := moveStable(s, d, p.Container, p.Version, p.Image, field); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c == nil {
		return nil
	}
	stable, ok := deps[c.Target]
	if !ok {
		return fmt.Errorf("AppMesh spec.canary.target: the chart renders no Deployment %q (fix: use one of: %s)", c.Target, strings.Join(sortedKeys(deps), ", "))
	}
	if podTemplate(stable) == nil {
		return fmt.Errorf("AppMesh spec.canary.target: %s has no pod template (spec.template) (fix: canary a Deployment with a pod template)", stable)
	}
	if len(servicesOf(s, stable)) == 0 {
		return fmt.Errorf("AppMesh spec.canary.target: no Service of the chart selects the pods of %s; a canary splits the traffic of a Service (fix: add a Service for it to the chart)", stable)
	}
	if c.Phase.CopyRuns() {
		if _, clash := deps[CopyName(c.Target, c.Version)]; clash {
			return fmt.Errorf("AppMesh spec.canary.version: the chart already renders Deployment %q, the name of the canary copy (fix: choose another version)", CopyName(c.Target, c.Version))
		}
	}
	sv := stableVersion(stable)
	if sv == c.Version {
		return fmt.Errorf("AppMesh spec.canary.version: %q is already the version of the stable %s (fix: give the canary a new version label)", c.Version, stable)
	}
	if sv == DefaultStableVersion && stable.get(templatePath(stable, "metadata", "labels", versionLabel)...).str() == "" {
		// Only the template, never the immutable selector.
		s.set(stable, templatePath(stable, "metadata", "labels", versionLabel), sv)
	}
	if c.Phase.CopyRuns() {
		cp, err := f.copyOf(s, stable, c)
		if err != nil {
			return err
		}
		if c.Phase == appmesh.CanaryStabilizing || c.Phase == appmesh.CanaryFinishing {
			if err := moveStable(s, stable, c.Container, c.Version, c.Image, "AppMesh spec.canary"); err != nil {
				return err
			}
		}
		// The copy goes right after its stable Deployment, so a reader of
		// the output finds them together.
		s.insertAfter(stable, cp)
		if err := f.protectCopy(s, stable, c); err != nil {
			return err
		}
	}
	return f.plan(s, stable)
}

// plan leaves the routes filter the destinations of the phase for the
// hosts of the routed Services that select the stable's pods.
func (f *canary) plan(s *stream, stable *Resource) error {
	c := f.am.Spec.Canary
	routed := map[string]bool{}
	for _, r := range f.am.Spec.Routes {
		routed[r.Service] = true
	}
	plan := &canaryPlan{hosts: map[string]bool{}}
	var unrouted []string
	for _, svc := range servicesOf(s, stable) {
		if !routed[svc.Name] {
			unrouted = append(unrouted, svc.Name)
			continue
		}
		plan.hosts[f.serviceHost(svc)] = true
	}
	if len(plan.hosts) == 0 {
		return fmt.Errorf("AppMesh spec.canary.target: Deployment %s is behind Service %s, which has no route; the canary's weights live in its VirtualService and DestinationRule (fix: add `- service: %s` to spec.routes)",
			c.Target, strings.Join(unrouted, ", "), unrouted[0])
	}
	sv := stableVersion(stable)
	plan.dests = canaryDestinations(c, sv)
	if c.Phase == appmesh.CanaryStabilizing && sv == c.Version {
		// The stable moved to the canary's version label: both Deployments
		// serve the one subset, and the old subset has no pods left (a
		// subset without pods is analyzer error IST0173).
		plan.dests = []destination{{subset: c.Version}}
	}
	plan.warm = warmDestinations(c, sv, plan.dests)
	s.canary = plan
	return nil
}

// servicesOf returns the non-hook Services whose selector matches the
// Deployment's pod template labels, in stream order.
func servicesOf(s *stream, d *Resource) []*Resource {
	lbls := d.get(templatePath(d, "metadata", "labels")...).labels()
	var out []*Resource
	for _, r := range s.docs {
		if !r.is("", "Service") || r.IsHook() {
			continue
		}
		if sel := r.facts().selector(); len(sel) > 0 && sel.selects(lbls) {
			out = append(out, r)
		}
	}
	return out
}

// stableVersion is the version label of the stable's pod template, or
// DefaultStableVersion when it has none.
func stableVersion(d *Resource) string {
	if v := d.get(templatePath(d, "metadata", "labels", versionLabel)...).str(); v != "" {
		return v
	}
	return DefaultStableVersion
}

// moveStable sets the image and (unless the selector pins the version
// label, which then cannot change) the version label of a stable
// Deployment: a promotion.
func moveStable(s *stream, d *Resource, container, version, image, field string) error {
	i, err := containerIndex(d, container, field)
	if err != nil {
		return err
	}
	s.set(d, templatePath(d, "spec", "containers", i, "image"), image)
	if !d.get("spec", "selector", "matchLabels", versionLabel).exists() {
		s.set(d, templatePath(d, "metadata", "labels", versionLabel), version)
	}
	return nil
}

// promotionStale reports whether the chart moved on since the promotion:
// it renders neither the image the promotion replaced nor the promoted
// one. The chart then wins (the entry is not applied), with a warning: a
// team's next release must not be pinned back silently. An entry without
// Replaces (written before it was recorded) cannot tell and applies.
func (f *canary) promotionStale(d *Resource, p appmesh.Promotion, field string) (bool, error) {
	i, err := containerIndex(d, p.Container, field)
	if err != nil {
		return false, err
	}
	chart := d.get(templatePath(d, "spec", "containers", i, "image")...).str()
	switch {
	case p.Replaces == "":
		f.warnf("%s: no replaces recorded, so the promotion of %s pins image %s whatever the chart renders (fix: add `replaces: %s` if that is the image it replaced, or remove the entry once the chart renders %s)", field, d, p.Image, chart, p.Image)
		return false, nil
	case chart == p.Replaces || chart == p.Image:
		return false, nil
	}
	f.warnf("%s is stale: the chart renders image %s for %s, not %s which the promotion to %s replaced; the chart wins (fix: remove the entry)", field, chart, d, p.Replaces, p.Image)
	return true, nil
}

// containerIndex is the index of the named (or first) container, which
// must have an image.
func containerIndex(d *Resource, container, field string) (int, error) {
	cs := d.get(templatePath(d, "spec", "containers")...)
	if cs.len() == 0 {
		return 0, fmt.Errorf("%s: %s has no containers (fix: name a Deployment with containers)", field, d)
	}
	var names []string
	for i, c := range cs.items() {
		name := c.at("name").str()
		names = append(names, name)
		if container != "" && name != container {
			continue
		}
		if !c.at("image").isScalarNode() {
			return 0, fmt.Errorf("%s: container %q of %s has no image (fix: give the container an image in the chart)", field, name, d)
		}
		return i, nil
	}
	return 0, fmt.Errorf("%s.container: %s has no container %q (fix: use one of: %s)", field, d, container, strings.Join(names, ", "))
}

// copyOf builds the canary copy: the stable Deployment under the name
// "<target>-<version>", with the version label in its labels, selector and
// pod template, and the new image. Its replicas stay the stable's: at
// promotion the copy carries all the traffic.
func (f *canary) copyOf(s *stream, stable *Resource, c *appmesh.Canary) (*Resource, error) {
	cp := stable.copyTree()
	name := CopyName(c.Target, c.Version)
	s.set(cp, path{"metadata", "name"}, name)
	s.set(cp, path{"metadata", "labels", versionLabel}, c.Version)
	s.set(cp, path{"metadata", "labels", CanaryOfLabel}, c.Target)
	if f.am.Metadata.Name != "" {
		s.set(cp, path{"metadata", "labels", appLabel}, f.am.Metadata.Name)
	}
	s.set(cp, path{"spec", "selector", "matchLabels", versionLabel}, c.Version)
	s.set(cp, path{"spec", "template", "metadata", "labels", versionLabel}, c.Version)
	// Only the copy's pods carry it (also once the stable moved to the
	// copy's version label): its PodDisruptionBudget selects them by it.
	s.set(cp, path{"spec", "template", "metadata", "labels", CanaryOfLabel}, c.Target)
	i, err := containerIndex(cp, c.Container, "AppMesh spec.canary")
	if err != nil {
		return nil, err
	}
	s.set(cp, path{"spec", "template", "spec", "containers", i, "image"}, c.Image)
	out, err := cp.derived()
	if err != nil {
		return nil, fmt.Errorf("encode canary copy %s: %w", name, err)
	}
	return out, nil
}

// canaryDestinations are the route destinations of the phase; s is the
// stable's version label.
func canaryDestinations(c *appmesh.Canary, s string) []destination {
	switch c.Phase {
	case appmesh.CanaryLabelling, appmesh.CanaryUnlabelling, appmesh.CanaryFinishing:
		// The stable's version label is being added or removed: while its
		// pods roll, only the Service host has all of them. Finishing: the
		// route no longer names the copy's subset, so removing the copy
		// next changes no route.
		return []destination{{}}
	case appmesh.CanaryPinning, appmesh.CanaryRemoving:
		// Pinning: routing by subset before the copy's pods (which the
		// Service host would include) exist; Removing: after they went.
		return []destination{{subset: s}}
	default:
		return []destination{{subset: s, weight: 100 - c.Weight}, {subset: c.Version, weight: c.Weight}}
	}
}

// warmDestinations are the destinations that the phase before c.Phase
// routed to, or a phase after it may route to, and that dests carries at no
// weight (see canaryPlan.warm); s is the stable's version label. Both ways
// matter: grpc-go also fails a request that picked a cluster of the old
// route when the new one, without it, reaches its balancer first.
func warmDestinations(c *appmesh.Canary, s string, dests []destination) []destination {
	var next []destination
	switch c.Phase {
	case appmesh.CanaryLabelling:
		next = []destination{{subset: s}} // Pinning routes to it
	case appmesh.CanaryPinning:
		next = []destination{{}} // Labelling routed to the host, Unlabelling (abort) will
	case appmesh.CanaryStarting:
		// Pinning routed to the stable subset; weight moves either way next
		next = []destination{{subset: s}, {subset: c.Version}}
	case appmesh.CanaryProgressing, appmesh.CanaryPromoting:
		// weight moves either way, abort goes back to stable
		next = []destination{{subset: s}, {subset: c.Version}}
	case appmesh.CanaryAborting:
		next = []destination{{subset: c.Version}} // it had weight before
	case appmesh.CanaryStabilizing, appmesh.CanaryRemoving:
		next = []destination{{}} // Finishing and Unlabelling route to the host
	case appmesh.CanaryFinishing:
		next = []destination{{subset: c.Version}} // Stabilizing routed to it
	case appmesh.CanaryUnlabelling:
		next = []destination{{subset: s}} // Removing routed to it
	}
	var out []destination
	for _, n := range next {
		carried := slices.ContainsFunc(dests, func(d destination) bool {
			return d.subset == n.subset && (len(dests) == 1 || d.weight > 0)
		})
		if !carried {
			out = append(out, n)
		}
	}
	return out
}

// protectCopy gives the copy what protects the stable: a copy of every
// HorizontalPodAutoscaler scaling the target, scaling the copy instead,
// and of every PodDisruptionBudget selecting the target's pods, selecting
// the copy's pods (by CanaryOfLabel) instead. The stable's budgets are kept
// and exclude the copy's pods (CanaryOfLabel DoesNotExist): a pod covered
// by two budgets cannot be evicted at all, so a node drain would stall.
// They go when the copy goes: the phases without it render none.
func (f *canary) protectCopy(s *stream, stable *Resource, c *appmesh.Canary) error {
	podLabels := labels.Set(stable.get(templatePath(stable, "metadata", "labels")...).labels().Map())
	for _, r := range slices.Clone(s.docs) {
		if r.IsHook() {
			continue
		}
		switch {
		case r.is("autoscaling", "HorizontalPodAutoscaler"):
			ref := r.get("spec", "scaleTargetRef")
			if ref.at("kind").str() != "Deployment" || ref.at("name").str() != c.Target {
				continue
			}
			cp := r.copyTree()
			s.set(cp, path{"metadata", "name"}, CopyName(r.Name, c.Version))
			s.set(cp, path{"metadata", "labels", CanaryOfLabel}, c.Target)
			s.set(cp, path{"spec", "scaleTargetRef", "name"}, CopyName(c.Target, c.Version))
			out, err := cp.derived()
			if err != nil {
				return fmt.Errorf("encode the copy of %s: %w", r, err)
			}
			s.insertAfter(r, out)
		case r.is("policy", "PodDisruptionBudget"):
			sel, err := labelSelector(r.get("spec", "selector"))
			if err != nil {
				return fmt.Errorf("%s spec.selector: %w (fix: correct the selector in the chart)", r, err)
			}
			if sel.Empty() || !sel.Matches(podLabels) {
				continue
			}
			cp := r.copyTree() // before the stable's budget is edited
			s.set(cp, path{"metadata", "name"}, CopyName(r.Name, c.Version))
			s.set(cp, path{"metadata", "labels", CanaryOfLabel}, c.Target)
			s.set(cp, path{"spec", "selector", "matchLabels", CanaryOfLabel}, c.Target)
			list, _ := r.get("spec", "selector", "matchExpressions").value().([]any)
			s.set(r, path{"spec", "selector", "matchExpressions"}, append(slices.Clone(list), map[string]any{"key": CanaryOfLabel, "operator": "DoesNotExist"}))
			out, err := cp.derived()
			if err != nil {
				return fmt.Errorf("encode the copy of %s: %w", r, err)
			}
			s.insertAfter(r, out)
		}
	}
	return nil
}
