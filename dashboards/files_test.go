package dashboards

import (
	"path/filepath"
	"testing"

	"github.com/meshbundle/meshbundle/internal/golden"
)

// TestGeneratedFiles fails when dashboards/generated/ is stale; refresh with
// `go generate ./dashboards` (UPDATE_GOLDEN=1).
func TestGeneratedFiles(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		golden.Check(t, filepath.Join("generated", name), want, "`go generate ./dashboards`")
	}
}
