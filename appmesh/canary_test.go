package appmesh

import (
	"strings"
	"testing"
)

// TestCanaryValidation: phase/weight combinations and promotions are
// checked with the offending field's path.
func TestCanaryValidation(t *testing.T) {
	tests := []struct {
		name string // what the document does
		spec string // the spec section
		want string // part of the error; "" = valid
	}{
		{"progressing at 10", "  canary: {target: web, version: v2, image: web:2, phase: Progressing, weight: 10}\n", ""},
		{"starting must be 0", "  canary: {target: web, version: v2, image: web:2, phase: Starting, weight: 10}\n", "spec.canary.weight: Invalid value: 10: must be 0 in phase Starting"},
		{"stabilizing must be 100", "  canary: {target: web, version: v2, image: web:2, phase: Stabilizing, weight: 50}\n", "must be 100 in phase Stabilizing"},
		{"finishing must be 100", "  canary: {target: web, version: v2, image: web:2, phase: Finishing, weight: 0}\n", "must be 100 in phase Finishing"},
		{"hand-written without a phase starts at Labelling, weight 0", "  canary: {target: web, version: v2, image: web:2, weight: 10}\n", "must be 0 in phase Labelling"},
		{"unknown phase", "  canary: {target: web, version: v2, image: web:2, phase: Paused}\n", `spec.canary.phase: Unsupported value: "Paused"`},
		{"weight above 100", "  canary: {target: web, version: v2, image: web:2, phase: Progressing, weight: 101}\n", "between 0 and 100"},
		{"promotion", "  promoted: [{deployment: web, version: v2, image: web:2}]\n", ""},
		{"promotion without image", "  promoted: [{deployment: web, version: v2}]\n", "spec.promoted[0].image: Required value"},
		{"duplicate promotion", "  promoted: [{deployment: web, version: v2, image: a}, {deployment: web, version: v3, image: b}]\n", "spec.promoted[1].deployment: Duplicate value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(header + "spec:\n" + tt.spec))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
