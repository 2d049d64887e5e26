package installer

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// objectRef names one object of a release manifest.
type objectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func (o objectRef) String() string {
	if o.Metadata.Namespace == "" {
		return o.Kind + " " + o.Metadata.Name
	}
	return o.Kind + " " + o.Metadata.Namespace + "/" + o.Metadata.Name
}

// manifestObjects names the objects of a release manifest, split into
// documents by Helm (documents that hold only comments are none).
func manifestObjects(docs map[string]string) ([]objectRef, error) {
	out := make([]objectRef, 0, len(docs))
	for _, doc := range docs {
		var o objectRef
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			return nil, fmt.Errorf("parse release manifest: %w", err)
		}
		if o.Kind == "" && o.Metadata.Name == "" {
			continue // only comments: a template that rendered nothing
		}
		out = append(out, o)
	}
	return out, nil
}

// crdNames lists the CustomResourceDefinitions in a release manifest.
func crdNames(manifest string) ([]string, error) {
	objs, err := manifestObjects(releaseutil.SplitManifests(manifest))
	if err != nil {
		return nil, err
	}
	return crdNamesIn(objs), nil
}

func crdNamesIn(objs []objectRef) []string {
	names := []string{}
	for _, o := range objs {
		if o.Kind == "CustomResourceDefinition" {
			names = append(names, o.Metadata.Name)
		}
	}
	return names
}

// missingObjects lists the objects of a deployed release manifest that are
// not in the cluster (deleted behind Helm's back). Comparing the rendered
// manifest with the release record proves the record is current, not that
// the cluster still holds what it lists; an upgrade recreates what is
// missing. One metadata-only list per kind and namespace, not a GET per object.
func (r *run) missingObjects(ctx context.Context, releaseNamespace, manifest string) ([]string, error) {
	objs, err := r.objectsOf(manifest)
	if err != nil {
		return nil, err
	}
	type scope struct {
		gvr       schema.GroupVersionResource
		namespace string
	}
	want := map[scope][]objectRef{}
	var order []scope
	for _, o := range objs {
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("%s: apiVersion %q: %w", o, o.APIVersion, err)
		}
		m, err := r.cl.disco.mapper.RESTMapping(gv.WithKind(o.Kind).GroupKind(), gv.Version)
		if err != nil {
			// The kind is not served at all (its CRD was deleted): missing.
			if meta.IsNoMatchError(err) {
				want[scope{}] = append(want[scope{}], o)
				continue
			}
			return nil, fmt.Errorf("%s: %w", o, err)
		}
		s := scope{gvr: m.Resource}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			s.namespace = o.Metadata.Namespace
			if s.namespace == "" {
				s.namespace = releaseNamespace // as Helm creates it
			}
		}
		if _, ok := want[s]; !ok {
			order = append(order, s)
		}
		want[s] = append(want[s], o)
	}
	var missing []string
	for _, o := range want[scope{}] {
		missing = append(missing, o.String())
	}
	for _, s := range order {
		list, err := r.cl.meta.Resource(s.gvr).Namespace(s.namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %s in %q: %w", s.gvr, s.namespace, err)
		}
		have := map[string]bool{}
		for _, item := range list.Items {
			have[item.Name] = true
		}
		for _, o := range want[s] {
			if !have[o.Metadata.Name] {
				missing = append(missing, o.String())
			}
		}
	}
	return missing, nil
}
