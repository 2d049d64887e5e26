package canary

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
)

const bookinfoFile = "apps/bookinfo/appmesh.yaml"

// killedGitStep leaves the working copy as a GitOps command killed during
// `weight 10` (from weight 0) would: how far its Save got is stage.
func killedGitStep(t *testing.T, dir string, stage string) {
	t.Helper()
	g := &GitStore{Dir: dir, App: "bookinfo"}
	cur, err := g.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(cur, Request{Op: OpWeight, Weight: 10})
	if err != nil {
		t.Fatal(err)
	}
	if stage == "committed" {
		if _, err := g.Save(context.Background(), p.Steps[0].Config, p.Steps[0].Message); err != nil {
			t.Fatal(err)
		}
		return
	}
	out, err := editAppMesh(g.data, p.Steps[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, bookinfoFile), out); err != nil {
		t.Fatal(err)
	}
	if stage == "staged" {
		wt, _ := g.repo.Worktree()
		if _, err := wt.Add(bookinfoFile); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGitOpsResumesAKilledStep: a GitOps command killed between writing the
// step into the AppMesh file and its commit (before or after staging it),
// or after the commit, is run again: one commit of the step, none twice,
// and the file as an unkilled run leaves it. Anything else dirty is still
// refused (the negative controls).
func TestGitOpsResumesAKilledStep(t *testing.T) {
	// What an unkilled run leaves.
	want, wantRepo := newRepo(t)
	runToEnd(t, want, startReq)
	runToEnd(t, want, Request{Op: OpWeight, Weight: 10})
	wantFile, err := os.ReadFile(filepath.Join(want, bookinfoFile))
	if err != nil {
		t.Fatal(err)
	}
	wantLog := log(t, wantRepo)

	for _, tc := range []struct {
		name  string // where the command was killed
		stage string // how far its Save got: "written", "staged", "committed"
		edit  string // then a person's edit of the AppMesh file (appended), or another file ("values")
		want  string // "" the run resumes; else the refusal contains it
	}{
		{name: "after writing the file", stage: "written"},
		{name: "after staging the file", stage: "staged"},
		{name: "after the commit", stage: "committed"},
		// Negative controls: not exactly the killed step's file, or more.
		{name: "the step's file edited by hand", stage: "written", edit: "# edited\n", want: "uncommitted changes (" + bookinfoFile + ")"},
		{name: "the step's file and another file", stage: "staged", edit: "values", want: "apps/bookinfo/values.yaml"},
		{name: "a hand edit alone", stage: "none", edit: "  - service: ratings\n", want: "uncommitted changes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, repo := newRepo(t)
			runToEnd(t, dir, startReq)
			if tc.stage != "none" {
				killedGitStep(t, dir, tc.stage)
			}
			switch tc.edit {
			case "":
			case "values":
				writeFile(t, dir, "apps/bookinfo/values.yaml", "replicas: 3\n")
			default:
				data, _ := os.ReadFile(filepath.Join(dir, bookinfoFile))
				writeFile(t, dir, bookinfoFile, string(data)+tc.edit)
			}
			var progress bytes.Buffer
			_, err := Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo", Warn: &progress}, nil, Request{Op: OpWeight, Weight: 10}, Options{})
			if tc.want != "" {
				var conflict *ConflictError
				if !errors.As(err, &conflict) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want a ConflictError with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("run again: %v\n%s", err, progress.String())
			}
			if got := log(t, repo); strings.Join(got, "\n") != strings.Join(wantLog, "\n") {
				t.Errorf("git log:\n  %s\nwant (an unkilled run):\n  %s", strings.Join(got, "\n  "), strings.Join(wantLog, "\n  "))
			}
			if got, _ := os.ReadFile(filepath.Join(dir, bookinfoFile)); !bytes.Equal(got, wantFile) {
				t.Errorf("file:\n%s\nwant:\n%s", got, wantFile)
			}
			if tc.stage != "committed" && !strings.Contains(progress.String(), "written but not committed") {
				t.Errorf("progress %q does not say what was put back", progress.String())
			}
		})
	}
}

// TestGitOpsPushesWhatAKilledCommandDidNot: a command killed after its
// commit, before its push, left a commit the remote (what Argo CD sees)
// lacks; running it again pushes it first and commits nothing new. A remote
// that moved meanwhile is a conflict, before anything is committed.
func TestGitOpsPushesWhatAKilledCommandDidNot(t *testing.T) {
	setup := func(t *testing.T) (string, *git.Repository, *git.Repository, string) {
		dir, repo := newRepo(t)
		remote := t.TempDir()
		bare, err := git.PlainInit(remote, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote}}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ { // start's three steps, pushed
			if _, err := Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo", Push: true}, nil, startReq, Options{}); err != nil {
				t.Fatal(err)
			}
		}
		killedGitStep(t, dir, "committed") // weight 10, committed, not pushed
		return dir, repo, bare, remote
	}
	t.Run("pushed first", func(t *testing.T) {
		dir, repo, bare, _ := setup(t)
		before := len(log(t, repo))
		var progress bytes.Buffer
		if _, err := Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo", Push: true, Warn: &progress}, nil, Request{Op: OpWeight, Weight: 10}, Options{}); err != nil {
			t.Fatal(err)
		}
		local, _ := repo.Head()
		ref, err := bare.Reference(local.Name(), true)
		if err != nil || ref.Hash() != local.Hash() {
			t.Errorf("remote at %v (%v), local at %s: the unpushed commit was not pushed", ref, err, local.Hash())
		}
		if n := len(log(t, repo)); n != before {
			t.Errorf("%d commits after the re-run, want %d (nothing new)", n, before)
		}
		if !strings.Contains(progress.String(), "pushed commits") {
			t.Errorf("progress %q does not say it pushed", progress.String())
		}
	})
	t.Run("remote moved", func(t *testing.T) {
		dir, repo, _, remote := setup(t)
		// Someone else pushed to the remote meanwhile.
		other := t.TempDir()
		clone, err := git.PlainClone(other, false, &git.CloneOptions{URL: remote})
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, other, "apps/bookinfo/values.yaml", "replicas: 5\n")
		commitAll(t, clone, "bookinfo: scale")
		if err := clone.Push(&git.PushOptions{}); err != nil {
			t.Fatal(err)
		}
		before := len(log(t, repo))
		_, err = Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo", Push: true}, nil, Request{Op: OpWeight, Weight: 50}, Options{})
		var conflict *ConflictError
		if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "git pull --rebase") {
			t.Fatalf("err = %v, want a ConflictError", err)
		}
		if n := len(log(t, repo)); n != before {
			t.Errorf("%d commits, want %d: nothing committed", n, before)
		}
	})
}
