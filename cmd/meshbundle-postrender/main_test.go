package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/renderer/postrendercmd"
)

// TestExitCodes runs the binary's entry point in-process on good and bad
// input: any error exits non-zero with a message on stderr and NOTHING on
// stdout (Helm then applies nothing).
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: shop, namespace: shop}\nspec:\n  ports: {mode: fix}\n")
	unknown := write("unknown.yaml", "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: shop}\nspec:\n  port: {mode: fix}\n")
	const svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - {name: web, port: 80}\n"
	tests := []struct {
		name     string   // case
		args     []string // command line
		stdin    string   // rendered manifests
		wantCode int      // exit code
		stderr   string   // substring of stderr ("" when none is expected)
	}{
		{"fix mode renames", []string{"--config", good}, svc, 0, ""},
		{"enforce by default", nil, svc, 2, `Service web port 80 (spec.ports[0].name "web")`},
		{"unknown AppMesh field", []string{"--config", unknown}, svc, 2, `unknown field "spec.port"`},
		{"missing config file", []string{"--config", filepath.Join(dir, "nope.yaml")}, svc, 2, "AppMesh file"},
		{"malformed YAML", nil, "kind: [", 2, "malformed YAML"},
		{"non-object document", []string{"--config", good}, "- a\n", 2, "not a Kubernetes object"},
		{"duplicate object", []string{"--config", good}, svc + "---\n" + svc, 2, "duplicate Service"},
		{"stray argument", []string{"extra"}, svc, 2, "unknown command"},
		{"unknown flag", []string{"--conifg=x"}, svc, 2, "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := postrendercmd.Main(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if tt.wantCode != 0 && stdout.Len() != 0 {
				t.Errorf("stdout has %d bytes on error", stdout.Len())
			}
			if tt.wantCode == 0 && !strings.Contains(stdout.String(), "name: http-web") {
				t.Errorf("stdout lacks the renamed port:\n%s", stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.stderr)
			}
		})
	}
}
