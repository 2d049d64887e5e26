// Package argocdstandin is a stand-in for Argo CD's sync of an app, for
// the end-to-end tests of GitOps mode. Argo CD itself (application
// controller, repo-server, cmp-server) cannot run here, so a poller does
// the one thing those tests need from it: it reads the AppMesh Argo CD
// would see (the working copy's file, or the file in a remote's branch,
// i.e. only pushed commits) and, when that changed, applies it as a sync
// would, with a helm upgrade of the app's release through the meshbundle
// post-renderer (canary.HelmStore.Save; Helm applies ConfigMaps first,
// then workloads, then custom resources, the order of an Argo CD sync).
// It is late on purpose (it polls every Interval): a canary step that
// moved on before its commit was synced shows up as two commits synced as
// one (Synced counts the syncs).
package argocdstandin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
)

// Source returns the AppMesh document Argo CD would sync now. An error
// means it cannot be read at this moment (a push under way); the poller
// tries again at the next tick.
type Source func() ([]byte, error)

// WorkingCopy is the file at path, as written (Argo CD syncing the
// working copy's latest commit; the canary command commits right after it
// writes the file).
func WorkingCopy(path string) Source {
	return func() ([]byte, error) { return os.ReadFile(path) }
}

// Branch is the file at path (slash-separated, relative to the repository
// root) in the newest commit of branch in the repository at dir (a bare
// remote): only what was pushed, as Argo CD sees it.
func Branch(dir string, branch plumbing.ReferenceName, path string) Source {
	return func() ([]byte, error) {
		r, err := git.PlainOpen(dir)
		if err != nil {
			return nil, err
		}
		ref, err := r.Reference(branch, true)
		if err != nil {
			return nil, err
		}
		commit, err := r.CommitObject(ref.Hash())
		if err != nil {
			return nil, err // a push under way: the ref ahead of its objects
		}
		f, err := commit.File(path)
		if err != nil {
			return nil, err
		}
		data, err := f.Contents()
		return []byte(data), err
	}
}

// Sync is a running stand-in.
type Sync struct {
	cancel context.CancelFunc
	done   chan struct{}
	synced atomic.Int64
	mu     sync.Mutex
	err    error // the failed sync that stopped it
}

// Start syncs src into the release of helm (its Config, Release, Cluster
// and Timeout; its Source and Lease are not used) every interval, until
// Stop. What src holds when it starts counts as applied already. A sync
// that fails stops the stand-in; Err then reports it.
func Start(helm *canary.HelmStore, src Source, interval time.Duration) (*Sync, error) {
	last, err := src()
	if err != nil {
		return nil, fmt.Errorf("the AppMesh to sync from: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sync{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
			data, err := src()
			if err != nil || string(data) == string(last) {
				continue
			}
			am, err := appmesh.Decode(data)
			if err == nil {
				// A store of its own per sync: Argo CD applies whatever
				// the release runs, it checks no revision.
				release := &canary.HelmStore{Config: helm.Config, Release: helm.Release, Cluster: helm.Cluster, Timeout: helm.Timeout}
				_, err = release.Save(ctx, am, "sync")
			}
			if err != nil {
				if ctx.Err() == nil {
					s.mu.Lock()
					s.err = fmt.Errorf("the Argo CD stand-in failed to sync: %w", err)
					s.mu.Unlock()
				}
				return
			}
			last = data
			s.synced.Add(1)
		}
	}()
	return s, nil
}

// Synced is the number of syncs so far: one per change of the source it
// saw (a change it did not see in time is counted with the next one).
func (s *Sync) Synced() int64 { return s.synced.Load() }

// Err is the failed sync that stopped the stand-in, or nil.
func (s *Sync) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stop stops the stand-in, waits for a sync under way, and returns Err.
func (s *Sync) Stop() error {
	s.cancel()
	<-s.done
	return s.Err()
}

// Explain adds the stand-in's failure, when it had one, to err from the
// canary command that waited for it: the likelier cause.
func (s *Sync) Explain(err error) error {
	if serr := s.Err(); err != nil && serr != nil {
		return errors.Join(err, serr)
	}
	return err
}
