package renderer

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshbundle/meshbundle/appmesh"
)

// The canary is two filters around routes, so that the routes filter sees
// the pods as they will run and renders the DestinationRule subsets itself:
//
//	canaryWorkloads (before routes): promotions pinned on stable Deployments;
//	    the stable's pod-template "version" label; the copy "<target>-<version>".
//	canaryRoutes (after routes): the VirtualService destinations of the phase
//	    (weights, or the plain Service host while the stable's label changes)
//	    and every routed subset present in the DestinationRule.
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

type canaryWorkloads struct{ *env }

func newCanaryWorkloads(e *env) *canaryWorkloads { return &canaryWorkloads{e} }

type canaryRoutes struct{ *env }

func newCanaryRoutes(e *env) *canaryRoutes { return &canaryRoutes{e} }

// deploymentIndex maps the names of the chart's non-hook Deployments.
func deploymentIndex(rs []*Resource) map[string]*Resource {
	out := map[string]*Resource{}
	for _, r := range rs {
		if r.Kind == "Deployment" && r.Group() == "apps" && !r.IsHook() {
			out[r.Name] = r
		}
	}
	return out
}

func (f *canaryWorkloads) Filter(rs []*Resource) ([]*Resource, error) {
	c := f.am.Spec.Canary
	if c == nil && len(f.am.Spec.Promoted) == 0 {
		return rs, nil
	}
	deps := deploymentIndex(rs)
	var errs []error
	for i, p := range f.am.Spec.Promoted {
		field := fmt.Sprintf("AppMesh spec.promoted[%d]", i)
		d, ok := deps[p.Deployment]
		if !ok {
			errs = append(errs, fmt.Errorf("%s.deployment: the chart renders no Deployment %q (fix: use one of: %s, or remove the entry)", field, p.Deployment, strings.Join(sortedKeys(deps), ", ")))
			continue
		}
		if err := moveStable(d, p.Container, p.Version, p.Image, field); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if c == nil {
		return rs, nil
	}
	stable, err := canaryTarget(rs, deps, c, true)
	if err != nil {
		return nil, err
	}
	tmpl := podTemplate(stable)
	sv := stableVersion(stable)
	if sv == c.Version {
		return nil, fmt.Errorf("AppMesh spec.canary.version: %q is already the version of the stable %s (fix: give the canary a new version label)", c.Version, stable)
	}
	if sv == DefaultStableVersion && scalar(lookup(tmpl, "metadata", "labels", versionLabel)) == "" {
		// Only the template, never the immutable selector.
		stable.setIn(tmpl, []string{"metadata", "labels"}, versionLabel, sv)
	}
	if !c.Phase.CopyRuns() {
		return rs, nil
	}
	cp, err := f.copyOf(stable, c)
	if err != nil {
		return nil, err
	}
	if c.Phase == appmesh.CanaryStabilizing {
		if err := moveStable(stable, c.Container, c.Version, c.Image, "AppMesh spec.canary"); err != nil {
			return nil, err
		}
	}
	// The copy goes right after its stable Deployment, so a reader of the
	// output finds them together.
	i := slices.Index(rs, stable)
	return slices.Insert(rs, i+1, cp), nil
}

// canaryTarget finds the stable Deployment and checks that a Service
// selects its pods.
// checkClash refuses a chart Deployment with the copy's name (before the
// copy is added).
func canaryTarget(rs []*Resource, deps map[string]*Resource, c *appmesh.Canary, checkClash bool) (*Resource, error) {
	stable, ok := deps[c.Target]
	if !ok {
		return nil, fmt.Errorf("AppMesh spec.canary.target: the chart renders no Deployment %q (fix: use one of: %s)", c.Target, strings.Join(sortedKeys(deps), ", "))
	}
	if podTemplate(stable) == nil {
		return nil, fmt.Errorf("AppMesh spec.canary.target: %s has no pod template (spec.template)", stable)
	}
	if len(servicesOf(rs, stable)) == 0 {
		return nil, fmt.Errorf("AppMesh spec.canary.target: no Service of the chart selects the pods of %s; a canary splits the traffic of a Service (fix: add a Service for it to the chart)", stable)
	}
	if checkClash && c.Phase.CopyRuns() {
		if _, clash := deps[CopyName(c.Target, c.Version)]; clash {
			return nil, fmt.Errorf("AppMesh spec.canary.version: the chart already renders Deployment %q, the name of the canary copy (fix: choose another version)", CopyName(c.Target, c.Version))
		}
	}
	return stable, nil
}

// servicesOf returns the non-hook Services whose selector matches the
// Deployment's pod template labels.
func servicesOf(rs []*Resource, d *Resource) []*Resource {
	lbls := labels.Set(stringMap(lookup(podTemplate(d), "metadata", "labels")))
	var out []*Resource
	for _, r := range rs {
		if r.Kind != "Service" || r.Group() != "" || r.IsHook() {
			continue
		}
		if sel := serviceSelector(r); len(sel) > 0 && labels.SelectorFromSet(sel).Matches(lbls) {
			out = append(out, r)
		}
	}
	return out
}

// stableVersion is the version label of the stable's pod template, or
// DefaultStableVersion when it has none.
func stableVersion(d *Resource) string {
	if v := scalar(lookup(podTemplate(d), "metadata", "labels", versionLabel)); v != "" {
		return v
	}
	return DefaultStableVersion
}

// selectorPinsVersion reports whether the Deployment's selector includes
// the version label; then the template label cannot change.
func selectorPinsVersion(d *Resource) bool {
	return d.Lookup("spec", "selector", "matchLabels", versionLabel) != nil
}

// moveStable sets the image and (unless the selector pins it) the version
// label of a stable Deployment: a promotion.
func moveStable(d *Resource, container, version, image, field string) error {
	tmpl := podTemplate(d)
	img, err := containerImage(d, tmpl, container, field)
	if err != nil {
		return err
	}
	d.setScalar(img, image)
	if !selectorPinsVersion(d) {
		d.setIn(tmpl, []string{"metadata", "labels"}, versionLabel, version)
	}
	return nil
}

// containerImage returns the image node of the named (or first) container.
func containerImage(d *Resource, tmpl *yaml.Node, container, field string) (*yaml.Node, error) {
	cs := lookup(tmpl, "spec", "containers")
	if cs == nil || cs.Kind != yaml.SequenceNode || len(cs.Content) == 0 {
		return nil, fmt.Errorf("%s: %s has no containers", field, d)
	}
	var names []string
	for _, c := range cs.Content {
		name := scalar(mapValue(c, "name"))
		names = append(names, name)
		if container != "" && name != container {
			continue
		}
		img := mapValue(c, "image")
		if img == nil || img.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s: container %q of %s has no image", field, name, d)
		}
		return img, nil
	}
	return nil, fmt.Errorf("%s.container: %s has no container %q (fix: use one of: %s)", field, d, container, strings.Join(names, ", "))
}

