package gatewayconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadErrors: every way an GatewayConfig file can be wrong gives an error
// naming the file, the field and the fix.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	const head = "apiVersion: meshbundle.dev/v1alpha1\nkind: GatewayConfig\nmetadata: {name: public, namespace: istio-ingress}\n"
	tests := []struct {
		name string   // what is wrong
		file string   // file content; "" for no file
		want []string // parts of the message besides the file and "(fix: "
	}{
		{"missing file", "", []string{"no such file"}},
		{"YAML syntax", head + "spec: [\n", []string{"decode", "line"}},
		{"duplicate key", head + "spec: {}\nspec: {}\n", []string{`"spec"`, "unique"}},
		{"wrong type", head + "spec:\n  servers: yes\n", []string{"spec.servers"}},
		{"unknown field", head + "spec:\n  servers:\n  - {port: 80, protocol: HTTP, hosts: [a.example.com], credentialNam: x}\n", []string{"spec.servers[0].credentialNam", "docs/gateways.md"}},
		{"invalid value", head + "spec:\n  servers:\n  - {port: 80, protocol: HTTP, hosts: [a.example.com]}\n  - {port: 80, protocol: HTTP, hosts: [b.example.com]}\n", []string{"spec.servers[1].port", "Duplicate value"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.Repeat("x", i+1)+".yaml")
			if tt.file != "" {
				if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load accepted it")
			}
			for _, w := range append([]string{"GatewayConfig file " + path, "(fix: "}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
