package installer

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
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

// waitDeployment watches the Deployment until it is Available with all
// replicas updated, or the run's deadline passes. A watch, not a poll: the
// run continues as soon as the status changes, without a request a second.
func (r *run) waitDeployment(ctx context.Context, ns, name string) error {
	deployments := r.cl.kube.AppsV1().Deployments(ns)
	lw := listWatchOne(name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return deployments.List(ctx, o)
	},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return deployments.Watch(ctx, o)
		})
	last, err := watchUntil(ctx, lw, &appsv1.Deployment{}, func(o runtime.Object) (bool, string) {
		if d, ok := o.(*appsv1.Deployment); ok {
			return deploymentAvailable(d)
		}
		return false, fmt.Sprintf("unexpected %T in the watch", o)
	})
	if err != nil {
		return &TimeoutError{Err: fmt.Errorf("deployment %s/%s not available (%s): %w; raise --timeout or check `kubectl -n %s describe deployment %s`", ns, name, last, err, ns, name)}
	}
	return nil
}

// waitDaemonSet watches the DaemonSet until its pod is updated and
// available on every node it is scheduled to, or the deadline passes.
func (r *run) waitDaemonSet(ctx context.Context, ns, name string) error {
	daemonSets := r.cl.kube.AppsV1().DaemonSets(ns)
	lw := listWatchOne(name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return daemonSets.List(ctx, o)
	},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return daemonSets.Watch(ctx, o)
		})
	last, err := watchUntil(ctx, lw, &appsv1.DaemonSet{}, func(o runtime.Object) (bool, string) {
		if ds, ok := o.(*appsv1.DaemonSet); ok {
			return daemonSetAvailable(ds)
		}
		return false, fmt.Sprintf("unexpected %T in the watch", o)
	})
	if err != nil {
		return &TimeoutError{Err: fmt.Errorf("daemonset %s/%s not available (%s): %w; raise --timeout or check `kubectl -n %s describe daemonset %s`", ns, name, last, err, ns, name)}
	}
	return nil
}

// listWatchOne lists and watches the one object called name.
func listWatchOne(name string, list cache.ListWithContextFunc, watchFn cache.WatchFuncWithContext) *cache.ListWatch {
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return watchFn(ctx, o)
		},
	}
}

// watchUntil follows the object until ready says so, returning the last
// reason it gave when ctx ends first.
func watchUntil(ctx context.Context, lw cache.ListerWatcher, obj runtime.Object, ready func(runtime.Object) (bool, string)) (string, error) {
	last := "not created yet"
	_, err := watchtools.UntilWithSync(ctx, lw, obj, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			last = "deleted"
			return false, nil
		}
		done, why := ready(ev.Object)
		last = why
		return done, nil
	})
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return last, err
}

// daemonSetAvailable says whether the DaemonSet's rollout is complete
// (kubectl rollout status's rule), and if not why.
func daemonSetAvailable(ds *appsv1.DaemonSet) (bool, string) {
	if ds.Status.ObservedGeneration < ds.Generation {
		return false, "rollout not observed yet"
	}
	want := ds.Status.DesiredNumberScheduled
	if ds.Status.UpdatedNumberScheduled < want || ds.Status.NumberAvailable < want {
		return false, fmt.Sprintf("%d/%d pods updated, %d available", ds.Status.UpdatedNumberScheduled, want, ds.Status.NumberAvailable)
	}
	return true, fmt.Sprintf("%d/%d pods available", ds.Status.NumberAvailable, want)
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
