package installer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/values"
)

// Errors from a field of the IstioOperator name the field, the value and
// where it came from, also where Istio's validation says only what the JSON
// decoder saw.
func TestFieldErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "iop.yaml")
	if err := os.WriteFile(file, []byte("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    defaultConfig:\n      concurrency: lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string   // case
		set   []string // Source.Set
		files []string // Source.Files
		want  []string // substrings of the error
	}{
		{name: "number field given letters", set: []string{"meshConfig.defaultConfig.tracing.sampling=abc"},
			want: []string{"spec.meshConfig.defaultConfig.tracing.sampling", `value "abc"`, "from --set meshConfig.defaultConfig.tracing.sampling=abc"}},
		{name: "bool field", set: []string{"meshConfig.enableTracing=maybe"},
			want: []string{"spec.meshConfig.enableTracing", `value "maybe"`, "from --set meshConfig.enableTracing=maybe"}},
		{name: "chart values field", set: []string{"values.pilot.autoscaleMin=abc"},
			want: []string{"spec.values.pilot.autoscaleMin", `value "abc"`, "from --set values.pilot.autoscaleMin=abc"}},
		{name: "valid sets beside the bad one are not blamed", set: []string{"meshConfig.defaultConfig.tracing.sampling=10", "meshConfig.enableTracing=maybe"},
			want: []string{"spec.meshConfig.enableTracing", "from --set meshConfig.enableTracing=maybe"}},
		{name: "from a file", files: []string{file},
			want: []string{"spec.meshConfig.defaultConfig.concurrency", `value "lots"`, "from your -f file"}},
		// Istio names the field itself for the typed parts; kept as is.
		{name: "component field", set: []string{"components.pilot.k8s.replicaCount=x"}, want: []string{"replicaCount"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPlan(Source{Set: tc.set, Files: tc.files})
			var bad *failure.BadInputError
			if !errors.As(err, &bad) {
				t.Fatalf("error %v (%T), want a failure.BadInputError", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// Negative control: on valid configurations the field finder blames
// nothing, so it cannot point at a field that is fine.
func TestBadFieldNoneOnValidProfiles(t *testing.T) {
	for _, profile := range values.Profiles {
		p, err := NewPlan(Source{Profile: profile, Set: []string{"meshConfig.defaultConfig.tracing.sampling=10", "values.pilot.autoscaleMin=2"}})
		if err != nil {
			t.Fatal(err)
		}
		if path, v, cause, ok := badField(p.IstioOperator); ok {
			t.Errorf("profile %s: blamed %s = %v (%v), which Istio accepted", profile, path, v, cause)
		}
	}
}
