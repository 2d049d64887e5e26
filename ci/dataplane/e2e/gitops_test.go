package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/argocdstandin"
	"github.com/meshbundle/meshbundle/ci/dataplane"
	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// gitOpsMode puts the app's applied AppMesh into a fresh git working copy
// and returns a canary.GitStore on it, so every canary step is a commit.
// A stand-in for Argo CD (ci/argocdstandin: Argo CD itself cannot run
// here) polls the working copy every 400 ms and applies a changed AppMesh
// through the post-renderer in the order of an Argo CD sync (prune, then
// the state ConfigMap, then the workloads, then the custom resources, a
// small gap apart), as a sync of the latest commit would. The test fails if the stand-in fails or two
// commits were synced as one; it stops when the test ends.
func gitOpsMode(t *testing.T, helm *canary.HelmStore, cl *canary.Cluster) canary.Store {
	t.Helper()
	return gitOpsSync(t, helm, cl)
}

// gitOpsSync is gitOpsMode with options for the stand-in (argocdstandin.Gap).
func gitOpsSync(t *testing.T, helm *canary.HelmStore, cl *canary.Cluster, opts ...argocdstandin.Option) canary.Store {
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
	argo, err := argocdstandin.Start(helm, argocdstandin.WorkingCopy(filepath.Join(dir, "appmesh.yaml")), 400*time.Millisecond, opts...)
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

// syncGap is the stand-in's gap in TestGitOpsSyncOrder: the custom
// resources of a commit arrive twice this after its state ConfigMap.
const syncGap = 2 * time.Second

// TestGitOpsSyncOrder: in GitOps mode "applied" needs the step's routing
// objects, not just its state ConfigMap. The Argo CD stand-in applies each
// commit as Argo CD orders a sync, with the custom resources (the
// VirtualService, the DestinationRule) 2×syncGap after the state
// ConfigMap, and istiod pushes config seconds late (slowPush, as in
// TestSlowPush). Requests run the whole time through:
//
//   - start → 10 % → abort with the gate's check that the routing objects
//     of the step's render arrived (renderer.RoutingAnnotation): 0 failed,
//     and the progress shows the check waited for them;
//   - start → 10 % with it, then abort without it (the negative control,
//     canary.Options.NoRenderedCheck): the gate reads the previous step's
//     VirtualService as the step's, finds nothing changed and moves on;
//     the next sync prunes the copy (Argo CD prunes first) about a second
//     after Aborting's VirtualService arrived, seconds before istiod pushes
//     it, and the requests still sent to the copy fail. Without this run
//     the 0 above would prove nothing.
//
// Cost: one istiod restart each way and 16 commits of one sync each (4 s
// of gaps, plus the push with the check): 144-168 s. Without the check the
// gate misjudges the step one of two ways, and the control accepts either:
// it moves on early and requests fail (5, 67, 314 and 325 failed in four
// runs), or istiod already holds the late objects and the gate, reading the
// previous step's, waits for istiod to hold those and times out (seen with
// a 5 s debounce, and with the client's routes delayed by a relay). The
// control's timeout is 30 s to bound the second.
func TestGitOpsSyncOrder(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	withSlowPush(t, c)
	helm, cl, ns := install(t, c, func(s *appmesh.Spec) { s.Routes = []appmesh.Route{{Service: "web"}} })
	store := gitOpsSync(t, helm, cl, argocdstandin.Gap(syncGap))
	d := driver(t, c, ns, "web."+ns+".svc.cluster.local:80")
	measure(t, d, map[string]float64{"": 100}, 100)

	// run runs one canary command with requests throughout, checking the
	// render or not, and returns what traffic showed and the progress.
	// A run without the check returns its error instead of failing the
	// test (see the control below).
	var controlErr error
	run := func(req canary.Request, check bool) (dataplane.Result, string) {
		stop := make(chan struct{})
		during := make(chan dataplane.Result)
		go func() { during <- d.RunWhile(ctx, stop) }()
		var progress strings.Builder
		// The settle delay is used only if the gate cannot tell: then the
		// progress says so.
		timeout := 90 * time.Second
		if !check {
			timeout = 30 * time.Second
		}
		_, err := canary.Run(ctx, store, cl, req, canary.Options{Wait: true, Timeout: timeout, Progress: &progress,
			Interval: 200 * time.Millisecond, Settle: time.Minute, NoRenderedCheck: !check})
		close(stop)
		res := <-during
		switch {
		case err != nil && check:
			t.Fatalf("canary %s (render check %v): %v\n%s", req.Op, check, err, progress.String())
		case err != nil:
			controlErr = err
			t.Logf("canary %s without the render check: %v", req.Op, err)
		}
		t.Logf("canary %s, render check %v: %v", req.Op, check, res)
		return res, progress.String()
	}
	lifecycle := []canary.Request{
		{Op: canary.OpStart, Target: "web", Version: "v2", Image: newImage},
		{Op: canary.OpWeight, Weight: 10},
		{Op: canary.OpAbort},
	}
	var with dataplane.Result
	var progress strings.Builder
	for _, req := range lifecycle {
		res, p := run(req, true)
		with = with.Add(res)
		progress.WriteString(p)
	}
	var without dataplane.Result
	for _, req := range lifecycle {
		res, _ := run(req, req.Op != canary.OpAbort)
		if req.Op == canary.OpAbort {
			without = res
		} else {
			with = with.Add(res)
		}
	}
	t.Logf("with the render check (two start → 10 %%, one abort): %v", with)
	t.Logf("abort without it: %v", without)
	// Without the check the gate judges the previous step's objects: it
	// either moves on before the step is in effect (requests fail) or, when
	// istiod already holds the late objects, waits for it to hold the
	// previous ones and times out. Either shows the check is what makes
	// the 0 failed below; seeing neither is the control failing.
	if without.Failed == 0 && controlErr == nil {
		t.Errorf("the control failed: abort without the render check, custom resources %s after the ConfigMap, saw no failed request (%v) and no stuck gate; the 0 failed with the check proves nothing", 2*syncGap, without)
	}
	if with.Failed > 0 || with.Requests == 0 {
		t.Errorf("with the render check: %v, want 0 failed", with)
	}
	p := progress.String()
	if !strings.Contains(p, "the step's routing objects arrived after") || strings.Contains(p, "settle delay") {
		t.Errorf("the render check never waited for a step's routing objects, or the gate fell back to the settle delay:\n%s", p)
	}
}
