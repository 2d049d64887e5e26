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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/renderer"
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

// TestGitSourceKeepsAStepItCommitted: in Helm mode with --repo each step is
// committed, then upgraded; a command killed after the commit (before or
// during its helm upgrade) leaves HEAD one step ahead of the release, and
// the re-run saves that same step into the working copy again before it
// upgrades. That is no error and no commit: the killed command's commit
// stands, once (go-git refused the empty commit before, so the re-run
// failed and the step could not be resumed).
func TestGitSourceKeepsAStepItCommitted(t *testing.T) {
	dir, repo := newRepo(t)
	runToEnd(t, dir, startReq)
	killedGitStep(t, dir, "committed") // weight 10, committed, not upgraded
	want := log(t, repo)
	head, _ := repo.Head()
	g := &GitStore{Dir: dir, App: "bookinfo"}
	step, err := g.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ref, err := g.Save(context.Background(), step, "canary reviews v2: weight 10%")
	if err != nil {
		t.Fatalf("saving the step HEAD records: %v", err)
	}
	if ref != head.Hash().String()[:8] {
		t.Errorf("ref %s, want HEAD %s", ref, head.Hash().String()[:8])
	}
	if got := log(t, repo); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("git log:\n  %s\nwant (the killed command's commit, once):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestRunAgainAfterTheLastStep: abort and promote killed while they waited
// after their last step leave no canary to plan from; the same command
// run again reads the newest commit, finds its own last step there, and
// finishes without a commit. Any other newest commit, or another command,
// is still refused (the controls).
func TestRunAgainAfterTheLastStep(t *testing.T) {
	for _, tc := range []struct {
		name   string    // the situation
		before []Request // the commands run to their end first
		commit bool      // then someone else commits
		again  Request   // the command run again
		want   string    // "" it finishes; else the refusal contains it
	}{
		{name: "abort", before: []Request{startReq, {Op: OpWeight, Weight: 10}, {Op: OpAbort}}, again: Request{Op: OpAbort}},
		{name: "abort while labelling", before: []Request{}, again: Request{Op: OpAbort}},
		{name: "promote", before: []Request{startReq, {Op: OpPromote}}, again: Request{Op: OpPromote}},
		{name: "abort, then a commit", before: []Request{startReq, {Op: OpAbort}}, commit: true, again: Request{Op: OpAbort}, want: "nothing to abort"},
		{name: "promote after abort", before: []Request{startReq, {Op: OpAbort}}, again: Request{Op: OpPromote}, want: "nothing to promote"},
		{name: "abort after promote", before: []Request{startReq, {Op: OpPromote}}, again: Request{Op: OpAbort}, want: "nothing to abort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, repo := newRepo(t)
			if tc.name == "abort while labelling" {
				// start's first step only (--no-wait), then abort.
				if _, err := Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo"}, nil, startReq, Options{}); err != nil {
					t.Fatal(err)
				}
				runToEnd(t, dir, Request{Op: OpAbort})
			}
			for _, req := range tc.before {
				runToEnd(t, dir, req)
			}
			if tc.commit {
				writeFile(t, dir, "apps/bookinfo/values.yaml", "replicas: 5\n")
				commitAll(t, repo, "bookinfo: scale")
			}
			want := log(t, repo)
			var progress bytes.Buffer
			res, err := Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo"}, nil, tc.again, Options{Progress: &progress})
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want a refusal with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("run again: %v", err)
			}
			if len(res.Applied) != 0 || !strings.Contains(progress.String(), "this command's last step") {
				t.Errorf("applied %+v, progress %q; want nothing applied, and why", res.Applied, progress.String())
			}
			if got := log(t, repo); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("git log:\n  %s\nwant no new commit:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// TestResumeWaitsForTheRecordedStep: a GitOps command stopped after it
// committed (and pushed) Pinning, a step with no conditions of its own,
// before Argo CD applied it: run again, it first waits until the cluster
// runs Pinning (here --no-wait: it checks once and stops, committing
// nothing), and goes on only then. Before, it made the next change at
// once, so one sync could apply both (the copy created while routes still
// named the Service host). The control: once the cluster shows Pinning,
// the same run commits the next step.
func TestResumeWaitsForTheRecordedStep(t *testing.T) {
	dir, repo := newRepo(t)
	for i := 0; i < 2; i++ { // start's Labelling and Pinning, one per run
		if _, err := Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo"}, nil, startReq, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	am, err := (&GitStore{Dir: dir, App: "bookinfo"}).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if am.Spec.Canary.Phase != appmesh.CanaryPinning {
		t.Fatalf("phase %s, want Pinning", am.Spec.Canary.Phase)
	}
	// The cluster still runs Labelling.
	applied := clone(am)
	applied.Spec.Canary.Phase = appmesh.CanaryLabelling
	data, err := appmesh.Marshal(applied)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "bookinfo", Name: renderer.StateConfigMapName("bookinfo")}, Data: map[string]string{renderer.StateKey: string(data)}}
	kube := kubefake.NewClientset(cm)
	cl := &Cluster{Client: kube, Namespace: "bookinfo", App: "bookinfo"}
	want := log(t, repo)
	_, err = Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo"}, cl, startReq, Options{})
	var timeout *TimeoutError
	if !errors.As(err, &timeout) || !strings.Contains(err.Error(), "phase Pinning") {
		t.Fatalf("err = %v, want a wait for the cluster to apply Pinning", err)
	}
	if got := log(t, repo); len(got) != len(want) {
		t.Fatalf("committed %q before the cluster applied Pinning", got[len(want):])
	}

	data, _ = appmesh.Marshal(am)
	cm.Data[renderer.StateKey] = string(data)
	if _, err := kube.CoreV1().ConfigMaps("bookinfo").Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), &GitStore{Dir: dir, App: "bookinfo"}, cl, startReq, Options{})
	if err != nil || len(res.Applied) != 1 {
		t.Fatalf("once the cluster runs Pinning: %+v, %v; want the next step committed", res, err)
	}
}