// copyOf builds the canary copy: the stable Deployment under the name
// "<target>-<version>", with the version label in its labels, selector and
// pod template, and the new image. Its replicas stay the stable's: at
// promotion the copy carries all the traffic.
func (f *canaryWorkloads) copyOf(stable *Resource, c *appmesh.Canary) (*Resource, error) {
	obj := deepCopy(stable.root())
	cp := &Resource{doc: &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{obj}}, obj: obj, APIVersion: stable.APIVersion, Kind: stable.Kind, Namespace: stable.Namespace}
	name := CopyName(c.Target, c.Version)
	set := func(path []string, key, value string) {
		cur := obj
		for _, p := range path {
			next := mapValue(cur, p)
			if next == nil {
				next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				cur.Content = append(cur.Content, strNode(p), next)
			}
			cur = next
		}
		if v := mapValue(cur, key); v != nil {
			*v = *strNode(value)
			return
		}
		cur.Content = append(cur.Content, strNode(key), strNode(value))
	}
	set([]string{"metadata"}, "name", name)
	set([]string{"metadata", "labels"}, versionLabel, c.Version)
	set([]string{"metadata", "labels"}, CanaryOfLabel, c.Target)
	if f.am.Metadata.Name != "" {
		set([]string{"metadata", "labels"}, appLabel, f.am.Metadata.Name)
	}
	set([]string{"spec", "selector", "matchLabels"}, versionLabel, c.Version)
	set([]string{"spec", "template", "metadata", "labels"}, versionLabel, c.Version)
	img, err := containerImage(cp, lookup(obj, "spec", "template"), c.Container, "AppMesh spec.canary")
	if err != nil {
		return nil, err
	}
	*img = *strNode(c.Image)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cp.doc); err != nil {
		return nil, fmt.Errorf("encode canary copy %s: %w", name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode canary copy %s: %w", name, err)
	}
	// Re-read so the copy is an ordinary document of the stream.
	out, err := parseResource(buf.Bytes())
	if err != nil || out == nil {
		return nil, fmt.Errorf("re-read canary copy %s: %v", name, err)
	}
	return out, nil
}

// destination is one weighted destination of a route.
type destination struct {
	subset string // "" = the Service host itself
	weight int32  // written only when the route has several destinations
}

// canaryDestinations are the route destinations of the phase; s is the
// stable's version label.
func canaryDestinations(c *appmesh.Canary, s string) []destination {
	switch c.Phase {
	case appmesh.CanaryLabelling, appmesh.CanaryUnlabelling:
		// The stable's version label is being added or removed: while its
		// pods roll, only the Service host has all of them.
		return []destination{{}}
	case appmesh.CanaryRemoving:
		return []destination{{subset: s}}
	default:
		return []destination{{subset: s, weight: 100 - c.Weight}, {subset: c.Version, weight: c.Weight}}
	}
}

