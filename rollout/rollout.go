// Package rollout is the one readiness rule of meshbundle: when a
// Deployment's or DaemonSet's rollout is done, by the rule of
// `kubectl rollout status` (k8s.io/kubectl/pkg/polymorphichelpers,
// rollout_status.go), and waiting for it with a watch. The installer, the
// canary steps, `gateway status` and the test harness all use it.
//
// The rule is restated here instead of calling kubectl's StatusViewer:
// that takes unstructured objects (a conversion per watch event) and links
// kubectl's describe package and its dependencies for four comparisons.
// TestDeploymentDone pins each branch.
package rollout

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// progressDeadlineExceeded is the Progressing condition's reason once
// spec.progressDeadlineSeconds passed (the deployment controller's
// TimedOutReason).
const progressDeadlineExceeded = "ProgressDeadlineExceeded"

// DeploymentDone says whether the Deployment's rollout is done, and if not
// why: the controller observed the latest spec, every wanted replica runs
// the new template, no old replica is left, and every new one is
// available. A rollout past its progress deadline is not done (kubectl
// gives up there; waiters here keep watching until their own deadline,
// since a fixed image or quota can still let it finish).
func DeploymentDone(d *appsv1.Deployment) (bool, string) {
	s := d.Status
	if d.Generation > s.ObservedGeneration {
		return false, "rollout not observed yet"
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == progressDeadlineExceeded {
			return false, "exceeded its progress deadline: " + c.Message
		}
	}
	if d.Spec.Replicas != nil && s.UpdatedReplicas < *d.Spec.Replicas {
		return false, fmt.Sprintf("%d/%d replicas updated", s.UpdatedReplicas, *d.Spec.Replicas)
	}
	if s.Replicas > s.UpdatedReplicas {
		return false, fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)
	}
	if s.AvailableReplicas < s.UpdatedReplicas {
		return false, fmt.Sprintf("%d/%d replicas available", s.AvailableReplicas, s.UpdatedReplicas)
	}
	return true, fmt.Sprintf("%d/%d replicas available", s.AvailableReplicas, s.UpdatedReplicas)
}

// DaemonSetDone is the same rule for a DaemonSet: its pod updated and
// available on every node it is scheduled to.
func DaemonSetDone(ds *appsv1.DaemonSet) (bool, string) {
	s := ds.Status
	if ds.Generation > s.ObservedGeneration {
		return false, "rollout not observed yet"
	}
	want := s.DesiredNumberScheduled
	if s.UpdatedNumberScheduled < want || s.NumberAvailable < want {
		return false, fmt.Sprintf("%d/%d pods updated, %d available", s.UpdatedNumberScheduled, want, s.NumberAvailable)
	}
	return true, fmt.Sprintf("%d/%d pods available", s.NumberAvailable, want)
}

// WaitDeployment watches the Deployment until DeploymentDone, or ctx ends;
// then it returns the last reason ("not created yet" if it never existed)
// and ctx's error. A watch, not a poll: it returns as soon as the status
// changes, without a request a second.
func WaitDeployment(ctx context.Context, kube kubernetes.Interface, ns, name string) (string, error) {
	deployments := kube.AppsV1().Deployments(ns)
	lw := listWatchOne(name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return deployments.List(ctx, o)
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return deployments.Watch(ctx, o)
	})
	return watchUntil(ctx, lw, &appsv1.Deployment{}, func(o runtime.Object) (bool, string) {
		if d, ok := o.(*appsv1.Deployment); ok {
			return DeploymentDone(d)
		}
		return false, fmt.Sprintf("unexpected %T in the watch", o)
	})
}

// WaitDaemonSet is WaitDeployment for a DaemonSet.
func WaitDaemonSet(ctx context.Context, kube kubernetes.Interface, ns, name string) (string, error) {
	daemonSets := kube.AppsV1().DaemonSets(ns)
	lw := listWatchOne(name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return daemonSets.List(ctx, o)
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return daemonSets.Watch(ctx, o)
	})
	return watchUntil(ctx, lw, &appsv1.DaemonSet{}, func(o runtime.Object) (bool, string) {
		if ds, ok := o.(*appsv1.DaemonSet); ok {
			return DaemonSetDone(ds)
		}
		return false, fmt.Sprintf("unexpected %T in the watch", o)
	})
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

// watchUntil follows the object until done says so, returning the last
// reason it gave when ctx ends first.
func watchUntil(ctx context.Context, lw cache.ListerWatcher, obj runtime.Object, done func(runtime.Object) (bool, string)) (string, error) {
	last := "not created yet"
	_, err := watchtools.UntilWithSync(ctx, lw, obj, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			last = "deleted"
			return false, nil
		}
		ok, why := done(ev.Object)
		last = why
		return ok, nil
	})
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return last, err
}
