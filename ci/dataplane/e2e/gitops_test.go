package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/argocdstandin"
)

// gitOpsMode puts the app's applied AppMesh into a fresh git working copy
// and returns a canary.GitStore on it, so every canary step is a commit.
// A stand-in for Argo CD (ci/argocdstandin: Argo CD itself cannot run
// here) polls the working copy every 400 ms and applies a changed AppMesh
// with a helm upgrade of the release through the post-renderer, as a sync
// of the latest commit would. The test fails if the stand-in fails or two
// commits were synced as one; it stops when the test ends.
func gitOpsMode(t *testing.T, helm *canary.HelmStore, cl *canary.Cluster) canary.Store {
	t.Helper()
	applied, err := cl.AppliedAppMesh(context.Background())
	if err != nil || applied == nil {
		t.Fatalf("the applied AppMesh of %s: %v", cl.App, err)
	}
	doc, err := appmesh.Marshal(applied)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	commitFile(t, dir, doc)
	argo, err := argocdstandin.Start(helm, argocdstandin.WorkingCopy(filepath.Join(dir, "appmesh.yaml")), 400*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := argo.Stop(); err != nil {
			t.Error(err)
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
		if n := argo.Synced(); n != int64(commits-1) {
			t.Errorf("the Argo CD stand-in synced %d times for %d canary commits, want one sync per commit", n, commits-1)
		}
		t.Logf("the Argo CD stand-in synced %d canary commits, one by one", argo.Synced())
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