func (f *canaryRoutes) Filter(rs []*Resource) ([]*Resource, error) {
	c := f.am.Spec.Canary
	if c == nil {
		return rs, nil
	}
	deps := deploymentIndex(rs)
	stable, err := canaryTarget(rs, deps, c, false)
	if err != nil {
		return nil, err
	}
	s := stableVersion(stable)
	routed := map[string]bool{}
	for _, r := range f.am.Spec.Routes {
		routed[r.Service] = true
	}
	vsByHost, drByHost := (&routes{f.env}).istioIndex(rs)
	var hosts []string
	var unrouted []string
	for _, svc := range servicesOf(rs, stable) {
		if !routed[svc.Name] {
			unrouted = append(unrouted, svc.Name)
			continue
		}
		hosts = append(hosts, f.serviceHost(svc))
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("AppMesh spec.canary.target: Deployment %s is behind Service %s, which has no route; the canary's weights live in its VirtualService and DestinationRule (fix: add `- service: %s` to spec.routes)",
			c.Target, strings.Join(unrouted, ", "), unrouted[0])
	}
	dests := canaryDestinations(c, s)
	if c.Phase == appmesh.CanaryStabilizing && s == c.Version {
		// The stable moved to the canary's version label: both Deployments
		// serve the one subset, and the old subset has no pods left (a
		// subset without pods is analyzer error IST0173).
		dests = []destination{{subset: c.Version}}
	}
	for _, host := range hosts {
		vss, drs := vsByHost[host], drByHost[host]
		if len(vss) != 1 || len(drs) != 1 {
			return nil, fmt.Errorf("AppMesh spec.canary: host %s needs exactly one VirtualService and one DestinationRule from the routes filter, found %d and %d (fix: check spec.routes for the Service)", host, len(vss), len(drs))
		}
		if err := f.setDestinations(vss[0].res, host, dests); err != nil {
			return nil, err
		}
		f.ensureSubsets(drs[0].res, dests)
	}
	return rs, nil
}

// setDestinations replaces the destinations of every HTTP and TCP route of
// the VirtualService that sends traffic to host.
func (f *canaryRoutes) setDestinations(vs *Resource, host string, dests []destination) error {
	n := 0
	for _, kind := range []string{"http", "tcp", "tls"} {
		list := vs.Lookup("spec", kind)
		if list == nil || list.Kind != yaml.SequenceNode {
			continue
		}
		for _, route := range list.Content {
			rt := mapValue(route, "route")
			if rt == nil || rt.Kind != yaml.SequenceNode || len(rt.Content) == 0 {
				continue
			}
			first := mapValue(rt.Content[0], "destination")
			if f.resolveHost(scalar(mapValue(first, "host")), vs) != host {
				continue
			}
			var out []*yaml.Node
			for _, d := range dests {
				dst := deepCopy(first)
				setOrDelete(dst, "subset", d.subset)
				entry := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{strNode("destination"), dst}}
				if len(dests) > 1 {
					entry.Content = append(entry.Content, strNode("weight"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(int(d.weight))})
				}
				out = append(out, entry)
			}
			rt.Content = out
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("%s: no route sends traffic to %s (fix: check spec.routes, or adopt: true)", vs, host)
	}
	vs.markDirty()
	return nil
}

func (f *canaryRoutes) resolveHost(h string, r *Resource) string {
	return (&routes{f.env}).resolveHost(h, r)
}

// ensureSubsets adds a subset for every routed version the routes filter
// did not see (the old stable version during Stabilizing).
func (f *canaryRoutes) ensureSubsets(dr *Resource, dests []destination) {
	subsets := dr.Lookup("spec", "subsets")
	if subsets == nil {
		spec := dr.Lookup("spec")
		subsets = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		spec.Content = append(spec.Content, strNode("subsets"), subsets)
	}
	have := map[string]bool{}
	for _, s := range subsets.Content {
		have[scalar(mapValue(s, "name"))] = true
	}
	changed := false
	for _, d := range dests {
		if d.subset == "" || have[d.subset] {
			continue
		}
		have[d.subset] = true
		subsets.Content = append(subsets.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
			strNode("labels"), {Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{strNode(versionLabel), strNode(d.subset)}},
			strNode("name"), strNode(d.subset),
		}})
		changed = true
	}
	if changed {
		slices.SortStableFunc(subsets.Content, func(a, b *yaml.Node) int {
			return strings.Compare(scalar(mapValue(a, "name")), scalar(mapValue(b, "name")))
		})
		dr.markDirty()
	}
}

// setOrDelete sets m[key] to a string, or removes the key when value is "".
func setOrDelete(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			if value == "" {
				m.Content = append(m.Content[:i], m.Content[i+2:]...)
			} else {
				m.Content[i+1] = strNode(value)
			}
			return
		}
	}
	if value != "" {
		m.Content = append(m.Content, strNode(key), strNode(value))
	}
}
