package testcluster

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// BuildInto builds this repository's ./cmd/<name> into dir and returns the
// binary's path: end-to-end tests drive the binaries users run.
func BuildInto(dir, name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	build := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", name, err, out)
	}
	return bin, nil
}

// Build is BuildInto a directory that lives as long as the test.
func Build(t testing.TB, name string) string {
	t.Helper()
	bin, err := BuildInto(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// WaitFor polls cond until it holds, failing the test after two minutes.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// HasSidecar says whether istiod injected the pod: it has an istio-proxy
// container (a native sidecar is an init container).
func HasSidecar(p corev1.Pod) bool {
	for _, ctr := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		if ctr.Name == "istio-proxy" {
			return true
		}
	}
	return false
}
