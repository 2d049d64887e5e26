package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/sys/unix"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/argocdstandin"
	"github.com/meshbundle/meshbundle/ci/killpoint"
	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// This file SIGKILLs real `meshbundle canary weight` processes (the binary
// built by testcluster.Build) at the points read from the outside: Helm's
// release Secret turning pending-upgrade (mid-upgrade), the "applied"
// progress line (mid-wait), the AppMesh file renamed into place (GitOps,
// mid-commit: inotify, the kill lands within the milliseconds go-git takes
// to stage and commit) and the branch ref written (after the commit, before
// the push). Then the same command runs again and must finish: exit 0, no
// step applied twice, the file and the cluster agreeing. No test seam in
// the binary: a kill that lands late is retried with the next weight, a
// bounded number of times, and every attempt is checked the same way.

// agree checks that the AppMesh file, the live state ConfigMap and the
// VirtualService all run weight w.
func agree(t *testing.T, c *testcluster.Cluster, cl *canary.Cluster, file, ns string, w int32) {
	t.Helper()
	am, err := appmesh.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	live, err := cl.AppliedAppMesh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if am.Spec.Canary == nil || live == nil || live.Spec.Canary == nil || *am.Spec.Canary != *live.Spec.Canary || am.Spec.Canary.Weight != w {
		t.Errorf("the file records canary %+v, the cluster runs %+v; want both at weight %d", am.Spec.Canary, live, w)
	}
	if got := vsWeights(t, c, ns); !equalWeights(got, map[string]int32{"stable": 100 - w, "v2": w}) {
		t.Errorf("VirtualService weights %v, want stable %d v2 %d", got, 100-w, w)
	}
}

