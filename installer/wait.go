package installer

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// waitPhase waits for the Deployments of the given phase's releases (istiod
// before the gateway: the gateway pod is only created once istiod's injection
// webhook answers).
func (r *run) waitPhase(ctx context.Context, pr *PhaseResult, of Phase) error {
	if r.opts.DryRun {
		pr.State, pr.Message = StateSkipped, "skipped: dry run"
		return nil
	}
	if !r.opts.Wait {
		pr.State, pr.Message = StateSkipped, "skipped: --wait not set"
		return nil
	}
	for _, rel := range r.plan.releasesIn(of) {
		if rel.Workload == "" {
			continue
		}
		if err := r.waitDeployment(ctx, rel.Namespace, rel.Workload); err != nil {
			return err
		}
		pr.Message = fmt.Sprintf("deployment %s/%s available", rel.Namespace, rel.Workload)
	}
	return nil
}

// waitDeployment watches the Deployment until it is Available with all
// replicas updated, or the run's deadline passes. A watch, not a poll: the
// run continues as soon as the status changes, without a request a second.
func (r *run) waitDeployment(ctx context.Context, ns, name string) error {
	deployments := r.cl.kube.AppsV1().Deployments(ns)
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return deployments.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return deployments.Watch(ctx, o)
		},
	}
	last := "not created yet"
	_, err := watchtools.UntilWithSync(ctx, lw, &appsv1.Deployment{}, nil, func(ev watch.Event) (bool, error) {
		d, ok := ev.Object.(*appsv1.Deployment)
		if !ok {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			last = "deleted"
			return false, nil
		}
		done, why := deploymentAvailable(d)
		last = why
		return done, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return &TimeoutError{Err: fmt.Errorf("deployment %s/%s not available (%s): %w; raise --timeout or check `kubectl -n %s describe deployment %s`", ns, name, last, err, ns, name)}
	}
	return nil
}

// deploymentAvailable says whether the rollout is complete, and if not why.
func deploymentAvailable(d *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.ObservedGeneration < d.Generation {
		return false, "rollout not observed yet"
	}
	if d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want {
		return false, fmt.Sprintf("%d/%d replicas available", d.Status.AvailableReplicas, want)
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue, c.Message
		}
	}
	return false, "no Available condition"
}
