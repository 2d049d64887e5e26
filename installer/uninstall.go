package installer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshbundle/meshbundle/failure"
)

// Uninstall removes the releases in reverse install order, then what Helm
// leaves behind: the istio-ca-root-cert ConfigMaps istiod writes into every
// namespace and the namespaces the installer created that hold nothing else.
// Istio's CRDs (the chart marks them helm.sh/resource-policy: keep), the
// Gateway API CRDs of the gateway-api-crds release (marked the same way) and
// with them every tenant's config stay unless DeleteCRDs, which is refused
// while such objects exist unless Force; Gateway API CRDs someone else
// installed are never deleted. Result.Kept says what was
// left and why. Like Install it can be re-run after an interruption.
func Uninstall(ctx context.Context, opts Options) (*Result, error) {
	return operate(ctx, opts, "uninstall", UninstallPhases, (*run).uninstall)
}

func (r *run) uninstall(ctx context.Context) error {
	var crds []string
	if err := r.phase(ctx, PhaseValidate, func(pr *PhaseResult) error {
		plan, err := NewPlan(r.opts.Source)
		if err != nil {
			return err
		}
		r.plan = plan
		// CRD names from the chart itself: known even if a previous
		// uninstall already removed the base release.
		if crds, err = crdNamesOfPlan(plan); err != nil {
			return err
		}
		if r.opts.DryRun {
			return nil
		}
		if err := r.connect(ctx); err != nil {
			return err
		}
		// Gateway API CRDs someone else installed are never ours to delete.
		var foreign []string
		if crds, foreign, err = r.foreignGatewayCRDs(ctx, crds); err != nil {
			return err
		}
		if len(foreign) > 0 {
			r.keep(Kept{Kind: "CustomResourceDefinition", Names: foreign,
				Reason: "Gateway API CRDs not installed by meshbundle (release " + ReleaseGatewayAPI + " does not own them); never deleted by meshbundle"})
		}
		if r.plan.Revision != "" {
			// One control-plane revision, and only once no proxy uses it.
			if r.opts.DeleteCRDs {
				return failure.BadInputf("--delete-crds removes Istio for every revision, --revision names one (fix: leave out --revision, or --delete-crds)")
			}
			inUse, err := r.cl.revisionUsers(ctx, r.plan.Revision)
			if err != nil {
				return err
			}
			if inUse != nil {
				return &failure.InUseError{Err: inUse}
			}
			tags, err := r.cl.tags(ctx)
			if err != nil {
				return err
			}
			var pointing []string
			for _, t := range tags {
				if t.Revision == r.plan.Revision {
					pointing = append(pointing, fmt.Sprintf("%s (namespaces: %s)", t.Tag, strings.Join(t.Namespaces, ", ")))
				}
			}
			if len(pointing) > 0 {
				return failure.InUsef("refusing to remove revision %s, nothing was changed: tags %s point at it, and new pods of their namespaces would fail injection; "+
					"move them first (`meshbundle tag set <tag> --revision <other> --overwrite`)", r.plan.Revision, strings.Join(pointing, "; "))
			}
			return r.cl.refuseRemovingValidator(ctx, r.plan.Revision)
		}
		if r.opts.DeleteCRDs && !r.opts.Force {
			return r.refuseCRDDeletion(ctx, crds)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, p := range UninstallPhases[1 : len(UninstallPhases)-1] {
		if err := r.phase(ctx, p, func(pr *PhaseResult) error {
			rels := r.plan.releasesIn(p)
			if r.plan.Revision != "" {
				rels = nil
				if p == PhaseIstiod {
					rels = r.plan.revisionRelease()
				}
			}
			slices.Reverse(rels)
			if len(rels) == 0 {
				pr.State, pr.Message = StateSkipped, "skipped: nothing configured"
				return nil
			}
			for _, rel := range rels {
				rr, err := r.remove(rel)
				pr.Releases = append(pr.Releases, rr)
				if err != nil {
					return fmt.Errorf("uninstall release %s/%s: %w", rel.Namespace, rel.Name, err)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return r.phase(ctx, PhaseCleanup, func(pr *PhaseResult) error {
		if r.plan.Revision != "" {
			pr.State, pr.Message = StateSkipped, "skipped: only revision "+r.plan.Revision+" was removed"
			return nil
		}
		return r.cleanup(ctx, pr, crds)
	})
}

// remove uninstalls one release; an absent release is fine (re-runs).
func (r *run) remove(rel PlannedRelease) (ReleaseResult, error) {
	rr := r.result(rel, ActionAbsent, nil)
	if r.opts.DryRun {
		rr.Action = ActionPlanned
		return rr, nil
	}
	cfg, err := r.cl.helmConfig(rel.Namespace)
	if err != nil {
		return rr, err
	}
	unlocked, last, err := r.lease.Unlock(cfg, rel.Name)
	if err != nil || last == nil {
		return rr, err
	}
	rr.Unlocked = unlocked
	rr.Revision = last.Version
	rr.Objects = r.countObjects(last.Manifest)
	un := action.NewUninstall(cfg)
	un.Timeout = r.opts.Timeout
	if _, err := un.Run(rel.Name); err != nil {
		return rr, err
	}
	rr.Action = ActionUninstalled
	return rr, nil
}

func (r *run) cleanup(ctx context.Context, pr *PhaseResult, crds []string) error {
	if r.opts.DryRun {
		pr.State, pr.Message = StateSkipped, "skipped: dry run"
		return nil
	}
	deleted := 0
	if r.opts.DeleteCRDs {
		for _, name := range crds {
			err := r.cl.apiext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, name, metav1.DeleteOptions{})
			if err == nil {
				deleted++
			} else if !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete CRD %s: %w", name, err)
			}
		}
	} else {
		present, err := r.cl.existingCRDs(ctx, crds)
		if err != nil {
			return err
		}
		if len(present) > 0 {
			r.keep(Kept{Kind: "CustomResourceDefinition", Names: present,
				Reason: "Istio's and the Gateway API's CRDs hold every tenant's Istio and Gateway API config; pass --delete-crds to delete them"})
		}
	}
	// istiod's namespace controller copies its root certificate into every
	// namespace; Helm does not know these.
	cms, err := r.cl.kube.CoreV1().ConfigMaps(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "istio.io/config=true"})
	if err != nil {
		return fmt.Errorf("list istio-ca-root-cert ConfigMaps: %w", err)
	}
	for _, cm := range cms.Items {
		if cm.Name != "istio-ca-root-cert" {
			continue
		}
		if err := r.cl.kube.CoreV1().ConfigMaps(cm.Namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
		deleted++
	}
	gone, err := r.deleteOwnNamespaces(ctx)
	if err != nil {
		return err
	}
	deleted += len(gone)
	pr.Objects = deleted
	pr.Message = fmt.Sprintf("deleted %d CRDs/ConfigMaps/namespaces", deleted)
	for _, k := range r.res.Kept {
		pr.Message += fmt.Sprintf("; kept %s %s", k.Kind, abbreviate(k.Names, 3))
	}
	if !r.opts.Wait {
		return nil
	}
	// CRDs go once their objects are removed, namespaces once the namespace
	// controller has emptied them: with --wait, return when they are gone.
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if r.opts.DeleteCRDs {
			for _, name := range crds {
				_, err := r.cl.apiext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
				if !apierrors.IsNotFound(err) {
					return false, nil
				}
			}
		}
		for _, ns := range gone {
			_, err := r.cl.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return &TimeoutError{Err: fmt.Errorf("waiting for CRDs and namespaces to be deleted: %w", err)}
	}
	return nil
}

func (r *run) keep(k Kept) { r.res.Kept = append(r.res.Kept, k) }

// deleteOwnNamespaces deletes the namespaces the installer created that
// hold nothing but what it, Kubernetes or istiod put there, and records the
// others as kept with the reason. It returns the deleted ones.
func (r *run) deleteOwnNamespaces(ctx context.Context) ([]string, error) {
	nss, err := r.cl.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: ManagedLabel + "=true"})
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	ours := r.plan.releaseSet()
	var gone []string
	for _, ns := range nss.Items {
		if ns.DeletionTimestamp != nil {
			continue
		}
		if by := ns.Annotations[CreatedByAnnotation]; by != CreatorInstaller {
			if by == "" {
				by = "unknown: no " + CreatedByAnnotation + " annotation (an older meshbundle or `gateway add` labelled it)"
			}
			r.keep(Kept{Kind: "Namespace", Names: []string{ns.Name}, Reason: "not created by the installer (creator " + by + ")"})
			continue
		}
		foreign, err := r.cl.namespaceContents(ctx, ns.Name, ours)
		if err != nil {
			r.keep(Kept{Kind: "Namespace", Names: []string{ns.Name}, Reason: "its contents could not be checked: " + err.Error()})
			continue
		}
		if len(foreign) > 0 {
			r.keep(Kept{Kind: "Namespace", Names: []string{ns.Name},
				Reason: fmt.Sprintf("holds %d objects the installer did not create: %s", len(foreign), abbreviate(foreign, 5))})
			continue
		}
		if err := r.cl.kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return gone, fmt.Errorf("delete namespace %s: %w", ns.Name, err)
		}
		gone = append(gone, ns.Name)
	}
	return gone, nil
}

// refuseCRDDeletion is the check before anything is changed: deleting the
// CRDs would delete every Istio config object with them.
func (r *run) refuseCRDDeletion(ctx context.Context, crds []string) error {
	byNS, total, err := r.cl.istioConfig(ctx, crds, r.plan.releaseSet())
	if err != nil {
		return fmt.Errorf("count Istio config objects before deleting the CRDs: %w", err)
	}
	if total == 0 {
		return nil
	}
	return failure.InUsef("refusing to delete Istio's and the Gateway API's CRDs, nothing was changed: %d Istio and Gateway API config objects would be deleted with them (%s); "+
		"delete them first, pass --force to delete them with the CRDs, or leave out --delete-crds", total, describeConfig(byNS, total))
}

// crdNamesOfPlan renders the base phase's releases (istio-base,
// gateway-api-crds) to list the CRDs they own.
func crdNamesOfPlan(p *Plan) ([]string, error) {
	var names []string
	for _, rel := range p.releasesIn(PhaseBase) {
		tmp := &run{res: &Result{}}
		if _, err := tmp.render(rel); err != nil {
			return nil, err
		}
		n, err := crdNames(tmp.res.Rendered[0].Manifest)
		if err != nil {
			return nil, err
		}
		names = append(names, n...)
	}
	return names, nil
}
