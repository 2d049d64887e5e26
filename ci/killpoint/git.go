package killpoint

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
)

// Repo is the GitOps repository of the tests: a working copy whose one
// commit holds the app's applied AppMesh (appmesh.yaml), pushed to a bare
// remote.
type Repo struct {
	Dir    string // the working copy
	Origin string // the bare remote
	Git    *git.Repository
	Branch plumbing.ReferenceName
}

// NewRepo commits cl's applied AppMesh in a fresh working copy with a bare
// remote (origin), pushed.
func NewRepo(t testing.TB, cl *canary.Cluster) Repo {
	t.Helper()
	origin := t.TempDir()
	if _, err := git.PlainInit(origin, true); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := cl.AppliedAppMesh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := appmesh.Marshal(applied)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "appmesh.yaml"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if _, err := wt.Add("appmesh.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit(cl.App, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{origin}}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(&git.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	return Repo{Dir: dir, Origin: origin, Git: repo, Branch: head.Name()}
}

// File is the working copy's AppMesh file.
func (r Repo) File() string { return filepath.Join(r.Dir, "appmesh.yaml") }

// RemoteHash is the branch's commit in the repository at dir (zero when
// unreadable).
func RemoteHash(dir string, branch plumbing.ReferenceName) plumbing.Hash {
	r, err := git.PlainOpen(dir)
	if err != nil {
		return plumbing.ZeroHash
	}
	ref, err := r.Reference(branch, true)
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// CommitLog is the messages of HEAD's history, oldest first.
func CommitLog(t testing.TB, repo *git.Repository) []string {
	t.Helper()
	iter, err := repo.Log(&git.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	_ = iter.ForEach(func(c *object.Commit) error {
		msgs = append(msgs, strings.TrimSpace(c.Message))
		return nil
	})
	slices.Reverse(msgs)
	return msgs
}

// WatchCommits fires (with "": the ref names no step; Left checks it was
// the step's commit) every time the branch ref of the working copy is
// written.
func (r Repo) WatchCommits() Watch {
	return func(t testing.TB, fire func(string), done <-chan struct{}) {
		events := Written(t, filepath.Join(r.Dir, ".git", r.Branch.String()), done)
		go func() {
			for range events {
				fire("")
			}
		}()
	}
}

// gitState says where the working copy is.
type gitState struct {
	clean, pushed bool
	head          string // HEAD's commit message
	describe      string
}

// state reads the working copy; pushed compares with the remote when
// withOrigin.
func (r Repo) state(t testing.TB, withOrigin bool) gitState {
	t.Helper()
	head, err := r.Git.Head()
	if err != nil {
		t.Fatalf("after the kill HEAD does not resolve: %v", err)
	}
	commit, err := r.Git.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Git.Worktree()
	st, err := wt.Status()
	if err != nil {
		t.Fatal(err)
	}
	g := gitState{clean: st.IsClean(), pushed: withOrigin && RemoteHash(r.Origin, r.Branch) == head.Hash(), head: strings.TrimSpace(commit.Message)}
	g.describe = fmt.Sprintf("HEAD %q, pushed %t, git status %q", g.head, g.pushed, strings.TrimSpace(st.String()))
	return g
}