// TestHelmKilledResumes: `meshbundle canary weight --release --file` killed
// during its helm upgrade (the release left pending-upgrade) and while it
// waits after the upgrade; the same command, run again, finishes. Controls:
// while the killed command's lease is fresh a re-run is refused (exit 5,
// naming it), a run without the lease refuses the pending release, and a
// second command while one runs is refused (exit 5).
func TestHelmKilledResumes(t *testing.T) {
	c := testcluster.Shared(t)
	store, cl, ns := install(t, c)
	run(t, store, cl, start)
	mb := buildCLI(t)
	file := fileOf(store)
	weight := func(w int32, settle string) []string {
		return []string{"canary", "weight", app, strconv.Itoa(int(w)), "--release", app, "--file", file, "-n", ns, "--kubeconfig", c.Kubeconfig, "--timeout", "90s", "--settle", settle}
	}
	kube := cl.Client

	if !t.Run("killed during helm upgrade", func(t *testing.T) {
		var w int32
		var before []*release.Release
		for attempt, try := range []int32{10, 20, 30} {
			w, before = try, killpoint.Revisions(t, store)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			watch, err := kube.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + app})
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			cmd, done := killpoint.Start(t, mb, nil, weight(w, "1s")...)
			go func() {
				for ev := range watch.ResultChan() {
					if s, ok := ev.Object.(*corev1.Secret); ok && s.Labels["status"] == string(release.StatusPendingUpgrade) {
						_ = cmd.Process.Signal(syscall.SIGKILL)
						return
					}
				}
			}()
			res := <-done
			cancel()
			last := killpoint.Revisions(t, store)
			if res.Killed() && last[len(last)-1].Info.Status == release.StatusPendingUpgrade {
				// Helm applies the state ConfigMap first: when it shows the
				// step already, only planning from the deployed revision's
				// manifest resumes (the live one would be waited on forever).
				live, _ := cl.AppliedAppMesh(context.Background())
				t.Logf("attempt %d: killed during the upgrade to weight %d: %s; the live state ConfigMap shows canary %+v", attempt+1, w, killpoint.DescribeRevisions(last[len(before)-1:]), live.Spec.Canary)
				break
			}
			// Too late (or not at all): the release settled. That run must
			// still finish when run again.
			t.Logf("attempt %d: the kill landed after the upgrade (%v): %s", attempt+1, res.Err, killpoint.DescribeRevisions(last[len(before)-1:]))
			killpoint.WaitLeaseStale(t, cl)
			if again := killpoint.Run(t, mb, weight(w, "1s")...); again.Code() != 0 {
				t.Fatalf("run again: exit %d\n%s", again.Code(), again.Stderr)
			}
			agree(t, c, cl, file, ns, w)
			if attempt == 2 {
				t.Fatal("no kill landed during a helm upgrade in 3 attempts")
			}
		}

		// Control: the killed command's lease is fresh; a re-run now is
		// refused, naming it.
		if again := killpoint.Run(t, mb, weight(w, "1s")...); again.Code() != 5 || !strings.Contains(again.Stderr, "meshbundle-canary-"+app) || !strings.Contains(again.Stderr, "pid") {
			t.Errorf("re-run while the killed command's lease is fresh: exit %d, want 5 naming the holder\n%s", again.Code(), again.Stderr)
		}
		// Control: without the lease the pending release is refused, and
		// left pending.
		_, err := (&canary.HelmStore{Config: store.Config, Release: app, Cluster: cl, Source: &canary.FileStore{Path: file, App: app}}).Load(context.Background())
		var conflict *canary.ConflictError
		if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "canary lease") {
			t.Errorf("load without the lease: %v, want a refusal", err)
		}
		if last := killpoint.Revisions(t, store); last[len(last)-1].Info.Status != release.StatusPendingUpgrade {
			t.Errorf("after the refused load the release is %s, want still pending-upgrade", last[len(last)-1].Info.Status)
		}

		// The 15 s, waited: a re-run a few seconds before the killed
		// command's lease goes stale is still refused (exit 5), one after
		// it takes the lease over.
		staleAt := killpoint.LeaseStaleAt(t, cl)
		if staleAt.IsZero() {
			t.Fatal("the killed command holds no canary lease")
		}
		time.Sleep(time.Until(staleAt.Add(-4 * time.Second)))
		early := time.Now()
		if again := killpoint.Run(t, mb, weight(w, "1s")...); again.Code() != 5 {
			t.Errorf("re-run 4 s before the killed command's lease goes stale: exit %d, want 5\n%s", again.Code(), again.Stderr)
		} else {
			t.Logf("re-run started %s before the lease went stale: refused, exit 5", staleAt.Sub(early).Round(100*time.Millisecond))
		}
		killpoint.WaitLeaseStale(t, cl)
		late := time.Since(staleAt)
		again := killpoint.Run(t, mb, weight(w, "1s")...)
		if again.Code() != 0 {
			t.Fatalf("run again: exit %d\n%s", again.Code(), again.Stderr)
		}
		t.Logf("run again, started %s after the lease went stale:\n%s", late.Round(100*time.Millisecond), again.Stderr)
		if !strings.Contains(again.Stderr, "left pending-upgrade by a killed canary command") {
			t.Errorf("the re-run does not say it unlocked the killed step")
		}
		after := killpoint.Revisions(t, store)
		added := after[len(before):]
		// The killed revision, now failed, and the step applied again:
		// nothing else.
		if len(added) != 2 || added[0].Info.Status != release.StatusFailed || added[1].Info.Status != release.StatusDeployed || added[1].Info.Description != fmt.Sprintf("canary web v2: weight %d%%", w) {
			t.Errorf("revisions since the kill: %s; want the killed one failed, then one deployed weight %d", killpoint.DescribeRevisions(added), w)
		}
		agree(t, c, cl, file, ns, w)
	}) {
		return
	}

	t.Run("killed while waiting", func(t *testing.T) {
		const w = 40
		applied := make(chan struct{}, 1)
		// A long settle delay: the command is in its wait for 10 s.
		cmd, done := killpoint.Start(t, mb, func(line string) {
			if strings.HasPrefix(strings.TrimSpace(line), "applied ") {
				select {
				case applied <- struct{}{}:
				default:
				}
			}
		}, weight(w, "10s")...)
		select {
		case <-applied:
		case res := <-done:
			t.Fatalf("the command ended before applying: exit %d\n%s", res.Code(), res.Stderr)
		}
		// Control: a second command on the app while this one runs.
		second := killpoint.Run(t, mb, weight(w, "1s")...)
		if second.Code() != 5 || !strings.Contains(second.Stderr, fmt.Sprintf("pid %d", cmd.Process.Pid)) {
			t.Errorf("a second command while one runs: exit %d, want 5 naming pid %d\n%s", second.Code(), cmd.Process.Pid, second.Stderr)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		if res := <-done; !res.Killed() {
			t.Fatalf("the command was not killed while waiting (it ended: %v)\n%s", res.Err, res.Stderr)
		}
		before := killpoint.Revisions(t, store)
		killpoint.WaitLeaseStale(t, cl)
		again := killpoint.Run(t, mb, weight(w, "1s")...)
		if again.Code() != 0 {
			t.Fatalf("run again: exit %d\n%s", again.Code(), again.Stderr)
		}
		if after := killpoint.Revisions(t, store); len(after) != len(before) {
			t.Errorf("the re-run made revisions %s; want none (the step was applied before the kill)", killpoint.DescribeRevisions(after[len(before):]))
		}
		agree(t, c, cl, file, ns, w)
	})
}

// watchFile returns a channel closed the first time a file named name in
// dir is renamed into place or written (inotify: within microseconds).
func watchFile(t *testing.T, dir, name string) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	events := killpoint.WatchEvents(t, dir, name, unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE|unix.IN_MODIFY, done)
	fired := make(chan struct{})
	go func() {
		if _, ok := <-events; ok {
			close(fired)
		}
	}()
	return fired
}

