package argocd_test

import (
	"testing"

	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// TestRepoServerPatch starts a control plane of its own: like every test
// binary that does, this one runs in a network namespace with only lo
// (docs/harness.md).
func TestMain(m *testing.M) { testcluster.Isolated(m, nil) }
