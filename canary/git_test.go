package canary

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
)

// appMeshFile is the app's file in the test repository; its comment must
// survive every step.
const appMeshFile = `# The mesh config of bookinfo; Argo CD renders the chart with it.
apiVersion: meshbundle.dev/v1alpha1
kind: AppMesh
metadata:
  name: bookinfo
  namespace: bookinfo
spec:
  routes:
  - service: reviews # the canary target's Service
`

var testAuthor = &object.Signature{Name: "test", Email: "test@example.com", When: time.Unix(1700000000, 0)}

// newRepo makes a git repository with the AppMesh file under apps/bookinfo
// and a chart values file, in one commit.
func newRepo(t *testing.T) (string, *git.Repository) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "apps/bookinfo/appmesh.yaml", appMeshFile)
	writeFile(t, dir, "apps/bookinfo/values.yaml", "replicas: 2\n")
	commitAll(t, repo, "bookinfo: initial")
	return dir, repo
}

func writeFile(t *testing.T, dir, rel, data string) {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func commitAll(t *testing.T, repo *git.Repository, msg string) {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit(msg, &git.CommitOptions{Author: testAuthor}); err != nil {
		t.Fatal(err)
	}
}

func log(t *testing.T, repo *git.Repository) []string {
	t.Helper()
	iter, err := repo.Log(&git.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	_ = iter.ForEach(func(c *object.Commit) error {
		msgs = append([]string{strings.TrimSpace(c.Message)}, msgs...)
		return nil
	})
	return msgs
}

// runToEnd runs the command again and again, as a pipeline with --no-wait
// does (no cluster here: nothing to wait for), until no step remains.
func runToEnd(t *testing.T, dir string, req Request) {
	t.Helper()
	for i := 0; i < 10; i++ {
		res, err := Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo"}, nil, req, Options{})
		if err != nil {
			t.Fatalf("%s: %v", req.Op, err)
		}
		if len(res.Remaining) == 0 {
			return
		}
	}
	t.Fatalf("%s did not finish", req.Op)
}

// TestGitOpsLifecycle: one commit per step with timeline messages, the
// file keeps its comments, and the end state is the promotion.
func TestGitOpsLifecycle(t *testing.T) {
	dir, repo := newRepo(t)
	runToEnd(t, dir, startReq)
	runToEnd(t, dir, Request{Op: OpWeight, Weight: 10})
	runToEnd(t, dir, Request{Op: OpWeight, Weight: 50})
	runToEnd(t, dir, Request{Op: OpPromote})
	want := []string{
		"bookinfo: initial",
		"canary reviews v2: label the stable pods",
		"canary reviews v2: route to the stable pods",
		"canary reviews v2: start reviews-v2 at weight 0",
		"canary reviews v2: weight 10%",
		"canary reviews v2: weight 50%",
		"canary reviews v2: promote, weight 100%",
		"canary reviews v2: promote, stable reviews runs v2",
		"canary reviews v2: promote, route to the Service host",
		"canary reviews v2: promoted, reviews-v2 removed",
	}
	// An unrelated commit later: the last step is still the canary's.
	writeFile(t, dir, "apps/bookinfo/values.yaml", "replicas: 4\n")
	commitAll(t, repo, "bookinfo: scale")
	g := &GitStore{Dir: dir, App: "bookinfo"}
	if _, err := g.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if last, err := g.LastCommit(); err != nil || !strings.HasSuffix(last, " canary reviews v2: promoted, reviews-v2 removed") {
		t.Errorf("LastCommit = %q, %v", last, err)
	}
	want = append(want, "bookinfo: scale")
	if got := log(t, repo); !slices.Equal(got, want) {
		t.Errorf("git log:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	data, err := os.ReadFile(filepath.Join(dir, "apps/bookinfo/appmesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []string{"# The mesh config of bookinfo", "# the canary target's Service"} {
		if !strings.Contains(string(data), keep) {
			t.Errorf("comment %q lost:\n%s", keep, data)
		}
	}
	am, err := appmesh.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if am.Spec.Canary != nil || len(am.Spec.Promoted) != 1 || am.Spec.Promoted[0].Image != "reviews:2" {
		t.Errorf("after promote: canary %+v promoted %+v", am.Spec.Canary, am.Spec.Promoted)
	}
}

// TestGitOpsAbortRestoresFile: after abort the file is byte for byte the
// one before start.
func TestGitOpsAbortRestoresFile(t *testing.T) {
	dir, repo := newRepo(t)
	runToEnd(t, dir, startReq)
	runToEnd(t, dir, Request{Op: OpWeight, Weight: 10})
	runToEnd(t, dir, Request{Op: OpAbort})
	data, err := os.ReadFile(filepath.Join(dir, "apps/bookinfo/appmesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != appMeshFile {
		t.Errorf("after abort:\n%s\nwant the file before start:\n%s", data, appMeshFile)
	}
	if n := len(log(t, repo)); n != 1+3+1+4 {
		t.Errorf("%d commits, want 9 (initial, 3 start, 1 weight, 4 abort)", n)
	}
}

// TestGitOpsRefusals: a dirty working copy and a concurrent commit are
// refused with a ConflictError and nothing is committed.
func TestGitOpsRefusals(t *testing.T) {
	t.Run("dirty working copy", func(t *testing.T) {
		dir, repo := newRepo(t)
		writeFile(t, dir, "apps/bookinfo/values.yaml", "replicas: 3\n")
		_, err := Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo"}, nil, startReq, Options{})
		var conflict *ConflictError
		if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "apps/bookinfo/values.yaml") {
			t.Fatalf("err = %v, want a ConflictError naming values.yaml", err)
		}
		if n := len(log(t, repo)); n != 1 {
			t.Errorf("%d commits, want 1", n)
		}
	})
	t.Run("untracked files are fine", func(t *testing.T) {
		dir, repo := newRepo(t)
		writeFile(t, dir, "notes.txt", "scratch\n")
		runToEnd(t, dir, startReq)
		if n := len(log(t, repo)); n != 4 {
			t.Errorf("%d commits, want 4 (initial, 3 start)", n)
		}
	})
	t.Run("file changed underneath", func(t *testing.T) {
		dir, repo := newRepo(t)
		g := &GitStore{Dir: dir, App: "bookinfo"}
		cur, err := g.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlan(cur, startReq)
		if err != nil {
			t.Fatal(err)
		}
		// A second operator commits between our read and our write.
		writeFile(t, dir, "apps/bookinfo/appmesh.yaml", appMeshFile+"  - service: ratings\n")
		commitAll(t, repo, "bookinfo: route ratings")
		_, err = g.Save(context.Background(), p.Steps[0].Config, p.Steps[0].Message)
		var conflict *ConflictError
		if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "changed underneath") {
			t.Fatalf("err = %v, want a ConflictError", err)
		}
		if got := log(t, repo); got[len(got)-1] != "bookinfo: route ratings" {
			t.Errorf("last commit %q: the other operator's commit must stay on top", got[len(got)-1])
		}
	})
	t.Run("unknown app", func(t *testing.T) {
		dir, _ := newRepo(t)
		_, err := Run(context.Background(), &GitStore{Dir: dir, App: "shop"}, nil, startReq, Options{})
		var bad *failure.BadInputError
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), `no AppMesh file with metadata.name "shop"`) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestGitOpsPush: with Push every step's commit reaches the remote (a bare
// repository in the test, through go-git's file transport).
func TestGitOpsPush(t *testing.T) {
	dir, repo := newRepo(t)
	remote := t.TempDir()
	bare, err := git.PlainInit(remote, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote}}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(&git.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo", Push: true}, nil, startReq, Options{}); err != nil {
		t.Fatal(err)
	}
	local, _ := repo.Head()
	ref, err := bare.Reference(local.Name(), true)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Hash() != local.Hash() {
		t.Errorf("remote %s at %s, local at %s", local.Name(), ref.Hash(), local.Hash())
	}
	c, _ := bare.CommitObject(ref.Hash())
	if got := strings.TrimSpace(c.Message); got != "canary reviews v2: label the stable pods" {
		t.Errorf("remote HEAD commit %q", got)
	}
}

// TestGitOpsRendersTheChart: when the AppMesh file sits in the chart's
// directory (the layout meshbundle's Argo CD plugin renders), every step is
// rendered with the chart before it is committed: a step Argo CD could not
// render is bad input and nothing is committed; a good one is committed.
func TestGitOpsRendersTheChart(t *testing.T) {
	dir, repo := newRepo(t)
	app, err := os.ReadFile(filepath.Join("..", "renderer", "testdata", "canary", "app.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "apps/bookinfo/Chart.yaml", "apiVersion: v2\nname: bookinfo\nversion: 0.1.0\n")
	writeFile(t, dir, "apps/bookinfo/templates/app.yaml", string(app))
	commitAll(t, repo, "bookinfo: chart")

	bad := startReq
	bad.Target = "reviewz"
	_, err = Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo"}, nil, bad, Options{})
	var badInput *failure.BadInputError
	if !errors.As(err, &badInput) || !strings.Contains(err.Error(), "does not render") || !strings.Contains(err.Error(), `no Deployment "reviewz"`) {
		t.Fatalf("start of an unknown Deployment: %v, want bad input naming it", err)
	}
	if n := len(log(t, repo)); n != 2 {
		t.Errorf("%d commits after the refused step, want 2", n)
	}
	runToEnd(t, dir, startReq)
	if n := len(log(t, repo)); n != 5 {
		t.Errorf("%d commits after start, want 5", n)
	}
}

// TestSaveReplacesTheFile: both stores replace the AppMesh file by rename,
// never truncate it in place, so a reader polling it (a stand-in for Argo
// CD, the team's pipeline) never reads half a file and a kill mid-write
// leaves a whole one. A reader that opened the file before the save still
// reads the old content in full: with an in-place write (os.WriteFile) it
// would read the new bytes or nothing; that is the control.
func TestSaveReplacesTheFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(dir string) (Store, string) // the store and its file
	}{
		{"git", func(dir string) (Store, string) {
			return &GitStore{Dir: dir, App: "bookinfo"}, filepath.Join(dir, "apps/bookinfo/appmesh.yaml")
		}},
		{"file", func(dir string) (Store, string) {
			path := filepath.Join(dir, "apps/bookinfo/appmesh.yaml")
			return &FileStore{Path: path, App: "bookinfo"}, path
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := newRepo(t)
			s, path := tc.store(dir)
			ctx := context.Background()
			cur, err := s.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			old, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			p, err := NewPlan(cur, startReq)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Save(ctx, p.Steps[0].Config, p.Steps[0].Message); err != nil {
				t.Fatal(err)
			}
			seen, err := io.ReadAll(old)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(seen, before) {
				t.Errorf("a reader of the old file read %d bytes, want the %d it opened: the file was rewritten in place", len(seen), len(before))
			}
			after, _ := os.ReadFile(path)
			if bytes.Equal(after, before) {
				t.Errorf("the save did not change the file")
			}
			if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".appmesh-*")); len(leftovers) > 0 {
				t.Errorf("temporary files left: %v", leftovers)
			}
		})
	}
}

// TestCommitReplacesTheRef: a step's commit replaces the branch ref and the
// index by rename (openRepo), never truncates them in place, so a command
// killed mid-commit leaves the old ref or the new one, never an empty one
// (go-git's own ref write truncates first: the control is a reader that
// opened the ref before the save and must still read the old commit).
func TestCommitReplacesTheRef(t *testing.T) {
	dir, repo := newRepo(t)
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	g := &GitStore{Dir: dir, App: "bookinfo"}
	cur, err := g.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var old []*os.File
	for _, f := range []string{head.Name().String(), "index"} {
		fh, err := os.Open(filepath.Join(dir, ".git", f))
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		old = append(old, fh)
	}
	p, err := NewPlan(cur, startReq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Save(context.Background(), p.Steps[0].Config, p.Steps[0].Message); err != nil {
		t.Fatal(err)
	}
	ref, err := io.ReadAll(old[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(ref)) != head.Hash().String() {
		t.Errorf("a reader of the old ref read %q, want the commit %s it opened: the ref was rewritten in place", ref, head.Hash())
	}
	if idx, _ := io.ReadAll(old[1]); len(idx) == 0 {
		t.Errorf("a reader of the old index read nothing: the index was rewritten in place")
	}
	now, err := repo.Head()
	if err != nil || now.Hash() == head.Hash() {
		t.Fatalf("HEAD after the step: %v, %v", now, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".git", "*", "*", ".*.meshbundle-*"))
	more, _ := filepath.Glob(filepath.Join(dir, ".git", ".*.meshbundle-*"))
	if len(leftovers)+len(more) > 0 {
		t.Errorf("temporary files left: %v %v", leftovers, more)
	}
}
