// Package lease is the one lock meshbundle's commands take before they
// change Helm releases: a coordination.k8s.io Lease naming its holder
// (operation, host, pid), renewed while the command runs, taken over once
// its holder stopped renewing it (the holder was killed). It also does the
// one thing only a holder may do: unlock a release a killed holder left
// pending-install/-upgrade/-rollback, which without the lease could be a
// live operation of another run.
//
// The installer holds kube-system/meshbundle-installer for every install,
// upgrade, uninstall and gateway command; a canary command in Helm mode
// holds <namespace>/meshbundle-canary-<app> (docs/canary.md). It is a
// package of its own because both use it and neither should import the
// other for it.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/meshbundle/meshbundle/failure"
)

// Duration: a lease not renewed for this long is stale (what Kubernetes'
// own controllers use for leader election); a holder renews it every
// Duration/3 (5 s), so a killed holder's lease is taken over 15 s after its
// last renewal. The lease costs a GET and one write at the start, one write
// every 5 s and one at the end.
const Duration = 15 * time.Second

// LockedError: another run holds the lease. Nothing was changed.
type LockedError struct {
	Namespace, Name string    // the Lease
	Holder          string    // its holder's identity
	Since           time.Time // when it acquired the lease
	Renewed         time.Time // its last renewal
	Expires         time.Time // when it counts as stale unless renewed
}

// Kind is failure.Locked (exit code 5).
func (e *LockedError) Kind() failure.Kind { return failure.Locked }

func (e *LockedError) Error() string {
	return fmt.Sprintf("another meshbundle run holds the lease %s/%s: %s, since %s (renewed %s ago); nothing was changed: "+
		"retry when it has finished (if it was killed, its lease is taken over after %s)",
		e.Namespace, e.Name, e.Holder, e.Since.UTC().Format(time.RFC3339), time.Since(e.Renewed).Round(time.Second), e.Expires.UTC().Format(time.RFC3339))
}

// LostError: the run stopped renewing its lease in time and another run
// took it over; this run stopped. Its kind is failure.Failed: unlike after
// a LockedError, something may have changed; re-run to finish.
type LostError struct{ Err error }

func (e *LostError) Error() string { return e.Err.Error() }
func (e *LostError) Unwrap() error { return e.Err }

// Lease is a held lease.
type Lease struct {
	mu       sync.Mutex // the LeaseLock keeps the object it last read
	lock     *resourcelock.LeaseLock
	record   resourcelock.LeaderElectionRecord
	stop     chan struct{}
	stopped  sync.WaitGroup
	tookOver string
}

// Identity names a run: operation, host, process and a random suffix (two
// runs in one process are distinct holders).
func Identity(op string) string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("meshbundle %s on %s pid %d (%s)", op, host, os.Getpid(), hex.EncodeToString(b))
}

// Acquire takes the lease namespace/name for op, or returns a *LockedError
// naming the holder. lost is called (once) if a renewal finds the lease
// taken over or cannot renew it in time; the caller stops then.
func Acquire(ctx context.Context, client coordinationv1.LeasesGetter, namespace, name, op string, lost func(error)) (*Lease, error) {
	id := Identity(op)
	l := &Lease{
		lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: name},
			Client:     client,
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		stop: make(chan struct{}),
	}
	now := metav1.NewTime(time.Now())
	l.record = resourcelock.LeaderElectionRecord{HolderIdentity: id, LeaseDurationSeconds: int(Duration / time.Second), AcquireTime: now, RenewTime: now}
	old, _, err := l.lock.Get(ctx)
	switch {
	case apierrors.IsNotFound(err):
		err = l.lock.Create(ctx, l.record)
		if apierrors.IsAlreadyExists(err) {
			return nil, lockedBy(ctx, l.lock)
		}
	case err != nil:
	case old.HolderIdentity != "" && !Stale(old, now.Time):
		return nil, lockedError(namespace, name, old)
	default:
		if old.HolderIdentity != "" {
			l.tookOver = fmt.Sprintf("took over the lease %s/%s from %s, not renewed since %s", namespace, name, old.HolderIdentity, old.RenewTime.UTC().Format(time.RFC3339))
		}
		l.record.LeaderTransitions = old.LeaderTransitions + 1
		err = l.lock.Update(ctx, l.record)
		if apierrors.IsConflict(err) {
			// Another run took it between our read and write.
			return nil, lockedBy(ctx, l.lock)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("acquire lease %s/%s: %w", namespace, name, err)
	}
	l.stopped.Add(1)
	go l.renew(lost)
	return l, nil
}

