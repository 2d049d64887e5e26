package dashboards

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedFiles fails when dashboards/generated/ is stale; refresh with
// `go generate ./dashboards` (UPDATE_GOLDEN=1).
func TestGeneratedFiles(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		path := filepath.Join("generated", name)
		if os.Getenv("UPDATE_GOLDEN") == "1" {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run `go generate ./dashboards`)", path, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go generate ./dashboards` and commit it", path)
		}
	}
}
