package ci_test

import (
	"os/exec"
	"strings"
	"testing"
)

// `make test` runs `make tools` first, so by the time this runs every tool is
// in the cache: a second ci/tools.sh must find them all and build nothing.
// (A key that changes between runs would rebuild the control plane, minutes
// each, on every `make test`.)
func TestToolsCacheIsReused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ci/tools.sh; skipped with -short")
	}
	out, err := exec.Command("bash", "tools.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("ci/tools.sh: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "tools: building") {
		t.Errorf("second ci/tools.sh run rebuilt tools; the cache key is unstable:\n%s", out)
	}
}
