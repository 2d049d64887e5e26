package installer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
// documents as Helm splits it (documents that hold only comments are none).
// objectHeader reads a document written as Helm's charts write them; any
// other is parsed in full.
func manifestObjects(docs []string) ([]objectRef, error) {
	out := make([]objectRef, 0, len(docs))
	for _, doc := range docs {
		if o, ok := objectHeader(doc); ok {
			out = append(out, o)
			continue
		}
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
	objs, err := manifestObjects(splitManifest(manifest))
	if err != nil {
		return nil, err
	}
	return crdNamesIn(objs), nil
}

// isCRD says whether o is a CustomResourceDefinition.
func isCRD(o objectRef) bool {
	return o.Kind == "CustomResourceDefinition" && strings.HasPrefix(o.APIVersion, "apiextensions.k8s.io/")
}

func crdNamesIn(objs []objectRef) []string {
	names := []string{}
	for _, o := range objs {
		if isCRD(o) {
			names = append(names, o.Metadata.Name)
		}
	}
	return names
}

// missingObjects lists the objects of a deployed release manifest that are
// not in the cluster (deleted behind Helm's back). Comparing the rendered
// manifest with the release record proves the record is current, not that
// the cluster still holds what it lists; an upgrade recreates what is
// missing. Metadata-only GETs by name, several at a time: the cost follows
// the release, not how many objects of each kind the cluster has, and a
// distant API server costs a few round trips, not one per object.
func (r *run) missingObjects(ctx context.Context, releaseNamespace, manifest string) ([]string, error) {
	objs, err := r.objectsOf(manifest)
	if err != nil {
		return nil, err
	}
	found := make([]bool, len(objs))
	errs := make([]error, len(objs))
	// A CRD whose resource discovery lists exists (and is Established):
	// no GET of its (large) object needed.
	var crds []string
	for _, o := range objs {
		if isCRD(o) {
			crds = append(crds, o.Metadata.Name)
		}
	}
	unlisted, err := r.cl.crdsInDiscovery(crds)
	if err != nil {
		return nil, err
	}
	sem := make(chan struct{}, missingCheckParallel)
	var wg sync.WaitGroup
	for i, o := range objs {
		if isCRD(o) && !slices.Contains(unlisted, o.Metadata.Name) {
			found[i] = true
			continue
		}
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("%s: apiVersion %q: %w", o, o.APIVersion, err)
		}
		m, err := r.cl.disco.mapper.RESTMapping(gv.WithKind(o.Kind).GroupKind(), gv.Version)
		if meta.IsNoMatchError(err) {
			continue // the kind is not served at all (its CRD was deleted): missing
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o, err)
		}
		ns := ""
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns = o.Metadata.Namespace
			if ns == "" {
				ns = releaseNamespace // as Helm creates it
			}
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := r.cl.meta.Resource(m.Resource).Namespace(ns).Get(ctx, o.Metadata.Name, metav1.GetOptions{})
			switch {
			case err == nil:
				found[i] = true
			case !apierrors.IsNotFound(err):
				errs[i] = fmt.Errorf("get %s: %w", o, err)
			}
		})
	}
	wg.Wait()
	var missing []string
	for i, o := range objs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if !found[i] {
			missing = append(missing, o.String())
		}
	}
	return missing, nil
}

// missingCheckParallel bounds the concurrent GETs of missingObjects (well
// within the client's burst).
const missingCheckParallel = 16
