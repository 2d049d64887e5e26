package installer

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshbundle/meshbundle/failure"
)

// Revision-based control-plane upgrades (Istio's recommended path): a
// second istiod, release istiod-<rev>, runs beside the first with its own
// revision-labelled injector (istio-sidecar-injector-<rev>, namespaces
// labelled istio.io/rev=<rev> or a tag pointing at it); tags move namespaces
// between revisions (tag.go); a revision is removed only when no proxy uses
// it (RevisionInUseError).

// DefaultRevision is the revision of the istiod release without --revision.
const DefaultRevision = "default"

// RevisionLabel selects a namespace's revision or tag (a label), and is the
// annotation Istio's injector puts on every pod it injects (the revision,
// never a tag).
const RevisionLabel = "istio.io/rev"

// validateRevision checks a --revision value: a DNS label that fits Helm's
// release name limit as istiod-<rev>.
func validateRevision(rev string) error {
	if msgs := validation.IsDNS1123Label(rev); len(msgs) > 0 || len("istiod-"+rev) > 53 {
		return failure.BadInputf("--revision %q: must be a DNS-1123 label of at most 46 characters (%s) (fix: use a name such as 1-31-0 or canary)", rev, strings.Join(msgs, "; "))
	}
	return nil
}

// applyRevision makes the plan's istiod release the revision's: release and
// Deployment istiod-<rev>, values.revision set (what istioctl's --revision
// sets; the chart names every revisioned object from it). The other
// releases stay those of the default plan, so they are left unchanged.
func (p *Plan) applyRevision(rev string) error {
	p.Revision = rev
	if rev == "" || rev == DefaultRevision {
		return nil // the istiod release
	}
	if err := validateRevision(rev); err != nil {
		return err
	}
	if iop := p.IstioOperator.GetPathString("spec.values.revision"); iop != "" && iop != rev {
		return failure.BadInputf("--revision %s conflicts with the IstioOperator's spec.revision %q (fix: set one of them)", rev, iop)
	}
	for i, r := range p.Releases {
		if r.Phase == PhaseIstiod && r.Name == ReleaseIstiod {
			vals := make(map[string]any, len(r.Values)+1)
			for k, v := range r.Values {
				vals[k] = v
			}
			vals["revision"] = rev
			p.Releases[i].Name, p.Releases[i].Workload, p.Releases[i].Values = ReleaseIstiod+"-"+rev, "istiod-"+rev, vals
		}
	}
	return nil
}

// revisionRelease is the plan's istiod release (of its revision).
func (p *Plan) revisionRelease() []PlannedRelease {
	for _, r := range p.Releases {
		if r.Phase == PhaseIstiod && r.Workload != "" {
			return []PlannedRelease{r}
		}
	}
	return nil
}

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// RevisionInUseError: uninstalling a revision was refused because proxies
// still use it. Nothing was changed. It reaches the caller wrapped in a
// failure.InUseError.
type RevisionInUseError struct {
	Revision  string
	Workloads []string // "namespace/Kind name", sorted
	Pods      int
}

func (e *RevisionInUseError) Error() string {
	return fmt.Sprintf("refusing to remove revision %s, nothing was changed: %d proxies still use it, in %s; "+
		"move their namespaces to another revision (`meshbundle tag set` or the namespace's %s label), restart the workloads, and retry",
		e.Revision, e.Pods, abbreviate(e.Workloads, 8), RevisionLabel)
}

// revisionUsers lists the workloads whose pods were injected by rev (the
// injector annotates each pod istio.io/rev=<revision>): the metadata of
// every pod, 500 a page.
func (c *cluster) revisionUsers(ctx context.Context, rev string) (*RevisionInUseError, error) {
	var items []metav1.PartialObjectMetadata
	opts := metav1.ListOptions{Limit: 500}
	for {
		page, err := c.meta.Resource(podsGVR).Namespace(metav1.NamespaceAll).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list pods to find those injected by revision %s: %w", rev, err)
		}
		items = append(items, page.Items...)
		if opts.Continue = page.Continue; opts.Continue == "" {
			break
		}
	}
	seen := map[string]bool{}
	in := &RevisionInUseError{Revision: rev}
	for _, p := range items {
		if p.DeletionTimestamp != nil || p.Annotations[RevisionLabel] != rev {
			continue
		}
		in.Pods++
		w := p.Namespace + "/Pod " + p.Name
		for _, o := range p.OwnerReferences {
			if o.Controller != nil && *o.Controller {
				name := o.Name
				if o.Kind == "ReplicaSet" {
					// A Deployment's ReplicaSet: <deployment>-<pod-template-hash>.
					if h := p.Labels["pod-template-hash"]; h != "" {
						if d, ok := strings.CutSuffix(name, "-"+h); ok {
							o.Kind, name = "Deployment", d
						}
					}
				}
				w = p.Namespace + "/" + o.Kind + " " + name
			}
		}
		seen[w] = true
	}
	if in.Pods == 0 {
		return nil, nil
	}
	for w := range seen {
		in.Workloads = append(in.Workloads, w)
	}
	sort.Strings(in.Workloads)
	return in, nil
}

// defaultValidator is the ValidatingWebhookConfiguration of Istio's base
// chart that validates Istio config cluster-wide, served by the revision its
// istio.io/rev label names (base's values.defaultRevision).
const defaultValidator = "istiod-default-validator"

// refuseRemovingValidator refuses to remove rev while the cluster's Istio
// config validation goes to it: its Service would be gone, the webhook
// fails closed, and every write of a VirtualService, DestinationRule, ...
// in the cluster would be refused.
func (c *cluster) refuseRemovingValidator(ctx context.Context, rev string) error {
	vwc, err := c.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, defaultValidator, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read ValidatingWebhookConfiguration %s: %w", defaultValidator, err)
	}
	if vwc.Labels[RevisionLabel] != rev {
		return nil
	}
	return failure.InUsef("refusing to remove revision %s, nothing was changed: it validates the cluster's Istio config "+
		"(ValidatingWebhookConfiguration %s, istio-base's defaultRevision), which would then fail closed for every tenant; "+
		"make the remaining revision the default first: `meshbundle install --revision <other> --set values.defaultRevision=<other>`", rev, defaultValidator)
}
