package installer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Ownership of namespaces. Uninstall deletes a namespace only when both hold:
// the installer created it (CreatedByAnnotation = CreatorInstaller, written
// at creation, never added to an existing namespace) and, once the releases
// are gone, it holds nothing but what the installer, Kubernetes or istiod put
// there (namespaceContents). Other meshbundle commands that create namespaces
// (`gateway add`, `cluster link`) record themselves as the creator, so
// uninstall never takes a namespace an app team later deployed into.
const (
	// CreatedByAnnotation records which meshbundle command created a namespace.
	CreatedByAnnotation = "meshbundle.dev/created-by"
	// CreatorInstaller is the installer's value of CreatedByAnnotation.
	CreatorInstaller = "installer"
)

// Kept is one group of objects uninstall left in place on purpose, and why.
type Kept struct {
	Kind   string   `json:"kind"`
	Names  []string `json:"names"`
	Reason string   `json:"reason"`
}

// createNamespace creates a namespace recording its creator; an existing
// namespace is left as it is (its creator is whoever made it).
func (c *cluster) createNamespace(ctx context.Context, name, creator string) error {
	_, err := c.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{CreatedByAnnotation: creator}}}
	if creator == CreatorInstaller {
		// The label only narrows uninstall's list; the annotation decides.
		ns.Labels = map[string]string{ManagedLabel: "true"}
	}
	if _, err := c.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// istiodManager is the field manager of istiod's own writes (its CA Secret,
// leader-election locks in its namespace).
const istiodManager = "pilot-discovery"

// releaseSet names Helm releases as namespace/name.
type releaseSet map[string]bool

func (p *Plan) releaseSet() releaseSet {
	out := releaseSet{}
	for _, r := range p.Releases {
		out[r.Namespace+"/"+r.Name] = true
	}
	return out
}

// ownedBy says whether Helm's ownership annotations name one of the releases.
func (s releaseSet) ownedBy(m metav1.Object) bool {
	a := m.GetAnnotations()
	return s[a["meta.helm.sh/release-namespace"]+"/"+a["meta.helm.sh/release-name"]]
}

// notOurs says why an object found in a namespace is not the installer's,
// Kubernetes' or istiod's ("" when it is one of those). Derived objects
// (with owner references: Pods of ReplicaSets, EndpointSlices) are judged by
// their owner, which is listed too; Events and Endpoints mirror others.
func notOurs(gr schema.GroupResource, o metav1.Object, ours releaseSet) bool {
	switch {
	case o.GetDeletionTimestamp() != nil, len(o.GetOwnerReferences()) > 0:
		return false
	case gr.Resource == "events", gr.Group == "" && gr.Resource == "endpoints":
		return false
	case gr.Group == "" && gr.Resource == "serviceaccounts" && o.GetName() == "default":
		return false // every namespace's
	case gr.Group == "" && gr.Resource == "configmaps" && (o.GetName() == "kube-root-ca.crt" || o.GetName() == "istio-ca-root-cert"):
		return false // the controller-manager's and istiod's copies in every namespace
	case ours.ownedBy(o):
		return false
	case gr.Group == "" && gr.Resource == "secrets" && o.GetLabels()["owner"] == "helm" && ours[o.GetNamespace()+"/"+o.GetLabels()["name"]]:
		return false // a release record of ours
	}
	mf := o.GetManagedFields()
	return len(mf) == 0 || slices.ContainsFunc(mf, func(e metav1.ManagedFieldsEntry) bool { return e.Manager != istiodManager })
}

