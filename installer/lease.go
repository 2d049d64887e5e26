package installer

import (
	"context"

	"github.com/meshbundle/meshbundle/lease"
)

// One installer run at a time per cluster: install, upgrade, uninstall and
// the gateway commands hold the Lease kube-system/meshbundle-installer
// (package lease) while they change anything, so a retrying operator cannot
// unlock (mark failed) a release another run is in the middle of writing. A
// second run is refused with a LockedError naming the holder; a lease its
// holder stopped renewing for longer than LeaseDuration (the holder was
// killed) is taken over.
const (
	LeaseNamespace = "kube-system" // exists before istio-system, and outlives it
	LeaseName      = "meshbundle-installer"
	// LeaseDuration: a run renews the lease every 5 s, and a killed run's
	// lease is taken over 15 s after its last renewal.
	LeaseDuration = lease.Duration
)

// LockedError: another run holds the installer lease (exit code 5).
// Nothing was changed.
type LockedError = lease.LockedError

// LeaseLostError: the run lost its lease to another run and stopped; its
// kind is failure.Failed: something may have changed; re-run to finish.
type LeaseLostError = lease.LostError

// acquireLease takes the installer lease for op, or returns a LockedError.
// lost is called (once) if a renewal finds the lease taken over.
func (c *cluster) acquireLease(ctx context.Context, op string, lost func(error)) (*lease.Lease, error) {
	return lease.Acquire(ctx, c.kube.CoordinationV1(), LeaseNamespace, LeaseName, op, lost)
}
