package installer

import (
	"testing"
)

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
