package e2e

import (
	"testing"

	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// Each test starts its own control planes (two linked clusters): they run in
// a network namespace with only lo, as every test binary's do
// (docs/harness.md).
func TestMain(m *testing.M) { testcluster.Isolated(m, nil) }