// TookOver says whose stale lease this run replaced ("" if none): worth a
// warning, since that run was killed and may have left work half done.
func (l *Lease) TookOver() string { return l.tookOver }

// Acquired is when this run took the lease.
func (l *Lease) Acquired() time.Time { return l.record.AcquireTime.Time }

// Holder is this run's identity.
func (l *Lease) Holder() string { return l.record.HolderIdentity }

// Stale says whether the holder of r stopped renewing it for longer than
// its duration.
func Stale(r *resourcelock.LeaderElectionRecord, now time.Time) bool {
	return now.After(r.RenewTime.Add(time.Duration(r.LeaseDurationSeconds) * time.Second))
}

func lockedError(namespace, name string, r *resourcelock.LeaderElectionRecord) error {
	return &LockedError{Namespace: namespace, Name: name, Holder: r.HolderIdentity, Since: r.AcquireTime.Time, Renewed: r.RenewTime.Time,
		Expires: r.RenewTime.Add(time.Duration(r.LeaseDurationSeconds) * time.Second)}
}

// lockedBy reads who holds the lease after losing a race for it.
func lockedBy(ctx context.Context, lock *resourcelock.LeaseLock) error {
	r, _, err := lock.Get(ctx)
	if err != nil {
		return fmt.Errorf("acquire lease %s/%s: lost the race to another run, and reading it failed: %w", lock.LeaseMeta.Namespace, lock.LeaseMeta.Name, err)
	}
	return lockedError(lock.LeaseMeta.Namespace, lock.LeaseMeta.Name, r)
}

// renew keeps the lease fresh until Release; a failed renewal is retried
// until the lease would count as stale, then the run is stopped.
func (l *Lease) renew(lost func(error)) {
	defer l.stopped.Done()
	tick := time.NewTicker(Duration / 3)
	defer tick.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), Duration/3)
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
		if apierrors.IsConflict(err) || time.Since(lastOK) > Duration {
			lost(&LostError{Err: fmt.Errorf("lost the lease %s/%s (another run may have taken it over): %w; re-run to finish", l.lock.LeaseMeta.Namespace, l.lock.LeaseMeta.Name, err)})
			return
		}
	}
}

// Release ends the renewals and frees the lease for the next run.
func (l *Lease) Release() error {
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
		return fmt.Errorf("release lease %s/%s (the next run takes it over after %s): %w", l.lock.LeaseMeta.Namespace, l.lock.LeaseMeta.Name, Duration, err)
	}
	return nil
}

// ErrNotHeld: the caller tried to unlock a release without holding a lease.
var ErrNotHeld = errors.New("the lease is not held: unlocking a release left pending could break a live operation; take it first (the installer: Cluster.Lock; a canary command: its app's canary lease)")

// Unlock marks a release that a killed run left pending-install/-upgrade/
// -rollback as failed, like Flux helm-controller's unlock step, so the next
// Helm action does not fail with "another operation is in progress". It
// returns the newest release record (nil if there is none). Only a held
// lease unlocks (a nil one returns ErrNotHeld): the caller's lease must be
// the one every run that upgrades this release holds, so that the pending
// operation's run is known to be gone.
func (l *Lease) Unlock(cfg *action.Configuration, name string) (bool, *release.Release, error) {
	if l == nil {
		return false, nil, ErrNotHeld
	}
	last, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("read release history: %w", err)
	}
	if !last.Info.Status.IsPending() {
		return false, last, nil
	}
	was := last.Info.Status
	last.SetStatus(release.StatusFailed, fmt.Sprintf("meshbundle: release was %s, left by an interrupted run; unlocked", was))
	if err := cfg.Releases.Update(last); err != nil {
		return false, nil, fmt.Errorf("unlock release stuck in %s: %w", was, err)
	}
	return true, last, nil
}
