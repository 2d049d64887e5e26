package installer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/meshbundle/meshbundle/failure"
)

// One installer run at a time per cluster: install, upgrade, uninstall and
// the gateway commands hold a coordination.k8s.io Lease while they change
// anything, so a retrying operator cannot unlock (mark failed) a release
// another run is in the middle of writing. A second run is refused with a
// LockedError naming the holder; a lease its holder stopped renewing for
// longer than its duration (the holder was killed) is taken over. The lease
// costs a GET and one write at the start and one write at the end; a run
// renews it every LeaseDuration/3.
const (
	LeaseNamespace = "kube-system" // exists before istio-system, and outlives it
	LeaseName      = "meshbundle-installer"
	// LeaseDuration: a lease not renewed for this long is stale (what
	// Kubernetes' own controllers use for leader election); a run renews it
	// every 5 s, and a killed run's lease is taken over 15 s after its last
	// renewal.
	LeaseDuration = 15 * time.Second
)

// LockedError: another run holds the installer lease. Nothing was changed.
type LockedError struct {
	Holder  string
	Since   time.Time // when it acquired the lease
	Renewed time.Time // its last renewal
	Expires time.Time // when it counts as stale unless renewed
}

// Kind is failure.Locked.
func (e *LockedError) Kind() failure.Kind { return failure.Locked }

func (e *LockedError) Error() string {
	return fmt.Sprintf("another meshbundle run holds the lease %s/%s: %s, since %s (renewed %s ago); nothing was changed: "+
		"retry when it has finished (if it was killed, its lease is taken over after %s)",
		LeaseNamespace, LeaseName, e.Holder, e.Since.UTC().Format(time.RFC3339), time.Since(e.Renewed).Round(time.Second), e.Expires.UTC().Format(time.RFC3339))
}

// LeaseLostError: the run stopped renewing its lease in time and another run
// took it over; this run stopped. Its kind is failure.Failed: unlike after
// a LockedError, something may have changed; re-run to finish.
type LeaseLostError struct{ Err error }

func (e *LeaseLostError) Error() string { return e.Err.Error() }
func (e *LeaseLostError) Unwrap() error { return e.Err }

// lease is a held installer lease.
type lease struct {
	mu       sync.Mutex // the LeaseLock keeps the object it last read
	lock     *resourcelock.LeaseLock
	record   resourcelock.LeaderElectionRecord
	stop     chan struct{}
	stopped  sync.WaitGroup
	tookOver string // the stale holder this run replaced, if any
}

// leaseIdentity names this run: operation, host, process and a random
// suffix (two runs in one process are distinct holders).
func leaseIdentity(op string) string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("meshbundle %s on %s pid %d (%s)", op, host, os.Getpid(), hex.EncodeToString(b))
}

// acquireLease takes the installer lease for op, or returns a LockedError.
// lost is called (once) if a renewal finds the lease taken over.
func (c *cluster) acquireLease(ctx context.Context, op string, lost func(error)) (*lease, error) {
	id := leaseIdentity(op)
	l := &lease{
		lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: LeaseNamespace, Name: LeaseName},
			Client:     c.kube.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		stop: make(chan struct{}),
	}
	now := metav1.NewTime(time.Now())
	l.record = resourcelock.LeaderElectionRecord{HolderIdentity: id, LeaseDurationSeconds: int(LeaseDuration / time.Second), AcquireTime: now, RenewTime: now}
	old, _, err := l.lock.Get(ctx)
	switch {
	case apierrors.IsNotFound(err):
		err = l.lock.Create(ctx, l.record)
		if apierrors.IsAlreadyExists(err) {
			return nil, c.lockedBy(ctx)
		}
	case err != nil:
	case old.HolderIdentity != "" && !stale(old, now.Time):
		return nil, lockedError(old)
	default:
		if old.HolderIdentity != "" {
			l.tookOver = fmt.Sprintf("took over the installer lease from %s, not renewed since %s", old.HolderIdentity, old.RenewTime.UTC().Format(time.RFC3339))
		}
		l.record.LeaderTransitions = old.LeaderTransitions + 1
		err = l.lock.Update(ctx, l.record)
		if apierrors.IsConflict(err) {
			// Another run took it between our read and write.
			return nil, c.lockedBy(ctx)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("acquire lease %s/%s: %w", LeaseNamespace, LeaseName, err)
	}
	l.stopped.Add(1)
	go l.renew(lost)
	return l, nil
}

func stale(r *resourcelock.LeaderElectionRecord, now time.Time) bool {
	return now.After(r.RenewTime.Add(time.Duration(r.LeaseDurationSeconds) * time.Second))
}

func lockedError(r *resourcelock.LeaderElectionRecord) error {
	return &LockedError{Holder: r.HolderIdentity, Since: r.AcquireTime.Time, Renewed: r.RenewTime.Time,
		Expires: r.RenewTime.Add(time.Duration(r.LeaseDurationSeconds) * time.Second)}
}

// lockedBy reads who holds the lease after losing a race for it.
func (c *cluster) lockedBy(ctx context.Context) error {
	lock := &resourcelock.LeaseLock{LeaseMeta: metav1.ObjectMeta{Namespace: LeaseNamespace, Name: LeaseName}, Client: c.kube.CoordinationV1()}
	r, _, err := lock.Get(ctx)
	if err != nil {
		return fmt.Errorf("acquire lease %s/%s: lost the race to another run, and reading it failed: %w", LeaseNamespace, LeaseName, err)
	}
	return lockedError(r)
}

// renew keeps the lease fresh until release; a failed renewal is retried
// until the lease would count as stale, then the run is stopped.
func (l *lease) renew(lost func(error)) {
	defer l.stopped.Done()
	tick := time.NewTicker(LeaseDuration / 3)
	defer tick.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), LeaseDuration/3)
		l.mu.Lock()
		l.record.RenewTime = metav1.NewTime(time.Now())
		err := l.lock.Update(ctx, l.record)
		if apierrors.IsConflict(err) {
			// Someone wrote the lease: still ours only if nobody took it over.
			if cur, _, gerr := l.lock.Get(ctx); gerr == nil && cur.HolderIdentity == l.record.HolderIdentity {
				err = l.lock.Update(ctx, l.record)
			}
		}
		l.mu.Unlock()
		cancel()
		if err == nil {
			lastOK = time.Now()
			continue
		}
		if apierrors.IsConflict(err) || time.Since(lastOK) > LeaseDuration {
			lost(&LeaseLostError{Err: fmt.Errorf("lost the lease %s/%s (another run may have taken it over): %w; re-run to finish", LeaseNamespace, LeaseName, err)})
			return
		}
	}
}

// release ends the renewals and frees the lease for the next run.
func (l *lease) release() error {
	close(l.stop)
	l.stopped.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.record.HolderIdentity, l.record.RenewTime = "", metav1.NewTime(time.Now())
	err := l.lock.Update(ctx, l.record)
	if apierrors.IsConflict(err) {
		return nil // taken over: no longer ours to free
	}
	if err != nil {
		return fmt.Errorf("release lease %s/%s (the next run takes it over after %s): %w", LeaseNamespace, LeaseName, LeaseDuration, err)
	}
	return nil
}

// errLeaseNotHeld: the caller tried to unlock a release without the lease.
var errLeaseNotHeld = errors.New("the installer lease is not held: unlocking a release left pending could break a live operation; take it first (Cluster.Lock)")