// TestGitOpsKilledResumes: `meshbundle canary weight --repo --push` killed
// after it wrote the step into the AppMesh file, before its commit, and
// after its commit, before its push; the same command, run again, finishes
// with one commit per step, everything pushed, and the cluster (a stand-in
// for Argo CD, ci/argocdstandin, that applies the remote's branch, i.e.
// only pushed commits) at the step.
func TestGitOpsKilledResumes(t *testing.T) {
	c := testcluster.Shared(t)
	store, cl, ns := install(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	r := killpoint.NewRepo(t, cl)
	dir, origin, repo, branch := r.Dir, r.Origin, r.Git, r.Branch
	wt, _ := repo.Worktree()
	remoteHead := func() plumbing.Hash { return killpoint.RemoteHash(origin, branch) }

	// The Argo CD stand-in applies the AppMesh of the remote's branch:
	// only pushed commits.
	argo, err := argocdstandin.Start(store, argocdstandin.Branch(origin, branch, "appmesh.yaml"), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer argo.Stop()
	check := func(t *testing.T, what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, argo.Explain(err))
		}
	}

	_, err = canary.Run(ctx, &canary.GitStore{Dir: dir, App: app, Push: true}, cl, start, canary.Options{Wait: true, Timeout: 90 * time.Second, Interval: 100 * time.Millisecond, Settle: settle})
	check(t, "start", err)
	mb := buildCLI(t)
	weight := func(w int32) []string {
		return []string{"canary", "weight", app, strconv.Itoa(int(w)), "--repo", dir, "--push", "-n", ns, "--kubeconfig", c.Kubeconfig, "--timeout", "90s", "--settle", "500ms"}
	}

	next := int32(0)
	for _, tc := range []struct {
		name   string // where to kill
		dir    string // the directory watched, relative to the working copy
		file   string // the file whose write triggers the kill
		window string // the state the kill must leave at least once
	}{
		{name: "mid-commit", dir: ".", file: "appmesh.yaml", window: "written, not committed"},
		{name: "after the commit, before the push", dir: filepath.Join(".git", filepath.Dir(branch.String())), file: filepath.Base(branch.String()), window: "committed, not pushed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hit := false
			for attempt := 0; attempt < 4 && !hit; attempt++ {
				next += 10
				w := next
				headBefore, err := repo.Head()
				if err != nil {
					t.Fatal(err)
				}
				fired := watchFile(t, filepath.Join(dir, tc.dir), tc.file)
				cmd, done := killpoint.Start(t, mb, nil, weight(w)...)
				go func() {
					select {
					case <-fired:
						_ = cmd.Process.Signal(syscall.SIGKILL)
					case <-ctx.Done():
					}
				}()
				res := <-done
				// What the kill left.
				headNow, err := repo.Head()
				if err != nil {
					t.Fatalf("attempt %d: after the kill HEAD does not resolve (a ref written in place and cut short?): %v", attempt+1, err)
				}
				st, err := wt.Status()
				if err != nil {
					t.Fatal(err)
				}
				var left string
				switch {
				case !res.Killed():
					left = fmt.Sprintf("not killed (exit %d)", res.Code())
				case !st.IsClean() && headNow.Hash() == headBefore.Hash():
					left = "written, not committed"
				case headNow.Hash() != headBefore.Hash() && remoteHead() != headNow.Hash():
					left = "committed, not pushed"
				case headNow.Hash() != headBefore.Hash():
					left = "pushed"
				default:
					left = "nothing written"
				}
				hit = left == tc.window
				t.Logf("attempt %d, weight %d: the kill left: %s (git status %q)", attempt+1, w, left, strings.TrimSpace(st.String()))

				again := killpoint.Run(t, mb, weight(w)...)
				if again.Code() != 0 {
					t.Fatalf("run again: exit %d (the Argo CD stand-in: %v)\n%s", again.Code(), argo.Err(), again.Stderr)
				}
				msg := fmt.Sprintf("canary web v2: weight %d%%", w)
				n := 0
				for _, m := range killpoint.CommitLog(t, repo) {
					if m == msg {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d commits %q, want exactly 1", n, msg)
				}
				if st, _ := wt.Status(); !st.IsClean() {
					t.Errorf("working copy after the re-run: %s", st)
				}
				if local, _ := repo.Head(); remoteHead() != local.Hash() {
					t.Errorf("remote at %s, local at %s: not pushed", remoteHead(), local.Hash())
				}
				agree(t, c, cl, filepath.Join(dir, "appmesh.yaml"), ns, w)
			}
			if !hit {
				t.Errorf("no kill left %q in 4 attempts", tc.window)
			}
		})
	}
	if err := argo.Stop(); err != nil {
		t.Error(err)
	}
	t.Logf("%d syncs by the stand-in; commits:\n  %s", argo.Synced(), strings.Join(killpoint.CommitLog(t, repo), "\n  "))
}
