package testcluster

import "testing"

// TestFreePortOutsideEphemeralRange: the ports handed to components lie
// below the kernel's ephemeral range (so no outgoing connection can take
// one before the component binds it), are distinct, and are free. A port
// from Listen(":0") is in that range: that is what this test refuses.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	lo := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if port < firstPort || port >= lo {
			t.Fatalf("port %d: want %d ≤ port < %d (below the ephemeral range)", port, firstPort, lo)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
}
