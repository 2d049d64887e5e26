package renderer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"
)

// TestInjectionToggleRollsWorkloads: turning injection off (or on) must
// change every workload's pod template, or running pods keep (or lack)
// their sidecar until someone restarts them.
func TestInjectionToggleRollsWorkloads(t *testing.T) {
	const deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers: [{name: web, image: web}]\n"
	template := func(enabled bool) string {
		am := appmesh.Default()
		am.Spec.Injection.Enabled = &enabled
		rs, err := runStages(am, nil, []byte(deploy), stageByName(t, "inject"))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := (Writer{}).Write(&out, rs); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	on, off := template(true), template(false)
	if on == off {
		t.Fatal("the pod template is the same with injection on and off")
	}
	for _, tc := range []struct {
		name, out, want string
	}{
		{"on", on, `sidecar.istio.io/inject: "true"`},
		{"off", off, `sidecar.istio.io/inject: "false"`},
	} {
		if strings.Count(tc.out, tc.want) != 2 { // label and annotation
			t.Errorf("injection %s: want label and annotation %s in\n%s", tc.name, tc.want, tc.out)
		}
	}
}
