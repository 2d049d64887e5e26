package installer

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/releaseutil"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/failure"
)

// Revision tags (`meshbundle tag set|list|remove`, like `istioctl tag`): a
// tag is a MutatingWebhookConfiguration istio-revision-tag-<tag> and a
// Service istiod-revision-tag-<tag> that inject namespaces labelled
// istio.io/rev=<tag> from the revision the tag points at. Moving the tag
// and restarting a namespace's workloads moves them to another revision.
// The objects are rendered by Istio's own istiod chart (its
// revision-tags-mwc.yaml and revision-tags-svc.yaml templates, what Istio's
// Helm upgrade guide applies for tags) for the revision's release, with the
// CA bundle of that revision's injector, so injection works the moment the
// tag moves.

// TagLabel names the tag on its webhook and Service (Istio's istio.io/tag).
const TagLabel = "istio.io/tag"

// TagInfo is one revision tag.
type TagInfo struct {
	Tag        string   `json:"tag"`
	Revision   string   `json:"revision"`
	Namespaces []string `json:"namespaces"`
}

func tagWebhookName(tag string) string { return "istio-revision-tag-" + tag }

// operateTag connects, takes the lease, runs fn, releases the lease.
func operateTag(ctx context.Context, opts Options, op string, fn func(ctx context.Context, r *run) error) error {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	_, err := operate(ctx, opts, op, nil, func(r *run, ctx context.Context) error {
		plan, err := NewPlan(r.opts.Source)
		if err != nil {
			return err
		}
		r.plan = plan
		if err := r.connect(ctx); err != nil {
			return err
		}
		return fn(ctx, r)
	})
	return err
}

// TagSet points tag at revision ("default": the istiod release), creating
// the tag or, with overwrite, moving it.
func TagSet(ctx context.Context, opts Options, tagName, revision string, overwrite bool) error {
	if msgs := validation.IsDNS1123Label(tagName); len(msgs) > 0 {
		return failure.BadInputf("tag %q: must be a DNS-1123 label (%s) (fix: use a name such as prod or canary)", tagName, strings.Join(msgs, "; "))
	}
	if tagName == DefaultRevision {
		return failure.BadInputf("tag default: the default revision's own injector serves istio-injection=enabled namespaces " +
			"(fix: pin namespaces to a named tag instead: istio.io/rev=<tag>, AppMesh spec.injection.revision)")
	}
	if revision == "" {
		revision = DefaultRevision
	}
	opts.Source.Revision = revision
	return operateTag(ctx, opts, "tag set", func(ctx context.Context, r *run) error {
		rels := r.plan.revisionRelease()
		if len(rels) == 0 {
			return failure.BadInputf("revision %s: no istiod release planned for it (fix: name a revision the IstioOperator installs)", revision)
		}
		rel := rels[0]
		cfg, err := r.cl.helmConfig(rel.Namespace)
		if err != nil {
			return err
		}
		if _, err := cfg.Releases.Deployed(rel.Name); err != nil {
			return failure.BadInputf("revision %s: release %s/%s is not deployed (%v) (fix: install it first with `meshbundle install --revision %s`)", revision, rel.Namespace, rel.Name, err, revision)
		}
		cur, err := r.cl.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, tagWebhookName(tagName), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			cur = nil
		case err != nil:
			return fmt.Errorf("tag %s: %w", tagName, err)
		case cur.Labels[RevisionLabel] != revision && !overwrite:
			return failure.BadInputf("tag %s points at revision %s (fix: pass --overwrite to move it to %s)", tagName, cur.Labels[RevisionLabel], revision)
		}
		mwc, svc, err := r.renderTag(rel, tagName)
		if err != nil {
			return err
		}
		// The revision's own injector carries the CA bundle its istiod patched in.
		injector := "istio-sidecar-injector"
		if revision != DefaultRevision {
			injector += "-" + revision
		}
		own, err := r.cl.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, injector, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("revision %s: its injector %s: %w", revision, injector, err)
		}
		if len(own.Webhooks) > 0 {
			for i := range mwc.Webhooks {
				mwc.Webhooks[i].ClientConfig.CABundle = own.Webhooks[0].ClientConfig.CABundle
			}
		}
		whs := r.cl.kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
		if cur == nil {
			_, err = whs.Create(ctx, mwc, metav1.CreateOptions{})
		} else {
			mwc.ResourceVersion = cur.ResourceVersion
			_, err = whs.Update(ctx, mwc, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("tag %s: write MutatingWebhookConfiguration %s: %w", tagName, mwc.Name, err)
		}
		svcs := r.cl.kube.CoreV1().Services(svc.Namespace)
		old, err := svcs.Get(ctx, svc.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = svcs.Create(ctx, svc, metav1.CreateOptions{})
		case err == nil:
			svc.ResourceVersion, svc.Spec.ClusterIP, svc.Spec.ClusterIPs = old.ResourceVersion, old.Spec.ClusterIP, old.Spec.ClusterIPs
			_, err = svcs.Update(ctx, svc, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("tag %s: write Service %s/%s: %w", tagName, svc.Namespace, svc.Name, err)
		}
		return nil
	})
}

