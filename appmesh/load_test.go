package appmesh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadErrors: every way an AppMesh file can be wrong gives an error
// naming the file, the field and the fix.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	const head = "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: shop, namespace: shop}\n"
	tests := []struct {
		name string   // what is wrong
		file string   // file content; "" for no file
		want []string // parts of the message besides the file and "(fix: "
	}{
		{"missing file", "", []string{"no such file"}},
		{"YAML syntax", head + "spec: [\n", []string{"decode", "line"}},
		{"duplicate key", head + "spec: {}\nspec: {}\n", []string{`"spec"`, "unique"}},
		{"wrong type", head + "spec:\n  routes: yes\n", []string{"spec.routes"}},
		{"unknown field", head + "spec:\n  injection: {enable: true}\n", []string{"spec.injection.enable", "docs/renderer.md"}},
		{"invalid value", head + "spec:\n  ports: {mode: sideways}\n", []string{"spec.ports.mode", `"sideways"`, "supported values"}},
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
			for _, w := range append([]string{"AppMesh file " + path, "(fix: "}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
