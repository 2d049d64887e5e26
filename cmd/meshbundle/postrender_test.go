package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/failure"
)

// TestPostrenderSubcommand: `meshbundle postrender` is the same code as the
// lean binary, with the CLI's exit codes.
func TestPostrenderSubcommand(t *testing.T) {
	const svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - {name: %s, port: 80}\n"
	tests := []struct {
		name     string       // case
		portName string       // the Service port name the chart renders
		wantCode failure.Kind // exit code
	}{
		{"conforming chart passes", "http", failure.OK},
		{"bad port name is bad input", "web", failure.BadInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			in := strings.NewReader(strings.Replace(svc, "%s", tt.portName, 1))
			code := run([]string{"postrender"}, in, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.wantCode, stderr.String())
			}
			if tt.wantCode == failure.OK && !strings.Contains(stdout.String(), "name: web") {
				t.Errorf("stdout lacks the Service:\n%s", stdout.String())
			}
			if tt.wantCode != failure.OK && (stdout.Len() != 0 || !strings.Contains(stderr.String(), `Service web port 80`)) {
				t.Errorf("stdout %q, stderr %q: want nothing on stdout and the port error on stderr", stdout.String(), stderr.String())
			}
		})
	}
}
