package installer

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// daemonSetAvailable is kubectl rollout status's rule for DaemonSets.
func TestDaemonSetAvailable(t *testing.T) {
	ds := func(generation, observed int64, desired, updated, available int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "istio-cni-node", Generation: generation},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired,
				UpdatedNumberScheduled: updated, NumberAvailable: available},
		}
	}
	cases := []struct {
		name      string            // subtest name
		ds        *appsv1.DaemonSet // the object as the API server reports it
		wantReady bool              // rollout complete
		wantWhy   string            // in the reason
	}{
		{name: "every node updated and available", ds: ds(2, 2, 3, 3, 3), wantReady: true, wantWhy: "3/3 pods available"},
		{name: "spec change not seen by the controller yet", ds: ds(3, 2, 3, 3, 3), wantWhy: "rollout not observed yet"},
		{name: "one node still on the old pod", ds: ds(2, 2, 3, 2, 3), wantWhy: "2/3 pods updated"},
		{name: "updated but not yet available", ds: ds(2, 2, 3, 3, 1), wantWhy: "1 available"},
		{name: "no node to run on", ds: ds(1, 1, 0, 0, 0), wantReady: true, wantWhy: "0/0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ready, why := daemonSetAvailable(tc.ds)
			if ready != tc.wantReady || !strings.Contains(why, tc.wantWhy) {
				t.Errorf("got %v %q, want %v and %q", ready, why, tc.wantReady, tc.wantWhy)
			}
		})
	}
}

// The node agents --wait waits for are named as the charts render them, so
// a renamed DaemonSet fails here, not as a --wait that never ends.
func TestPlannedDaemonSetsExist(t *testing.T) {
	for _, set := range [][]string{nil, {"profile=ambient"}} {
		plan, err := NewPlan(Source{Set: set, NoGateway: true, NoAddons: true})
		if err != nil {
			t.Fatal(err)
		}
		agents := 0
		for _, rel := range plan.Releases {
			if rel.DaemonSet == "" {
				continue
			}
			agents++
			out, err := renderRelease(rel, RenderKubeVersion(), nil, false)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := (&run{}).objectsOf(out.Manifest)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, o := range objs {
				found = found || (o.Kind == "DaemonSet" && o.Metadata.Name == rel.DaemonSet)
			}
			if !found {
				t.Errorf("--set %v: release %s renders no DaemonSet %s", set, rel.Name, rel.DaemonSet)
			}
		}
		if agents == 0 {
			t.Errorf("--set %v: no release with a node agent to wait for", set)
		}
	}
}
