package installer

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"istio.io/istio/pkg/config/mesh"
)

// verify checks the end state: every release deployed, every CRD of the base
// phase's releases established, the mesh config istiod reads parses, and with --wait
// the workloads are available.
func (r *run) verify(ctx context.Context, pr *PhaseResult) error {
	if r.opts.DryRun {
		pr.State, pr.Message = StateSkipped, "skipped: dry run"
		return nil
	}
	deployed := 0
	var crds []string
	for _, rel := range r.plan.Releases {
		if r.gatewayAPIExternal(rel) {
			continue // the cluster's own Gateway API CRDs, checked when the run began
		}
		// The record this run read or wrote under the lease; read again
		// only for a release it did not converge.
		got := r.deployed[rel.Namespace+"/"+rel.Name]
		if got == nil {
			cfg, err := r.cl.helmConfig(rel.Namespace)
			if err != nil {
				return err
			}
			if got, err = cfg.Releases.Last(rel.Name); err != nil {
				return fmt.Errorf("release %s/%s: %w", rel.Namespace, rel.Name, err)
			}
		}
		if got.Info.Status != release.StatusDeployed {
			return fmt.Errorf("release %s/%s is %s; re-run install", rel.Namespace, rel.Name, got.Info.Status)
		}
		deployed++
		pr.Objects += r.countObjects(got.Manifest)
		if rel.Phase == PhaseBase {
			names, err := r.crdNamesOf(got.Manifest)
			if err != nil {
				return err
			}
			crds = append(crds, names...)
		}
		if r.opts.Wait && rel.DaemonSet != "" {
			if err := r.waitDaemonSet(ctx, rel.Namespace, rel.DaemonSet); err != nil {
				return err
			}
		}
		if r.opts.Wait && rel.Workload != "" {
			if err := r.waitDeployment(ctx, rel.Namespace, rel.Workload); err != nil {
				return err
			}
		}
	}
	// Discovery read afresh (one request for every group with aggregated
	// discovery) lists every CRD that exists and is Established; only one
	// it does not list is read, for an error that says which and why.
	r.cl.disco.client.Invalidate()
	unlisted, err := r.cl.crdsInDiscovery(crds)
	if err != nil {
		return err
	}
	if len(unlisted) > 0 {
		if _, err := r.cl.crdsEstablished(ctx, unlisted); err != nil {
			return err
		}
	}
	cm, err := r.cl.kube.CoreV1().ConfigMaps(r.plan.IstioNamespace).Get(ctx, "istio", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("mesh config ConfigMap %s/istio: %w", r.plan.IstioNamespace, err)
	}
	if _, err := mesh.ApplyMeshConfigDefaults(cm.Data["mesh"]); err != nil {
		return fmt.Errorf("mesh config in ConfigMap %s/istio key mesh does not parse: %w", r.plan.IstioNamespace, err)
	}
	pr.Message = fmt.Sprintf("%d releases deployed, %d CRDs established, mesh config parses", deployed, len(crds))
	return nil
}
