package installer

import (
	"context"
	"fmt"
	"strings"

	"github.com/meshbundle/meshbundle/rollout"
)

// waitPhase waits for the node agents and Deployments of the given phases'
// releases (istiod before the gateway: the gateway pod is only created once
// istiod's injection webhook answers; the CNI agent before any pod of the
// mesh, as istioctl does).
func (r *run) waitPhase(ctx context.Context, pr *PhaseResult, of ...Phase) error {
	if r.opts.DryRun {
		pr.State, pr.Message = StateSkipped, "skipped: dry run"
		return nil
	}
	if !r.opts.Wait {
		pr.State, pr.Message = StateSkipped, "skipped: --wait not set"
		return nil
	}
	var ready []string
	for _, p := range of {
		for _, rel := range r.plan.releasesIn(p) {
			if rel.DaemonSet != "" {
				if err := r.waitDaemonSet(ctx, rel.Namespace, rel.DaemonSet); err != nil {
					return err
				}
				ready = append(ready, "daemonset "+rel.Namespace+"/"+rel.DaemonSet)
			}
			if rel.Workload != "" {
				if err := r.waitDeployment(ctx, rel.Namespace, rel.Workload); err != nil {
					return err
				}
				ready = append(ready, "deployment "+rel.Namespace+"/"+rel.Workload)
			}
		}
	}
	pr.Message = strings.Join(ready, ", ") + " available"
	return nil
}

// waitDeployment watches the Deployment until its rollout is done
// (rollout.DeploymentDone), or the run's deadline passes.
func (r *run) waitDeployment(ctx context.Context, ns, name string) error {
	last, err := rollout.WaitDeployment(ctx, r.cl.kube, ns, name)
	if err != nil {
		return &TimeoutError{Err: fmt.Errorf("deployment %s/%s not available (%s): %w; raise --timeout or check `kubectl -n %s describe deployment %s`", ns, name, last, err, ns, name)}
	}
	return nil
}

// waitDaemonSet watches the DaemonSet until its pod is updated and
// available on every node it is scheduled to, or the deadline passes.
func (r *run) waitDaemonSet(ctx context.Context, ns, name string) error {
	last, err := rollout.WaitDaemonSet(ctx, r.cl.kube, ns, name)
	if err != nil {
		return &TimeoutError{Err: fmt.Errorf("daemonset %s/%s not available (%s): %w; raise --timeout or check `kubectl -n %s describe daemonset %s`", ns, name, last, err, ns, name)}
	}
	return nil
}