// namespaceContents lists the objects in ns that are not the installer's,
// Kubernetes' or istiod's, as "Kind name" (sorted). It lists every namespaced
// kind the API server serves, metadata only, 16 at a time. A kind that
// cannot be listed is an error: then nothing proves the namespace empty.
func (c *cluster) namespaceContents(ctx context.Context, ns string, ours releaseSet) ([]string, error) {
	lists, err := c.disco.client.ServerPreferredNamespacedResources()
	if err != nil {
		// Partial discovery too: a group that cannot be listed could hold anything.
		return nil, fmt.Errorf("discover namespaced kinds: %w", err)
	}
	type kind struct {
		gvr  schema.GroupVersionResource
		name string
	}
	var kinds []kind
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return nil, err
		}
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") || !slices.Contains(res.Verbs, "list") {
				continue
			}
			kinds = append(kinds, kind{gvr: gv.WithResource(res.Name), name: res.Kind})
		}
	}
	var (
		mu    sync.Mutex
		found []string
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 16)
	)
	for _, k := range kinds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			list, err := c.meta.Resource(k.gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
					errs = append(errs, fmt.Errorf("list %s in namespace %s: %w", k.gvr.GroupResource(), ns, err))
				}
				return
			}
			for i := range list.Items {
				if notOurs(k.gvr.GroupResource(), &list.Items[i], ours) {
					found = append(found, k.name+" "+list.Items[i].Name)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Strings(found)
	return found, nil
}

// istioConfig lists the custom resources of the named CRDs that are not
// objects of our releases (the mesh-wide Telemetry is), grouped by
// namespace ("" for cluster-scoped): what deleting the CRDs would delete.
func (c *cluster) istioConfig(ctx context.Context, crds []string, ours releaseSet) (map[string][]string, int, error) {
	var (
		mu    sync.Mutex
		byNS  = map[string][]string{}
		total int
		errs  []error
		wg    sync.WaitGroup
	)
	for _, name := range crds {
		wg.Go(func() {
			crd, err := c.apiext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("get CRD %s: %w", name, err))
				mu.Unlock()
				return
			}
			version := ""
			for _, v := range crd.Spec.Versions {
				if v.Storage {
					version = v.Name
				}
			}
			gvr := schema.GroupVersionResource{Group: crd.Spec.Group, Version: version, Resource: crd.Spec.Names.Plural}
			list, err := c.meta.Resource(gvr).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("list %s: %w", gvr.GroupResource(), err))
				return
			}
			for i := range list.Items {
				o := &list.Items[i]
				if ours.ownedBy(o) || istiodGatewayClass(crd.Spec.Group, crd.Spec.Names.Kind, o) {
					continue
				}
				byNS[o.Namespace] = append(byNS[o.Namespace], crd.Spec.Names.Kind+" "+o.Name)
				total++
			}
		})
	}
	wg.Wait()
	for _, l := range byNS {
		sort.Strings(l)
	}
	return byNS, total, errors.Join(errs...)
}

// istiodGatewayClass says whether o is a GatewayClass istiod created for
// itself (istio, istio-remote, istio-waypoint, ...: it writes them as soon
// as the Gateway API CRDs exist): written by istiod alone, it is nobody's
// config and goes with the CRD.
func istiodGatewayClass(group, kind string, o metav1.Object) bool {
	if group != "gateway.networking.k8s.io" || kind != "GatewayClass" {
		return false
	}
	mf := o.GetManagedFields()
	return len(mf) > 0 && !slices.ContainsFunc(mf, func(e metav1.ManagedFieldsEntry) bool { return e.Manager != istiodManager })
}

// describeConfig says how many Istio config objects exist and where, for a
// refusal: "7 in 2 namespaces: shop (3: DestinationRule web, ...), ...".
func describeConfig(byNS map[string][]string, total int) string {
	nss := make([]string, 0, len(byNS))
	for ns := range byNS {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	parts := make([]string, 0, len(nss))
	for _, ns := range nss {
		where := ns
		if where == "" {
			where = "cluster-scoped"
		}
		parts = append(parts, fmt.Sprintf("%s (%d: %s)", where, len(byNS[ns]), abbreviate(byNS[ns], 3)))
	}
	return fmt.Sprintf("%d in %d namespaces: %s", total, len(nss), strings.Join(parts, ", "))
}

// abbreviate joins the first n items and says how many more there are.
func abbreviate(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// existingCRDs returns the named CRDs the cluster has (parallel GETs).
func (c *cluster) existingCRDs(ctx context.Context, names []string) ([]string, error) {
	found := make([]bool, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			_, err := c.apiext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			switch {
			case err == nil:
				found[i] = true
			case !apierrors.IsNotFound(err):
				errs[i] = fmt.Errorf("get CRD %s: %w", name, err)
			}
		})
	}
	wg.Wait()
	var out []string
	for i, name := range names {
		if found[i] {
			out = append(out, name)
		}
	}
	return out, errors.Join(errs...)
}