// renderTag renders the revision's istiod release with revisionTags
// [tag] and returns the tag's webhook configuration and Service.
func (r *run) renderTag(rel PlannedRelease, tagName string) (*admissionv1.MutatingWebhookConfiguration, *corev1.Service, error) {
	vals := make(map[string]any, len(rel.Values)+1)
	for k, v := range rel.Values {
		vals[k] = v
	}
	vals["revisionTags"] = []any{tagName}
	rel.Values = vals
	out, err := renderRelease(rel, r.cl.kubeVersion, r.cl.apiVersions, true)
	if err != nil {
		return nil, nil, err
	}
	var mwc *admissionv1.MutatingWebhookConfiguration
	var svc *corev1.Service
	for _, doc := range releaseutil.SplitManifests(out.Manifest) {
		var err error
		switch {
		case strings.Contains(doc, "# Source: istiod/templates/revision-tags-mwc.yaml"):
			mwc = &admissionv1.MutatingWebhookConfiguration{}
			err = yaml.Unmarshal([]byte(doc), mwc)
		case strings.Contains(doc, "# Source: istiod/templates/revision-tags-svc.yaml"):
			svc = &corev1.Service{}
			err = yaml.Unmarshal([]byte(doc), svc)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("tag %s: decode the chart's tag objects: %w", tagName, err)
		}
	}
	if mwc == nil || svc == nil {
		return nil, nil, fmt.Errorf("tag %s: the istiod chart rendered no revision-tag webhook and Service", tagName)
	}
	return mwc, svc, nil
}

// TagRemove removes a tag; refused (nothing changed) while namespaces select
// it, since their new pods would no longer be injected, unless force.
func TagRemove(ctx context.Context, opts Options, tagName string, force bool) error {
	return operateTag(ctx, opts, "tag remove", func(ctx context.Context, r *run) error {
		whs := r.cl.kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
		if _, err := whs.Get(ctx, tagWebhookName(tagName), metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return failure.BadInputf("tag %q does not exist (fix: name one that `meshbundle tag list` shows)", tagName)
		} else if err != nil {
			return fmt.Errorf("tag %s: %w", tagName, err)
		}
		nss, err := r.cl.namespacesSelecting(ctx, tagName)
		if err != nil {
			return err
		}
		if len(nss) > 0 && !force {
			return failure.InUsef("refusing to remove tag %s, nothing was changed: namespaces %s select it (%s=%s) and their new pods would not be injected; "+
				"point them at another tag or revision first, or pass --force", tagName, strings.Join(nss, ", "), RevisionLabel, tagName)
		}
		if err := whs.Delete(ctx, tagWebhookName(tagName), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("tag %s: delete its MutatingWebhookConfiguration: %w", tagName, err)
		}
		err = r.cl.kube.CoreV1().Services(r.plan.IstioNamespace).Delete(ctx, "istiod-revision-tag-"+tagName, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("tag %s: delete its Service: %w", tagName, err)
		}
		return nil
	})
}

// TagList lists the tags, the revision each points at and the namespaces
// selecting it, sorted by tag. It writes nothing (no lease).
func TagList(ctx context.Context, opts Options) ([]TagInfo, error) {
	c, err := connect(opts)
	if err != nil {
		return nil, err
	}
	return c.tags(ctx)
}

func (c *cluster) tags(ctx context.Context) ([]TagInfo, error) {
	whs, err := c.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: TagLabel})
	if err != nil {
		return nil, fmt.Errorf("list revision tags: %w", err)
	}
	out := []TagInfo{}
	for _, wh := range whs.Items {
		name := wh.Labels[TagLabel]
		nss, err := c.namespacesSelecting(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, TagInfo{Tag: name, Revision: wh.Labels[RevisionLabel], Namespaces: nss})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out, nil
}

// namespacesSelecting lists the namespaces labelled istio.io/rev=<name>.
func (c *cluster) namespacesSelecting(ctx context.Context, name string) ([]string, error) {
	nss, err := c.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: RevisionLabel + "=" + name})
	if err != nil {
		return nil, fmt.Errorf("list namespaces labelled %s=%s: %w", RevisionLabel, name, err)
	}
	out := []string{}
	for _, ns := range nss.Items {
		out = append(out, ns.Name)
	}
	sort.Strings(out)
	return out, nil
}
