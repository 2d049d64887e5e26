// Package examples tests the scripts platform teams copy (add-cluster.sh)
// against a fresh local control plane: real etcd, kube-apiserver,
// controller-manager, scheduler, kwok for Ready pods, and the real istiod
// (pilot-discovery) once the installer has put its chart in place, as a
// cluster's istiod pod would start.
package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/installer"
)

// result is the part of `meshbundle install -o json` the test reads.
type result struct {
	Operation string `json:"operation"`
	ExitCode  int    `json:"exitCode"`
	Phases    []struct {
		Phase    string `json:"phase"`
		State    string `json:"state"`
		Releases []struct {
			Name   string `json:"name"`
			Action string `json:"action"`
		} `json:"releases"`
	} `json:"phases"`
}

// The test starts its own cluster; it runs in a namespace of its own all
// the same, so nothing the script or the cluster sends leaves the machine.
func TestMain(m *testing.M) { testcluster.Isolated(m, nil) }

func TestAddClusterScript(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c, err := testcluster.Start(ctx, testcluster.WithPods(), testcluster.WithIstiodRoute())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("component logs:\n%s", c.Logs(40))
		}
		_ = c.Stop()
	}()

	root, err := testcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := testcluster.Build(t, "meshbundle")
	work := t.TempDir()
	script := func(t *testing.T, outDir string) (string, error) {
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "ci", "examples", "add-cluster.sh"),
			"--kubeconfig", c.Kubeconfig, "--addons-chart", filepath.Join(root, "charts", "meshbundle-addons"))
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "MESHBUNDLE="+bin, "OUT_DIR="+outDir, "TIMEOUT=4m", "BACKOFF=1")
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		err := cmd.Run()
		return log.String(), err
	}

	// 1. Fresh cluster. In a real cluster istiod's pod starts once its chart
	// is installed; here the local istiod starts when the chart's webhook
	// configuration appears, while the script keeps going.
	istiod := make(chan error, 1)
	go func() {
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		for ctx.Err() == nil {
			if err := c.Client.Get(ctx, types.NamespacedName{Name: "istio-validator-istio-system"}, &vwc); err == nil {
				istiod <- c.StartIstiod(ctx)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		istiod <- ctx.Err()
	}()
	first := filepath.Join(work, "first")
	start := time.Now()
	log, err := script(t, first)
	if err != nil {
		t.Fatalf("add-cluster.sh on a fresh cluster: %v\n%s\nistiod: %s", err, log, c.IstiodLog())
	}
	if err := <-istiod; err != nil {
		t.Fatalf("start local istiod: %v", err)
	}
	t.Logf("fresh cluster: installed and ready in %s", time.Since(start).Round(time.Millisecond))
	res := readJSON[result](t, filepath.Join(first, "install.json"))
	if res.Operation != "install" || res.ExitCode != 0 {
		t.Errorf("install.json: operation %q exitCode %d", res.Operation, res.ExitCode)
	}

	// 2. status.json says every release is deployed and ready.
	status := readJSON[installer.StatusReport](t, filepath.Join(first, "status.json"))
	if !status.Installed || len(status.Releases) == 0 {
		t.Errorf("status.json: installed=%v with %d releases", status.Installed, len(status.Releases))
	}
	for _, r := range status.Releases {
		if r.Status != "deployed" {
			t.Errorf("release %s status %q, want deployed", r.Name, r.Status)
		}
		if r.Ready != nil && !*r.Ready {
			t.Errorf("release %s not ready: %s", r.Name, r.Message)
		}
	}

	// 3. The re-run is a no-op: every release unchanged, no phase wrote.
	second := filepath.Join(work, "second")
	if log, err := script(t, second); err != nil {
		t.Fatalf("re-run: %v\n%s", err, log)
	}
	again := readJSON[result](t, filepath.Join(second, "install.json"))
	for _, p := range again.Phases {
		// validate, wait and verify check and report "done"; phases that
		// own releases must write nothing.
		if p.State == string(installer.StateFailed) || len(p.Releases) > 0 && p.State != string(installer.StateUnchanged) {
			t.Errorf("re-run: phase %s %s, want unchanged", p.Phase, p.State)
		}
		for _, r := range p.Releases {
			if r.Action != string(installer.ActionUnchanged) {
				t.Errorf("re-run: release %s %s, want unchanged", r.Name, r.Action)
			}
		}
	}

	// No new Helm revision anywhere.
	after := readJSON[installer.StatusReport](t, filepath.Join(second, "status.json"))
	revisions := func(rep installer.StatusReport) map[string]int {
		m := map[string]int{}
		for _, r := range rep.Releases {
			m[r.Namespace+"/"+r.Name] = r.Revision
		}
		return m
	}
	if b, a := revisions(status), revisions(after); fmt.Sprint(b) != fmt.Sprint(a) {
		t.Errorf("re-run changed release revisions: before %v after %v", b, a)
	}

	// 4. Bad input: exit 2 at once, no retries, nothing changed.
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "ci", "examples", "add-cluster.sh"), "--kubeconfig", c.Kubeconfig, "-f", filepath.Join(work, "missing.yaml"))
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "MESHBUNDLE="+bin, "OUT_DIR="+filepath.Join(work, "bad"))
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 2 || strings.Count(string(out), "attempt ") != 1 {
		t.Errorf("bad input: exit %d (want 2, one attempt)\n%s", code, out)
	}
}

func readJSON[T any](t *testing.T, path string) T {
	t.Helper()
	var v T
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, data)
	}
	return v
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
