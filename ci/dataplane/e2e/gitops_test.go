package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
)

// gitOpsMode puts the app's applied AppMesh into a fresh git working copy
// and returns a canary.GitStore on it, so every canary step is a commit.
// A stand-in for Argo CD (Argo CD itself does not run here; canary/e2e
// TestGitOpsWaitsForSync has the same one) polls the working copy every
// 400 ms and applies a changed AppMesh with a helm upgrade of the release
// through the post-renderer, as a sync of the latest commit would. The
// test fails if the stand-in fails or two commits were synced as one; it
// stops when the test ends.
func gitOpsMode(t *testing.T, helm *canary.HelmStore, cl *canary.Cluster) canary.Store {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	applied, err := cl.AppliedAppMesh(ctx)
	if err != nil || applied == nil {
		cancel()
		t.Fatalf("the applied AppMesh of %s: %v", cl.App, err)
	}
	doc, err := appmesh.Marshal(applied)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "appmesh.yaml")
	commitFile(t, dir, doc)

	failed := make(chan error, 1)
	done := make(chan struct{})
	var synced atomic.Int64
	go func() {
		defer close(done)
		last := string(doc)
		for ctx.Err() == nil {
			time.Sleep(400 * time.Millisecond)
			data, err := os.ReadFile(file)
			if err != nil || string(data) == last {
				continue
			}
			am, err := appmesh.Decode(data)
			if err == nil {
				sync := &canary.HelmStore{Config: helm.Config, Release: helm.Release, Cluster: cl, Timeout: time.Minute}
				_, err = sync.Save(ctx, am, "sync")
			}
			if err != nil {
				if ctx.Err() == nil {
					failed <- err
				}
				return
			}
			last = string(data)
			synced.Add(1)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		select {
		case err := <-failed:
			t.Errorf("the Argo CD stand-in failed to sync: %v", err)
		default:
		}
		// Every step waited for its sync, so each commit after the first
		// was applied on its own.
		repo, err := git.PlainOpen(dir)
		if err != nil {
			t.Fatal(err)
		}
		log, err := repo.Log(&git.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		commits := 0
		_ = log.ForEach(func(*object.Commit) error { commits++; return nil })
		if n := synced.Load(); n != int64(commits-1) {
			t.Errorf("the Argo CD stand-in synced %d times for %d canary commits, want one sync per commit", n, commits-1)
		}
		t.Logf("the Argo CD stand-in synced %d canary commits, one by one", synced.Load())
	})
	return &canary.GitStore{Dir: dir, App: cl.App}
}

// commitFile makes dir a git repository whose one commit holds appmesh.yaml.
func commitFile(t *testing.T, dir string, doc []byte) {
	t.Helper()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "appmesh.yaml"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("appmesh.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit(app, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
}
