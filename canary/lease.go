package canary

import (
	"context"

	"k8s.io/client-go/kubernetes"

	"github.com/meshbundle/meshbundle/lease"
)

// LeaseName is the Lease a canary command in Helm mode holds, in the app's
// namespace, for its whole run: one canary command per app at a time (a
// second one is refused with a *lease.LockedError, exit code 5, naming the
// holder), and a release a killed command left pending-upgrade is unlocked
// only by the next command that holds it (HelmStore.Lease).
func LeaseName(app string) string { return "meshbundle-canary-" + app }

// AcquireLease takes the app's canary lease for op ("canary weight"); lost
// is called if it is lost (the command must stop then). Release it when the
// command ends.
func AcquireLease(ctx context.Context, client kubernetes.Interface, namespace, app, op string, lost func(error)) (*lease.Lease, error) {
	return lease.Acquire(ctx, client.CoordinationV1(), namespace, LeaseName(app), op, lost)
}
