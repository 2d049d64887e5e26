package rollout

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// deployment builds a Deployment as the API server reports it.
func deployment(replicas *int32, generation, observed int64, total, updated, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: generation},
		Spec:       appsv1.DeploymentSpec{Replicas: replicas},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: total, UpdatedReplicas: updated,
			AvailableReplicas: available, Conditions: conds},
	}
}

func ptr(n int32) *int32 { return &n }

// TestDeploymentDone: each branch of kubectl rollout status's rule.
func TestDeploymentDone(t *testing.T) {
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
		Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-1" has timed out progressing.`}
	progressing := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}
	cases := []struct {
		name     string             // subtest name
		d        *appsv1.Deployment // the object
		wantDone bool               // rollout done
		wantWhy  string             // in the reason
	}{
		{"every replica updated and available", deployment(ptr(2), 3, 3, 2, 2, 2, progressing), true, "2/2 replicas available"},
		{"spec change not observed yet", deployment(ptr(2), 4, 3, 2, 2, 2), false, "rollout not observed yet"},
		{"past its progress deadline", deployment(ptr(2), 3, 3, 2, 1, 1, deadline), false, "exceeded its progress deadline: ReplicaSet \"web-1\" has timed out"},
		{"one replica still on the old template", deployment(ptr(2), 3, 3, 2, 1, 2), false, "1/2 replicas updated"},
		{"old replica pending termination", deployment(ptr(2), 3, 3, 3, 2, 2), false, "1 old replicas pending termination"},
		{"updated but not yet available", deployment(ptr(1), 3, 3, 1, 1, 0), false, "0/1 replicas available"},
		{"scaled to zero", deployment(ptr(0), 2, 2, 0, 0, 0), true, "0/0"},
		{"replicas unset (server default 1), done", deployment(nil, 1, 1, 1, 1, 1), true, "1/1"},
		{"observed newer than generation (a read from a lagging cache)", deployment(ptr(1), 1, 2, 1, 1, 1), true, "1/1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done, why := DeploymentDone(tc.d)
			if done != tc.wantDone || !strings.Contains(why, tc.wantWhy) {
				t.Errorf("got %v %q, want %v and %q", done, why, tc.wantDone, tc.wantWhy)
			}
		})
	}
}

// TestDaemonSetDone: the same rule for node agents.
func TestDaemonSetDone(t *testing.T) {
	ds := func(generation, observed int64, desired, updated, available int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "istio-cni-node", Generation: generation},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired,
				UpdatedNumberScheduled: updated, NumberAvailable: available},
		}
	}
	cases := []struct {
		name     string            // subtest name
		ds       *appsv1.DaemonSet // the object as the API server reports it
		wantDone bool              // rollout done
		wantWhy  string            // in the reason
	}{
		{name: "every node updated and available", ds: ds(2, 2, 3, 3, 3), wantDone: true, wantWhy: "3/3 pods available"},
		{name: "spec change not seen by the controller yet", ds: ds(3, 2, 3, 3, 3), wantWhy: "rollout not observed yet"},
		{name: "one node still on the old pod", ds: ds(2, 2, 3, 2, 3), wantWhy: "2/3 pods updated"},
		{name: "updated but not yet available", ds: ds(2, 2, 3, 3, 1), wantWhy: "1 available"},
		{name: "no node to run on", ds: ds(1, 1, 0, 0, 0), wantDone: true, wantWhy: "0/0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done, why := DaemonSetDone(tc.ds)
			if done != tc.wantDone || !strings.Contains(why, tc.wantWhy) {
				t.Errorf("got %v %q, want %v and %q", done, why, tc.wantDone, tc.wantWhy)
			}
		})
	}
}
