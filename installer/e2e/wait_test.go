package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/installer"
	"github.com/meshbundle/meshbundle/rollout"
)

// deployment builds a one-container Deployment labelled app=<name>; with
// unschedulable set its pods never find a node, so it never becomes Available.
func deployment(ns, name string, replicas int32, unschedulable bool) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.k8s.io/pause:3.10"}}},
			},
		},
	}
	if unschedulable {
		d.Spec.Template.Spec.NodeSelector = map[string]string{"meshbundle.dev/no-such-node": "true"}
	}
	return d
}

// TestWaitDeployment: --wait watches the Deployment instead of polling it
// once a second, so it returns as soon as the rollout is complete (never
// before), and a rollout that cannot complete ends in a TimeoutError that
// says what is missing.
func TestWaitDeployment(t *testing.T) {
	c := testcluster.Shared(t)
	cl, err := installer.Connect(installer.Options{RESTConfig: c.Config})
	if err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace(t, nil)

	t.Run("returns promptly once available", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Started before the Deployment exists, as the gateway wait is
		// (Helm creates it moments before).
		waited := make(chan error, 1)
		go func() { waited <- cl.WaitDeployment(ctx, ns, "web") }()
		time.Sleep(200 * time.Millisecond)
		if _, err := cl.Kube().AppsV1().Deployments(ns).Create(ctx, deployment(ns, "web", 2, false), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// An independent observer polling every 10 ms notes when the
		// rollout is first complete.
		get := func() *appsv1.Deployment {
			d, err := cl.Kube().AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		var seen time.Time
		for seen.IsZero() {
			if ok, _ := rollout.DeploymentDone(get()); ok {
				seen = time.Now()
				break
			}
			select {
			case err := <-waited:
				// It may have seen the change between our GET and now;
				// a rollout does not go back, so it must be complete.
				if d := get(); err != nil {
					t.Fatalf("wait returned %v", err)
				} else if done, _ := rollout.DeploymentDone(d); !done {
					t.Fatalf("wait returned %v before the rollout was complete (%+v)", err, d.Status)
				}
				t.Log("wait returned before the 10 ms observer saw the rollout complete")
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		select {
		case err := <-waited:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("wait did not return after the rollout completed")
		}
		// The old one-second poll came back 0-1 s late; a watch within a
		// few round trips. Generous for a loaded 2-core machine.
		late := time.Since(seen)
		t.Logf("wait returned %s after the 10 ms observer saw the rollout complete", late.Round(time.Millisecond))
		if late > 400*time.Millisecond {
			t.Errorf("wait returned %s after the rollout completed, want < 400ms", late.Round(time.Millisecond))
		}
	})

	cases := []struct {
		name       string             // subtest name
		deployment *appsv1.Deployment // created before waiting (nil: none)
		wantReason string             // in the TimeoutError's message
	}{
		{name: "pods never scheduled", deployment: deployment(ns, "stuck", 1, true), wantReason: "0/1 replicas available"},
		{name: "deployment missing", deployment: nil, wantReason: "not created yet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "missing"
			if tc.deployment != nil {
				name = tc.deployment.Name
				if _, err := cl.Kube().AppsV1().Deployments(ns).Create(context.Background(), tc.deployment, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := cl.WaitDeployment(ctx, ns, name)
			var te *installer.TimeoutError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T), want *installer.TimeoutError", err, err)
			}
			if !strings.Contains(err.Error(), tc.wantReason) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %q: want the reason %q and context.DeadlineExceeded", err, tc.wantReason)
			}
		})
	}
}
