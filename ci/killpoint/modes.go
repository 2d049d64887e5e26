package killpoint

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/argocdstandin"
)

// resetWith saves the AppMesh initial through the store st makes.
func resetWith(st func() canary.Store) func(t testing.TB, initial []byte) {
	return func(t testing.TB, initial []byte) {
		t.Helper()
		am, err := appmesh.Decode(initial)
		if err != nil {
			t.Fatal(err)
		}
		s := st()
		if _, err := s.Load(context.Background()); err != nil {
			t.Fatalf("reset: %v", err)
		}
		if _, err := s.Save(context.Background(), am, "test: the app as before the sequence"); err != nil {
			t.Fatalf("reset: %v", err)
		}
	}
}

// sourced is store's release with the AppMesh kept in src.
func sourced(store *canary.HelmStore, src canary.Store) func() canary.Store {
	return func() canary.Store {
		return &canary.HelmStore{Config: store.Config, Release: store.Release, Cluster: store.Cluster, Timeout: time.Minute, Source: src}
	}
}

// HelmFile is Helm mode with the team's AppMesh file (--release --file):
// store's release (its Config, Release and Cluster), file the AppMesh it
// was installed with. After a kill the killed command's lease is aged by
// its 15 s (ExpireLease).
func HelmFile(store *canary.HelmStore, file string) Mode {
	cl := store.Cluster
	m := Mode{Name: "helm", File: file, Args: []string{"--release", store.Release, "--file", file},
		Points: []Point{Recorded, Upgrading, Waiting},
		Watch:  map[Point]Watch{Upgrading: WatchUpgrades(store)}}
	m.History = func(t testing.TB) [][]string { return [][]string{helmHistory(t, store)} }
	m.Left = func(t testing.TB, step canary.Step) (Point, string) {
		rel := newestRelease(t, store)
		am, err := appmesh.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		desc := fmt.Sprintf("file at canary %s, %s", CanaryKey(am.Spec.Canary), rel.describe)
		key := CanaryKey(step.Config.Spec.Canary)
		switch {
		case rel.pending && rel.canary == key:
			return Upgrading, desc
		case !rel.pending && rel.message == step.Message:
			return Waiting, desc
		case !rel.pending && CanaryKey(am.Spec.Canary) == key:
			return Recorded, desc
		}
		return "nowhere", desc
	}
	m.Settled = func(t testing.TB) {}
	m.AfterKill = func(t testing.TB) { ExpireLease(t, cl) }
	m.Reset = resetWith(sourced(store, &canary.FileStore{Path: file, App: cl.App}))
	return m
}

// HelmRepo is Helm mode with the AppMesh file in a git working copy
// (--release --repo): every step is committed there, then upgraded.
func HelmRepo(t testing.TB, store *canary.HelmStore) Mode {
	cl := store.Cluster
	r := NewRepo(t, cl)
	m := Mode{Name: "helm-repo", File: r.File(), Args: []string{"--release", store.Release, "--repo", r.Dir},
		Points: []Point{Recorded, Committed, Upgrading, Waiting},
		Watch:  map[Point]Watch{Committed: r.WatchCommits(), Upgrading: WatchUpgrades(store)}}
	m.History = func(t testing.TB) [][]string {
		var commits []string
		for _, msg := range CommitLog(t, r.Git) {
			commits = append(commits, "commit: "+msg)
		}
		return [][]string{commits, helmHistory(t, store)}
	}
	m.Left = func(t testing.TB, step canary.Step) (Point, string) {
		rel, wc := newestRelease(t, store), r.state(t, false)
		desc := wc.describe + ", " + rel.describe
		key := CanaryKey(step.Config.Spec.Canary)
		switch {
		case rel.pending && rel.canary == key && wc.clean && wc.head == step.Message:
			return Upgrading, desc
		case !rel.pending && rel.message == step.Message && wc.clean && wc.head == step.Message:
			return Waiting, desc
		case !rel.pending && rel.message != step.Message && wc.clean && wc.head == step.Message:
			return Committed, desc
		case !rel.pending && !wc.clean && wc.head != step.Message:
			return Recorded, desc
		}
		return "nowhere", desc
	}
	m.Settled = func(t testing.TB) {
		if wc := r.state(t, false); !wc.clean {
			t.Errorf("working copy: %s", wc.describe)
		}
	}
	m.AfterKill = func(t testing.TB) { ExpireLease(t, cl) }
	m.Reset = resetWith(sourced(store, &canary.GitStore{Dir: r.Dir, App: cl.App}))
	return m
}

// GitOps is GitOps mode with a remote (--repo --push); the Argo CD
// stand-in (ci/argocdstandin) applies the remote's branch to store's
// release until the test ends.
func GitOps(t testing.TB, store *canary.HelmStore) Mode {
	cl := store.Cluster
	r := NewRepo(t, cl)
	argo, err := argocdstandin.Start(store, argocdstandin.Branch(r.Origin, r.Branch, "appmesh.yaml"), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := argo.Stop(); err != nil {
			t.Error(err)
		}
		// Every step waited for its sync, also after a kill: each commit
		// after the first was applied on its own, none collapsed into
		// another's sync.
		if commits := len(CommitLog(t, r.Git)); argo.Synced() != int64(commits-1) {
			t.Errorf("the Argo CD stand-in synced %d times for %d commits after the first, want one sync per commit", argo.Synced(), commits-1)
		} else {
			t.Logf("the Argo CD stand-in synced %d commits, one by one", argo.Synced())
		}
	})
	m := Mode{Name: "gitops", File: r.File(), Args: []string{"--repo", r.Dir, "--push"},
		Points: []Point{Recorded, Committed, Waiting},
		Watch:  map[Point]Watch{Committed: r.WatchCommits()}}
	m.History = func(t testing.TB) [][]string { return [][]string{CommitLog(t, r.Git)} }
	m.Left = func(t testing.TB, step canary.Step) (Point, string) {
		wc := r.state(t, true)
		switch {
		case !wc.clean && wc.head != step.Message:
			return Recorded, wc.describe
		case wc.clean && wc.head == step.Message && !wc.pushed:
			return Committed, wc.describe
		case wc.clean && wc.head == step.Message && wc.pushed:
			return Waiting, wc.describe
		}
		return "nowhere", wc.describe
	}
	m.Settled = func(t testing.TB) {
		if wc := r.state(t, true); !wc.clean || !wc.pushed {
			t.Errorf("working copy: %s; want clean and pushed", wc.describe)
		}
		if err := argo.Err(); err != nil {
			t.Fatal(err)
		}
	}
	m.AfterKill = func(t testing.TB) {}
	m.Reset = resetWith(func() canary.Store { return &canary.GitStore{Dir: r.Dir, App: cl.App, Push: true} })
	return m
}
