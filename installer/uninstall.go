package installer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"helm.sh/helm/v3/pkg/action"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Uninstall removes the releases in reverse install order, then what Helm
// leaves behind: Istio's CRDs (the chart marks them helm.sh/resource-policy:
// keep; removed unless KeepCRDs), the istio-ca-root-cert ConfigMaps istiod
// writes into every namespace, and the namespaces the installer created.
// Like Install it can be re-run after an interruption.
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
		r.cl, err = connect(r.opts)
		return err
	}); err != nil {
		return err
	}
	for _, p := range UninstallPhases[1 : len(UninstallPhases)-1] {
		if err := r.phase(ctx, p, func(pr *PhaseResult) error {
			rels := r.plan.releasesIn(p)
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
	return r.phase(ctx, PhaseCleanup, func(pr *PhaseResult) error { return r.cleanup(ctx, pr, crds) })
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
	unlocked, last, err := unlock(cfg, rel.Name)
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
	if !r.opts.KeepCRDs {
		for _, name := range crds {
			err := r.cl.apiext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, name, metav1.DeleteOptions{})
			if err == nil {
				deleted++
			} else if !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete CRD %s: %w", name, err)
			}
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
	nss, err := r.cl.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: ManagedLabel + "=true"})
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	for _, ns := range nss.Items {
		if err := r.cl.kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s: %w", ns.Name, err)
		}
		deleted++
	}
	pr.Objects = deleted
	pr.Message = fmt.Sprintf("deleted %d CRDs/ConfigMaps/namespaces", deleted)
	if r.opts.KeepCRDs {
		pr.Message += "; CRDs kept (--keep-crds)"
	}
	if !r.opts.Wait {
		return nil
	}
	// CRDs go once their objects are removed, namespaces once the namespace
	// controller has emptied them: with --wait, return when they are gone.
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if !r.opts.KeepCRDs {
			for _, name := range crds {
				_, err := r.cl.apiext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
				if !apierrors.IsNotFound(err) {
					return false, nil
				}
			}
		}
		for _, ns := range nss.Items {
			_, err := r.cl.kube.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
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

// crdNamesOfPlan renders the base release to list the CRDs it owns.
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
