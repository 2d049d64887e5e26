package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/meshbundle/meshbundle/failure"
)

// gitopsRepo is a git working copy with the AppMesh of app "shop".
func gitopsRepo(t *testing.T) (string, *git.Repository) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: shop\n  namespace: shop\nspec:\n  routes:\n  - service: web\n"
	if err := os.WriteFile(filepath.Join(dir, "appmesh.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if _, err := wt.Add("appmesh.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit("shop", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	return dir, repo
}

func TestCanaryCLIBadInput(t *testing.T) {
	repo, _ := gitopsRepo(t)
	dirty, _ := gitopsRepo(t)
	if err := os.WriteFile(filepath.Join(dirty, "appmesh.yaml"), []byte("# edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nokube := []string{"--kubeconfig", filepath.Join(t.TempDir(), "missing")}
	cases := []struct {
		name       string       // what is wrong
		args       []string     // command line
		wantStderr string       // part of the error
		wantCode   failure.Kind // exit code
	}{
		{"no mode", []string{"canary", "abort", "shop"}, "--repo, --release: missing", failure.BadInput},
		{"helm mode without the AppMesh file", []string{"canary", "abort", "shop", "--release", "shop"}, "helm mode writes every step into the AppMesh file your `helm upgrade --post-renderer-args --config=<file>` uses", failure.BadInput},
		{"helm mode with another app's file", append([]string{"canary", "abort", "cart", "--release", "cart", "--file", filepath.Join(repo, "appmesh.yaml")}, nokube...), `is the AppMesh of "shop", not "cart"`, failure.BadInput},
		{"weight above 100", []string{"canary", "weight", "shop", "101", "--repo", repo}, "between 0 and 100", failure.BadInput},
		{"weight not a number", []string{"canary", "weight", "shop", "ten", "--repo", repo}, "between 0 and 100", failure.BadInput},
		{"bad output", []string{"canary", "abort", "shop", "--repo", repo, "-o", "xml"}, "--output", failure.BadInput},
		{"no image", append([]string{"canary", "start", "shop", "--repo", repo, "--deployment", "web", "--version", "v2", "--no-wait"}, nokube...), "--image", failure.BadInput},
		{"promote without canary", append([]string{"canary", "promote", "shop", "--repo", repo, "--no-wait"}, nokube...), "nothing to promote", failure.BadInput},
		{"unknown app", append([]string{"canary", "abort", "cart", "--repo", repo, "--no-wait"}, nokube...), `no AppMesh file with metadata.name "cart"`, failure.BadInput},
		{"dirty working copy", append([]string{"canary", "abort", "shop", "--repo", dirty, "--no-wait", "-n", "shop"}, nokube...), "uncommitted changes", failure.Conflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, nil, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout on bad input: %s", stdout.String())
			}
		})
	}
}

// TestCanaryCLIGitOpsNoWait: without a cluster, --no-wait commits the next
// step and says what comes next; -o json is the result.
func TestCanaryCLIGitOpsNoWait(t *testing.T) {
	dir, repo := gitopsRepo(t)
	args := []string{"canary", "start", "shop", "--repo", dir, "--deployment", "web", "--version", "v2", "--image", "web:2",
		"--no-wait", "--force", "-o", "json", "--kubeconfig", filepath.Join(t.TempDir(), "missing")}
	var stdout, stderr bytes.Buffer
	if code := run(args, nil, &stdout, &stderr); code != failure.OK {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	var res struct {
		Applied []struct {
			Name, Message, Ref string
		}
		Remaining []string
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	if len(res.Applied) != 1 || res.Applied[0].Message != "canary web v2: label the stable pods" || len(res.Remaining) != 2 {
		t.Errorf("result %+v, want one step applied and two remaining", res)
	}
	if !strings.Contains(stderr.String(), "--no-wait: stopping; next: route to the stable subset") {
		t.Errorf("stderr lacks the next step:\n%s", stderr.String())
	}
	head, _ := repo.Head()
	c, _ := repo.CommitObject(head.Hash())
	if got := strings.TrimSpace(c.Message); got != "canary web v2: label the stable pods" {
		t.Errorf("HEAD commit %q", got)
	}
	// The same command again continues with the next step.
	stdout.Reset()
	stderr.Reset()
	if code := run(args, nil, &stdout, &stderr); code != failure.OK {
		t.Fatalf("second run: exit %d:\n%s", code, stderr.String())
	}
	head, _ = repo.Head()
	c, _ = repo.CommitObject(head.Hash())
	if got := strings.TrimSpace(c.Message); got != "canary web v2: route to the stable pods" {
		t.Errorf("HEAD commit after the second run %q", got)
	}
}

// TestCanaryCLIUnreachable: a step without a reachable cluster is refused
// with exit 3 and nothing committed, unless GitOps mode is --force'd; helm
// mode cannot be forced. Bad input is still exit 2.
func TestCanaryCLIUnreachable(t *testing.T) {
	dir, repo := gitopsRepo(t)
	// An API server address nothing listens on (the loopback's port 1).
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	head := func() string { h, _ := repo.Head(); return h.Hash().String() }
	before := head()
	start := []string{"canary", "start", "shop", "--deployment", "web", "--version", "v2", "--image", "web:2", "--kubeconfig", kubeconfig}
	cases := []struct {
		name    string       // the situation
		args    []string     // command line
		code    failure.Kind // exit code
		stderr  string       // part of stderr
		commits bool         // whether a commit is made
	}{
		{"GitOps", append(slices.Clone(start), "--repo", dir), failure.Unreachable, "127.0.0.1:1", false},
		{"GitOps, --no-wait is no bypass", append(slices.Clone(start), "--repo", dir, "--no-wait"), failure.Unreachable, "--force to commit without any check", false},
		{"bad input is still bad input", []string{"canary", "start", "shop", "--repo", dir, "--deployment", "web", "--version", "v2", "--kubeconfig", kubeconfig}, failure.BadInput, "--image", false},
		{"helm mode", append(slices.Clone(start), "--release", "shop", "--file", filepath.Join(dir, "appmesh.yaml"), "--force"), failure.Unreachable, "helm mode applies every step to the cluster", false},
		{"GitOps --force commits one step", append(slices.Clone(start), "--repo", dir, "--force"), failure.OK, "warning: --force", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, nil, &stdout, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
			if moved := head() != before; moved != tc.commits {
				t.Errorf("committed %v, want %v", moved, tc.commits)
			}
		})
	}
}
