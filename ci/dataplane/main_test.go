package dataplane

import (
	"testing"

	"github.com/meshbundle/meshbundle/ci/netns"
)

// The unit tests run servers and clients on loopback; they run in a network
// namespace with only lo all the same, as every test that serves does.
func TestMain(m *testing.M) { netns.RunTests(m, nil) }
