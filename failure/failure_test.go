package failure

import (
	"errors"
	"testing"
)

// TestBadInputErrorMessage: object, field and fix are spelled out when
// given, and left out when Err's message already says them.
func TestBadInputErrorMessage(t *testing.T) {
	tests := []struct {
		name string         // case
		err  *BadInputError // the error
		want string         // its message
	}{
		{"all parts", &BadInputError{Object: "IstioOperator", Field: "spec.meshConfig.accessLogFile", Err: errors.New(`value 1: want a string`), Fix: "quote it"},
			`IstioOperator spec.meshConfig.accessLogFile: value 1: want a string (fix: quote it)`},
		{"field only", &BadInputError{Field: "--output", Err: errors.New(`"xml": use json or yaml`)}, `--output: "xml": use json or yaml`},
		{"message only", &BadInputError{Err: errors.New("--timeout 0s: must be positive")}, "--timeout 0s: must be positive"},
		{"no Err", &BadInputError{Object: "flag"}, "flag: invalid"},
		{"Err says its own fix", &BadInputError{Object: "meshbundle argocd generate", Err: errors.New(`plugin parameter "set": want a map (fix: set map:)`), Fix: "correct the plugin parameters"},
			`meshbundle argocd generate: plugin parameter "set": want a map (fix: set map:)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestKindString: every kind has a name (a new kind must get one).
func TestKindString(t *testing.T) {
	for i, k := range Kinds() {
		if int(k) != i {
			t.Errorf("Kinds()[%d] = %d: exit codes must be dense and in order", i, k)
		}
		if k.String() == "" || k.String()[0] == 'k' {
			t.Errorf("kind %d has no name", k)
		}
	}
	if got := Kind(99).String(); got != "kind(99)" { // negative control
		t.Errorf("Kind(99).String() = %q", got)
	}
}
