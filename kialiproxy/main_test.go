package kialiproxy

import (
	"testing"

	"github.com/meshbundle/meshbundle/ci/netns"
)

// The browser test runs chromium, the one program here that reaches out on
// its own (component updates, lookups): like every test that starts
// servers and clients, it runs in a network namespace with only lo
// (docs/harness.md), and fails if any socket had a peer outside it.
func TestMain(m *testing.M) { netns.RunTests(m, nil) }
